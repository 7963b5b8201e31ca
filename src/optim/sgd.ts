// Stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay and
// maximize: PyTorch's SGD, its single-tensor update step for step (one fused kernel where the
// backend has it: optim/fused.ts).
import type { Tensor } from '../tensor/tensor.js';
import { ValueError } from '../errors.js';
import { keep } from '../tensor/scope.js';
import { Optimizer, type ParamGroup, type Params } from './optimizer.js';
import { checkNonNegative, definedOptions } from './validate.js';
import { addScaled_, withWeightDecay } from './update_ops.js';
import { fusedSgdStep } from './fused.js';
import { zerosLike } from '../functional/creation.js';

/** SGD's options (PyTorch's, in camelCase). Example: `{ lr: 0.1, momentum: 0.9, nesterov: true }`. */
export interface SGDOptions {
  /** Learning rate (default 1e-3, as in PyTorch 2). */
  lr: number;
  /** Momentum factor (default 0). */
  momentum: number;
  /** Dampening of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0 (default false). */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing it (default false). */
  maximize: boolean;
}

/** SGD's per-parameter state: the momentum buffer (only when momentum is nonzero). Example: `opt.state.get(w)?.momentumBuffer`. */
export interface SGDState {
  momentumBuffer?: Tensor;
}

/**
 * Stochastic gradient descent, optionally with (Nesterov) momentum: with b the momentum buffer,
 * b = momentum * b + (1 - dampening) * g (b = g on the first step), then p -= lr * b
 * (or lr * (g + momentum * b) with nesterov).
 * Example: `const opt = new fm.optim.SGD(params, { lr: 0.1, momentum: 0.9 })`.
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super(params, { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...definedOptions(options) });
  }

  protected override validateOptions(o: SGDOptions, op: string): void {
    super.validateOptions(o, op);
    checkNonNegative(op, 'momentum value', o.momentum);
    checkNonNegative(op, 'weightDecay value', o.weightDecay);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new ValueError(op, `Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ${o.momentum}, dampening ${o.dampening})`);
    }
  }

  protected override updateGroup(g: ParamGroup<SGDOptions>): void {
    for (const p of g.params) {
      if (p.grad === null) continue;
      if (this.fusedStep(p, p.grad, g)) continue;
      let d = g.maximize ? p.grad.neg() : p.grad;
      if (g.weightDecay !== 0) d = withWeightDecay(d, p, g.weightDecay);
      if (g.momentum !== 0) {
        // As in PyTorch 2, only momentum makes state: the buffer, a copy of the first gradient.
        const state = this.stateFor(p, () => ({}));
        let buf = state.momentumBuffer;
        if (buf === undefined) {
          buf = state.momentumBuffer = keep(d.clone());
        } else {
          addScaled_(buf.mul_(g.momentum), d, 1 - g.dampening);
        }
        d = g.nesterov ? buf.mul(g.momentum).add_(d) : buf;
      }
      addScaled_(p, d, -g.lr);
    }
  }

  /** The step through the fused kernel (optim/fused.ts) where it can run: the same numbers in one pass. */
  private fusedStep(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>): boolean {
    const state = g.momentum !== 0 ? this.stateFor(p, () => ({})) : null;
    const first = state !== null && state.momentumBuffer === undefined;
    const buf = state === null ? null : (state.momentumBuffer ?? keep(zerosLike(p)));
    const h = { lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weightDecay, nesterov: g.nesterov, maximize: g.maximize, first };
    if (!fusedSgdStep(p, grad, buf, h)) return false;
    if (state) state.momentumBuffer = buf!;
    return true;
  }
}
