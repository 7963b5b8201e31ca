// Adamax: Adam with the infinity norm in place of the second moment; PyTorch's single-tensor
// update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { definedOptions } from './validate.js';
import { checkAdamOptions } from './adam.js';
import { addScaled_, addcdiv_, withWeightDecay } from './update_ops.js';

/** Adamax's options (PyTorch's, in camelCase). Example: `{ lr: 2e-3, betas: [0.9, 0.999] }`. */
export interface AdamaxOptions {
  /** Learning rate (default 2e-3). */
  lr: number;
  /** Decay rates of the first moment and of the infinity norm (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to |g| before the maximum (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** Adamax's per-parameter state (PyTorch's `step`, `exp_avg`, `exp_inf`). Example: `opt.state.get(w)!.expInf`. */
export interface AdamaxState {
  step: number;
  expAvg: Tensor;
  expInf: Tensor;
}

/**
 * Adamax: m = b1 m + (1 - b1) g, u = max(b2 u, |g| + eps), p -= lr / (1 - b1^t) * m / u.
 * Example: `const opt = new fm.optim.Adamax(params, { lr: 2e-3 })`.
 */
export class Adamax extends Optimizer<AdamaxOptions, AdamaxState> {
  constructor(params: Params<AdamaxOptions>, options: Partial<AdamaxOptions> = {}) {
    super(params, { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: AdamaxOptions, op: string): void {
    super.validateOptions(o, op);
    checkAdamOptions(op, o);
  }

  protected override updateGroup(g: ParamGroup<AdamaxOptions>): void {
    const [beta1, beta2] = g.betas;
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({ step: 0, expAvg: zerosLike(p), expInf: zerosLike(p) }));
      let grad = g.maximize ? p.grad.neg() : p.grad;
      s.step += 1;
      if (g.weightDecay !== 0) grad = withWeightDecay(grad, p, g.weightDecay);
      addScaled_(s.expAvg.mul_(beta1), grad, 1 - beta1);
      s.expInf.mul_(beta2).maximum_(grad.abs().add_(g.eps));
      addcdiv_(p, s.expAvg, s.expInf, -g.lr / (1 - beta1 ** s.step));
    }
  }
}
