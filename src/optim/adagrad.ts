// Adagrad: per-coordinate learning rates from the sum of squared gradients; PyTorch's
// single-tensor update step for step.
import type { Tensor } from '../tensor/tensor.js';
import { fullLike } from '../functional/creation.js';
import { Optimizer, type ParamGroup, type ParamGroupInput, type Params } from './optimizer.js';
import { checkNonNegative, definedOptions } from './validate.js';
import { addcmul_, addcdiv_, withWeightDecay } from './update_ops.js';

/** Adagrad's options (PyTorch's, in camelCase). Example: `{ lr: 0.1, lrDecay: 1e-4, initialAccumulatorValue: 0.1 }`. */
export interface AdagradOptions {
  /** Learning rate (default 1e-2). */
  lr: number;
  /** The learning rate decays as lr / (1 + (t - 1) lrDecay) (default 0). */
  lrDecay: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Starting value of the sum of squared gradients (default 0). */
  initialAccumulatorValue: number;
  /** Added to the denominator for numerical stability (default 1e-10). */
  eps: number;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** Adagrad's per-parameter state (PyTorch's `step`, `sum`). Example: `opt.state.get(w)!.sum`. */
export interface AdagradState {
  step: number;
  sum: Tensor;
}

/**
 * Adagrad: s += g^2, p -= lr / (1 + (t - 1) lrDecay) * g / (sqrt(s) + eps). As in PyTorch, the
 * state exists from construction (and from addParamGroup).
 * Example: `const opt = new fm.optim.Adagrad(params, { lr: 0.1 })`.
 */
export class Adagrad extends Optimizer<AdagradOptions, AdagradState> {
  constructor(params: Params<AdagradOptions>, options: Partial<AdagradOptions> = {}) {
    super(params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: AdagradOptions, op: string): void {
    super.validateOptions(o, op);
    checkNonNegative(op, 'lrDecay value', o.lrDecay);
    checkNonNegative(op, 'weightDecay value', o.weightDecay);
    checkNonNegative(op, 'initialAccumulatorValue value', o.initialAccumulatorValue);
    checkNonNegative(op, 'epsilon value', o.eps);
  }

  protected override addGroup(input: ParamGroupInput<AdagradOptions>, op: string): void {
    super.addGroup(input, op);
    const g = this.paramGroups[this.paramGroups.length - 1]!;
    for (const p of g.params) this.initState(p, g);
  }

  private initState(p: Tensor, g: ParamGroup<AdagradOptions>): AdagradState {
    return this.stateFor(p, () => ({ step: 0, sum: fullLike(p, g.initialAccumulatorValue) }));
  }

  protected override updateGroup(g: ParamGroup<AdagradOptions>): void {
    for (const p of g.params) {
      if (p.grad === null) continue;
      const s = this.initState(p, g);
      s.step += 1;
      let grad = g.maximize ? p.grad.neg() : p.grad;
      if (g.weightDecay !== 0) grad = withWeightDecay(grad, p, g.weightDecay);
      const clr = g.lr / (1 + (s.step - 1) * g.lrDecay);
      addcmul_(s.sum, grad, grad, 1);
      const std = s.sum.sqrt().add_(g.eps);
      addcdiv_(p, grad, std, -clr);
    }
  }
}
