// RMSprop: gradients scaled by a running root mean square, optionally centered and with
// momentum; PyTorch's single-tensor update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { keep } from '../tensor/scope.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { checkNonNegative, definedOptions } from './validate.js';
import { addScaled_, addcmul_, addcdiv_, withWeightDecay } from './update_ops.js';

/** RMSprop's options (PyTorch's, in camelCase). Example: `{ lr: 1e-3, alpha: 0.9, centered: true }`. */
export interface RMSpropOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** Smoothing constant of the running average of g^2 (default 0.99). */
  alpha: number;
  /** Added to the denominator for numerical stability (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Normalize by an estimate of the variance (E[g^2] - E[g]^2) instead of E[g^2] (default false). */
  centered: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** RMSprop's per-parameter state (PyTorch's `step`, `square_avg`, `momentum_buffer`, `grad_avg`). Example: `opt.state.get(w)!.squareAvg`. */
export interface RMSpropState {
  step: number;
  squareAvg: Tensor;
  momentumBuffer?: Tensor;
  gradAvg?: Tensor;
}

/**
 * RMSprop: v = alpha v + (1 - alpha) g^2, p -= lr * g / (sqrt(v) + eps); centered subtracts the
 * squared running mean of g from v; momentum accumulates g / (sqrt(v) + eps) in a buffer.
 * Example: `const opt = new fm.optim.RMSprop(params, { lr: 1e-2, momentum: 0.9 })`.
 */
export class RMSprop extends Optimizer<RMSpropOptions, RMSpropState> {
  constructor(params: Params<RMSpropOptions>, options: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: RMSpropOptions, op: string): void {
    super.validateOptions(o, op);
    checkNonNegative(op, 'epsilon value', o.eps);
    checkNonNegative(op, 'momentum value', o.momentum);
    checkNonNegative(op, 'weightDecay value', o.weightDecay);
    checkNonNegative(op, 'alpha value', o.alpha);
  }

  protected override updateGroup(g: ParamGroup<RMSpropOptions>): void {
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({
        step: 0,
        squareAvg: zerosLike(p),
        ...(g.momentum > 0 ? { momentumBuffer: zerosLike(p) } : {}),
        ...(g.centered ? { gradAvg: zerosLike(p) } : {}),
      }));
      s.step += 1;
      let grad = g.maximize ? p.grad.neg() : p.grad;
      if (g.weightDecay !== 0) grad = withWeightDecay(grad, p, g.weightDecay);
      addcmul_(s.squareAvg.mul_(g.alpha), grad, grad, 1 - g.alpha);
      let avg: Tensor;
      if (g.centered) {
        const gradAvg = (s.gradAvg ??= keep(zerosLike(p)));
        addScaled_(gradAvg.mul_(g.alpha), grad, 1 - g.alpha);
        // v - E[g]^2, as PyTorch's square_avg.addcmul(grad_avg, grad_avg, value=-1)
        avg = gradAvg.mul(gradAvg).neg_().add_(s.squareAvg).sqrt_();
      } else {
        avg = s.squareAvg.sqrt();
      }
      avg.add_(g.eps);
      if (g.momentum > 0) {
        const buf = (s.momentumBuffer ??= keep(zerosLike(p)));
        addcdiv_(buf.mul_(g.momentum), grad, avg);
        addScaled_(p, buf, -g.lr);
      } else {
        addcdiv_(p, grad, avg, -g.lr);
      }
    }
  }
}
