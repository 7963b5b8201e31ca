// Adam (and the update AdamW shares): moment estimates with bias correction, optional AMSGrad,
// weight decay, maximize; PyTorch's single-tensor update step for step (one fused kernel where the
// backend has it: optim/fused.ts).
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { keep } from '../tensor/scope.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { checkBetas, checkNonNegative, definedOptions } from './validate.js';
import { addScaled_, addcmul_, addcdiv_, withWeightDecay } from './update_ops.js';
import { fusedAdamStep } from './fused.js';

/** Adam's and AdamW's options (PyTorch's, in camelCase). Example: `{ lr: 3e-4, betas: [0.9, 0.95], amsgrad: true }`. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** Weight decay: an L2 penalty added to the gradient in Adam, decoupled in AdamW (default 0; AdamW 1e-2). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad, default false). */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** Adam's per-parameter state (PyTorch's `step`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`). Example: `opt.state.get(w)!.expAvg`. */
export interface AdamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq?: Tensor;
}

/** Checks the options Adam-like optimizers share: eps, betas, weightDecay. Example: `checkAdamOptions('Adam', options)`. */
export function checkAdamOptions(op: string, o: { lr: number; eps: number; betas: [number, number]; weightDecay: number }): void {
  checkNonNegative(op, 'epsilon value', o.eps);
  checkBetas(op, o.betas);
  checkNonNegative(op, 'weightDecay value', o.weightDecay);
}

/**
 * Adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps).
 * Example: `const opt = new fm.optim.Adam(params, { lr: 3e-4 })`.
 */
export class Adam extends Optimizer<AdamOptions, AdamState> {
  /** True in AdamW: weight decay shrinks the parameters directly instead of adding to the gradient. */
  protected readonly decoupledWeightDecay: boolean = false;

  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: AdamOptions, op: string): void {
    super.validateOptions(o, op);
    checkAdamOptions(op, o);
  }

  protected override updateGroup(g: ParamGroup<AdamOptions>): void {
    const [beta1, beta2] = g.betas;
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({ step: 0, expAvg: zerosLike(p), expAvgSq: zerosLike(p), ...(g.amsgrad ? { maxExpAvgSq: zerosLike(p) } : {}) }));
      s.step += 1;
      const stepSize = g.lr / (1 - beta1 ** s.step);
      const bc2Sqrt = Math.sqrt(1 - beta2 ** s.step);
      // A state loaded from a run without amsgrad has no maximum yet: it starts at 0, as on a first step.
      if (g.amsgrad) s.maxExpAvgSq ??= keep(zerosLike(p));
      const h = { lr: g.lr, beta1, beta2, eps: g.eps, weightDecay: g.weightDecay, decoupled: this.decoupledWeightDecay, maximize: g.maximize, amsgrad: g.amsgrad, stepSize, bc2Sqrt };
      if (fusedAdamStep(p, p.grad, s.expAvg, s.expAvgSq, g.amsgrad ? s.maxExpAvgSq! : null, h)) continue;
      let grad = g.maximize ? p.grad.neg() : p.grad;
      if (this.decoupledWeightDecay) p.mul_(1 - g.lr * g.weightDecay);
      else if (g.weightDecay !== 0) grad = withWeightDecay(grad, p, g.weightDecay);
      addScaled_(s.expAvg.mul_(beta1), grad, 1 - beta1);
      addcmul_(s.expAvgSq.mul_(beta2), grad, grad, 1 - beta2);
      let second = s.expAvgSq;
      if (g.amsgrad) second = s.maxExpAvgSq!.maximum_(second);
      const denom = second.sqrt().div_(bc2Sqrt).add_(g.eps);
      addcdiv_(p, s.expAvg, denom, -stepSize);
    }
  }
}
