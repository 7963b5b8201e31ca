// NAdam: Adam with Nesterov momentum and a momentum schedule (Dozat, 2016); PyTorch 2's
// single-tensor update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { checkAdamOptions } from './adam.js';
import { checkNonNegative, definedOptions } from './validate.js';
import { addScaled_, addcmul_, addcdiv_, withWeightDecay } from './update_ops.js';

/** NAdam's options (PyTorch 2's, in camelCase). Example: `{ lr: 2e-3, momentumDecay: 4e-3 }`. */
export interface NAdamOptions {
  /** Learning rate (default 2e-3). */
  lr: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** Weight decay (default 0): an L2 term in the gradient, or decoupled as in AdamW. */
  weightDecay: number;
  /** Momentum decay psi of the schedule mu_t = b1 (1 - 0.5 * 0.96^(t psi)) (default 4e-3). */
  momentumDecay: number;
  /** Apply weight decay to the parameters directly, as AdamW does (default false). */
  decoupledWeightDecay: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** NAdam's per-parameter state (PyTorch's `step`, `mu_product`, `exp_avg`, `exp_avg_sq`). Example: `opt.state.get(w)!.muProduct`. */
export interface NAdamState {
  step: number;
  /** The product of the momentum schedule so far (a number: it never needs the device). */
  muProduct: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * NAdam: Adam whose step mixes the gradient and the momentum with the scheduled factors mu_t, mu_{t+1}.
 * NOTE: as PyTorch 2 (the fix of pytorch#92699): the product for the momentum term is
 * mu_1 ... mu_{t+1}; PyTorch 1.13 multiplied mu_t in twice.
 * Example: `const opt = new fm.optim.NAdam(params, { lr: 2e-3 })`.
 */
export class NAdam extends Optimizer<NAdamOptions, NAdamState> {
  constructor(params: Params<NAdamOptions>, options: Partial<NAdamOptions> = {}) {
    super(params, { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentumDecay: 4e-3, decoupledWeightDecay: false, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: NAdamOptions, op: string): void {
    super.validateOptions(o, op);
    checkAdamOptions(op, o);
    checkNonNegative(op, 'momentumDecay value', o.momentumDecay);
  }

  protected override updateGroup(g: ParamGroup<NAdamOptions>): void {
    const [beta1, beta2] = g.betas;
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({ step: 0, muProduct: 1, expAvg: zerosLike(p), expAvgSq: zerosLike(p) }));
      let grad = g.maximize ? p.grad.neg() : p.grad;
      const step = (s.step += 1);
      const bc2 = 1 - beta2 ** step;
      if (g.weightDecay !== 0) {
        if (g.decoupledWeightDecay) p.mul_(1 - g.lr * g.weightDecay);
        else grad = withWeightDecay(grad, p, g.weightDecay);
      }
      const mu = beta1 * (1 - 0.5 * 0.96 ** (step * g.momentumDecay));
      const muNext = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * g.momentumDecay));
      s.muProduct *= mu;
      addScaled_(s.expAvg.mul_(beta1), grad, 1 - beta1);
      addcmul_(s.expAvgSq.mul_(beta2), grad, grad, 1 - beta2);
      const denom = s.expAvgSq.div(bc2).sqrt_().add_(g.eps);
      const muProductNext = s.muProduct * muNext;
      addcdiv_(p, grad, denom, (-g.lr * (1 - mu)) / (1 - s.muProduct));
      addcdiv_(p, s.expAvg, denom, (-g.lr * muNext) / (1 - muProductNext));
    }
  }
}
