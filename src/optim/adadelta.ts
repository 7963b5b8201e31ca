// Adadelta: step sizes from running averages of squared gradients and squared updates
// (Zeiler, 2012); PyTorch's single-tensor update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { zerosLike } from '../functional/creation.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { checkNonNegative, checkRange, definedOptions } from './validate.js';
import { addScaled_, addcmul_, withWeightDecay } from './update_ops.js';

/** Adadelta's options (PyTorch's, in camelCase). Example: `{ lr: 1.0, rho: 0.95 }`. */
export interface AdadeltaOptions {
  /** Scales the update (default 1.0). */
  lr: number;
  /** Decay rate of the running averages (default 0.9). */
  rho: number;
  /** Added inside the square roots for numerical stability (default 1e-6). */
  eps: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** Adadelta's per-parameter state (PyTorch's `step`, `square_avg`, `acc_delta`). Example: `opt.state.get(w)!.accDelta`. */
export interface AdadeltaState {
  step: number;
  squareAvg: Tensor;
  accDelta: Tensor;
}

/**
 * Adadelta: v = rho v + (1 - rho) g^2, delta = sqrt(u + eps) / sqrt(v + eps) * g,
 * u = rho u + (1 - rho) delta^2, p -= lr * delta.
 * Example: `const opt = new fm.optim.Adadelta(params)`.
 */
export class Adadelta extends Optimizer<AdadeltaOptions, AdadeltaState> {
  constructor(params: Params<AdadeltaOptions>, options: Partial<AdadeltaOptions> = {}) {
    super(params, { lr: 1.0, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: AdadeltaOptions, op: string): void {
    super.validateOptions(o, op);
    checkRange(op, 'rho value', o.rho, 0, 1, true);
    checkNonNegative(op, 'epsilon value', o.eps);
    checkNonNegative(op, 'weightDecay value', o.weightDecay);
  }

  protected override updateGroup(g: ParamGroup<AdadeltaOptions>): void {
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, () => ({ step: 0, squareAvg: zerosLike(p), accDelta: zerosLike(p) }));
      s.step += 1;
      let grad = g.maximize ? p.grad.neg() : p.grad;
      if (g.weightDecay !== 0) grad = withWeightDecay(grad, p, g.weightDecay);
      addcmul_(s.squareAvg.mul_(g.rho), grad, grad, 1 - g.rho);
      const std = s.squareAvg.add(g.eps).sqrt_();
      const delta = s.accDelta.add(g.eps).sqrt_().div_(std).mul_(grad);
      addcmul_(s.accDelta.mul_(g.rho), delta, delta, 1 - g.rho);
      addScaled_(p, delta, -g.lr);
    }
  }
}
