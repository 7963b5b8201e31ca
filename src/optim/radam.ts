// RAdam: Adam with the variance of the adaptive learning rate rectified (Liu et al., 2019);
// PyTorch 2's single-tensor update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { div } from '../functional/math.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { definedOptions } from './validate.js';
import { checkAdamOptions } from './adam.js';
import { addScaled_, addcmul_, withWeightDecay } from './update_ops.js';

/** RAdam's options (PyTorch 2's, in camelCase). Example: `{ lr: 1e-3, weightDecay: 0.01, decoupledWeightDecay: true }`. */
export interface RAdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** Weight decay (default 0): an L2 term in the gradient, or decoupled as in AdamW. */
  weightDecay: number;
  /** Apply weight decay to the parameters directly, as AdamW does (default false). */
  decoupledWeightDecay: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** RAdam's per-parameter state (PyTorch's `step`, `exp_avg`, `exp_avg_sq`). Example: `opt.state.get(w)!.step`. */
export interface RAdamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * RAdam: while the approximated SMA length rho_t is at most 5, a plain momentum step
 * p -= lr * m / (1 - b1^t); afterwards Adam's step scaled by the rectification term.
 * Example: `const opt = new fm.optim.RAdam(params, { lr: 1e-3 })`.
 */
export class RAdam extends Optimizer<RAdamOptions, RAdamState> {
  constructor(params: Params<RAdamOptions>, options: Partial<RAdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: RAdamOptions, op: string): void {
    super.validateOptions(o, op);
    checkAdamOptions(op, o);
  }

  protected override updateGroup(g: ParamGroup<RAdamOptions>): void {
    const [beta1, beta2] = g.betas;
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({ step: 0, expAvg: zerosLike(p), expAvgSq: zerosLike(p) }));
      let grad = g.maximize ? p.grad.neg() : p.grad;
      const step = (s.step += 1);
      const bc1 = 1 - beta1 ** step;
      const bc2 = 1 - beta2 ** step;
      if (g.weightDecay !== 0) {
        if (g.decoupledWeightDecay) p.mul_(1 - g.lr * g.weightDecay);
        else grad = withWeightDecay(grad, p, g.weightDecay);
      }
      addScaled_(s.expAvg.mul_(beta1), grad, 1 - beta1);
      addcmul_(s.expAvgSq.mul_(beta2), grad, grad, 1 - beta2);
      const corrected = s.expAvg.div(bc1);
      // The maximum length of the approximated SMA, and its length at this step.
      const rhoInf = 2 / (1 - beta2) - 1;
      const rhoT = rhoInf - (2 * step * beta2 ** step) / bc2;
      if (rhoT > 5) {
        const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
        const adaptiveLr = div(Math.sqrt(bc2), s.expAvgSq.sqrt().add_(g.eps));
        p.sub_(corrected.mul(g.lr).mul_(adaptiveLr).mul_(rect));
      } else {
        p.sub_(corrected.mul(g.lr));
      }
    }
  }
}
