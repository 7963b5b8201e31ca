// L-BFGS (PyTorch's LBFGS, after minFunc): quasi-Newton steps from a limited history of
// updates, with an optional strong Wolfe line search. It reads scalars to JS (dot products,
// the loss) because its control flow depends on them.
import { Tensor } from '../tensor/tensor.js';
import { ValueError } from '../errors.js';
import { enableGrad, noGrad } from '../autograd/grad_mode.js';
import { scope } from '../tensor/scope.js';
import { zeros } from '../functional/creation.js';
import { cat } from '../functional/shape.js';
import { Optimizer, type ParamGroupInput, type Params } from './optimizer.js';
import { keepTensors } from './state_dict.js';
import { checkInteger, checkNonNegative, checkOneOf, definedOptions, describe, restack } from './validate.js';
import { strongWolfe } from './line_search.js';
import { addScaled_ } from './update_ops.js';

/** LBFGS's options (PyTorch's, in camelCase). Example: `{ lr: 1, maxIter: 50, lineSearchFn: 'strong_wolfe' }`. */
export interface LBFGSOptions {
  /** Step size, the initial one of the line search (default 1). */
  lr: number;
  /** Iterations per step() (default 20). */
  maxIter: number;
  /** Loss evaluations per step() (default maxIter * 5 / 4, rounded down). */
  maxEval: number;
  /** Stop when the largest gradient entry is at most this (default 1e-7). */
  toleranceGrad: number;
  /** Stop when the step or the loss change is below this (default 1e-9). */
  toleranceChange: number;
  /** How many past updates approximate the inverse Hessian (default 100). */
  historySize: number;
  /** null: a fixed step of lr; 'strong_wolfe': a line search (default null). */
  lineSearchFn: 'strong_wolfe' | null;
}

/** LBFGS's state, kept on its first parameter as in PyTorch (`func_evals`, `n_iter`, `d`, `t`, `old_dirs`, ...). Example: `opt.state.get(x)!.funcEvals`. */
export interface LBFGSState {
  funcEvals: number;
  nIter: number;
  d?: Tensor;
  t?: number;
  oldDirs?: Tensor[];
  oldStps?: Tensor[];
  ro?: number[];
  hDiag?: number;
  prevFlatGrad?: Tensor;
  prevLoss?: number;
  al?: (number | null)[];
}

/** A JS number from a loss (a one-element tensor or a number), or from a loaded 0-dim state tensor. */
function num(v: unknown, op = 'LBFGS.step'): number {
  if (typeof v === 'number') return v;
  if (v instanceof Tensor) return v.item();
  throw new ValueError(op, `the closure must return the loss as a Tensor or a number, got ${describe(v)}`);
}

/** The largest absolute entry of t. */
function maxAbs(t: Tensor): number {
  return scope(() => t.abs().max().item());
}

/**
 * L-BFGS. Its step needs a closure that re-evaluates the model: it zeroes the gradients,
 * computes the loss, calls backward and returns the loss. It supports one parameter group only.
 * Example: `const opt = new fm.optim.LBFGS([x], { lineSearchFn: 'strong_wolfe' }); opt.step(() => { opt.zeroGrad(); const l = f(x); l.backward(); return l; })`.
 */
export class LBFGS extends Optimizer<LBFGSOptions, LBFGSState> {
  constructor(params: Params<LBFGSOptions>, options: Partial<Omit<LBFGSOptions, 'maxEval'>> & { maxEval?: number | null } = {}) {
    const o = definedOptions(options);
    const maxIter = o.maxIter ?? 20;
    super(params, { lr: 1, maxIter, toleranceGrad: 1e-7, toleranceChange: 1e-9, historySize: 100, lineSearchFn: null, ...o, maxEval: o.maxEval ?? Math.floor((maxIter * 5) / 4) });
  }

  protected override validateOptions(o: LBFGSOptions, op: string): void {
    super.validateOptions(o, op);
    checkInteger(op, 'maxIter', o.maxIter, 1);
    checkInteger(op, 'maxEval', o.maxEval, 1);
    checkInteger(op, 'historySize', o.historySize, 1);
    checkNonNegative(op, 'toleranceGrad value', o.toleranceGrad);
    checkNonNegative(op, 'toleranceChange value', o.toleranceChange);
    checkOneOf(op, 'lineSearchFn', o.lineSearchFn, [null, 'strong_wolfe']);
  }

  protected override addGroup(input: ParamGroupInput<LBFGSOptions>, op: string): void {
    if (this.paramGroups.length > 0) throw new ValueError(op, "LBFGS doesn't support per-parameter options (parameter groups): it optimizes one group");
    super.addGroup(input, op);
  }

  /** Unused: LBFGS overrides step, which needs the closure. */
  protected override updateGroup(): void {}

  private get params(): Tensor[] {
    return this.paramGroups[0]!.params;
  }

  /** The gradients of all parameters as one flat vector (zeros for a parameter without one). */
  private gatherFlatGrad(): Tensor {
    return scope(() => cat(this.params.map((p) => (p.grad === null ? zeros([p.numel()], { dtype: p.dtype, device: p.device }) : p.grad.reshape([-1]))), 0));
  }

  /** p += t * d for the parameters' slices of the flat vector d. */
  private addGrad(t: number, d: Tensor): void {
    scope(() => {
      let offset = 0;
      for (const p of this.params) {
        const n = p.numel();
        addScaled_(p, d.narrow(0, offset, n).reshape(p.shape), t);
        offset += n;
      }
    });
  }

  /** Calls the closure with grad enabled; checks the gradients it left. */
  private evaluate<L>(closure: () => L): L {
    const loss = enableGrad(closure);
    this.checkGrads('LBFGS.step');
    return loss;
  }

  /** The loss and flat gradient at x + t d; the parameters go back to x. */
  private directionalEvaluate(closure: () => unknown, x: Tensor[], t: number, d: Tensor): { loss: number; grad: Tensor } {
    this.addGrad(t, d);
    const loss = num(this.evaluate(closure));
    const grad = this.gatherFlatGrad();
    this.params.forEach((p, i) => p.copy_(x[i]!));
    return { loss, grad };
  }

  /**
   * Runs up to maxIter L-BFGS iterations; returns the closure's first loss. The closure is
   * required: it is called with grad enabled, several times.
   * Example: `opt.step(closure)`.
   */
  override step<L = Tensor>(closure?: () => L): L | undefined {
    if (typeof closure !== 'function') throw new ValueError('LBFGS.step', 'LBFGS needs a closure that zeroes the gradients, computes the loss, calls backward and returns the loss');
    try {
      return noGrad(() => this.run(closure));
    } catch (e) {
      throw restack(e);
    }
  }

  private run<L>(closure: () => L): L {
    const g = this.paramGroups[0]!;
    const { lr, maxIter, maxEval, toleranceGrad, toleranceChange, lineSearchFn, historySize } = g;
    const params = this.params;
    // NOTE: LBFGS's state is global; PyTorch keeps it on the first parameter, and so do we.
    const state = this.stateFor(params[0]!, () => ({ funcEvals: 0, nIter: 0 }));

    const origLoss = this.evaluate(closure);
    let loss = num(origLoss);
    let currentEvals = 1;
    state.funcEvals += 1;
    let flatGrad = this.gatherFlatGrad();
    let optCond = maxAbs(flatGrad) <= toleranceGrad;
    if (optCond) return origLoss;

    let { d, t, oldDirs = [], oldStps = [], prevFlatGrad, prevLoss } = state;
    let ro = (state.ro ?? []).map((v) => num(v));
    let hDiag = state.hDiag === undefined ? 1 : num(state.hDiag);
    let nIter = 0;
    while (nIter < maxIter) {
      nIter += 1;
      state.nIter += 1;

      // The descent direction: -g first, then the two-loop recursion over the history.
      if (state.nIter === 1) {
        d = scope(() => flatGrad.neg());
        [oldDirs, oldStps, ro, hDiag] = [[], [], [], 1];
      } else {
        const [prevD, prevT, prevG] = [d!, num(t), prevFlatGrad!];
        d = scope(() => {
          const y = flatGrad.sub(prevG);
          const s = prevD.mul(prevT);
          const ys = y.dot(s).item();
          if (ys > 1e-10) {
            if (oldDirs.length === historySize) {
              oldDirs.shift();
              oldStps.shift();
              ro.shift();
            }
            oldDirs.push(keepTensors(y));
            oldStps.push(keepTensors(s));
            ro.push(1 / ys);
            hDiag = ys / y.dot(y).item();
          }
          const al = (state.al ??= new Array<number | null>(historySize).fill(null));
          const q = flatGrad.neg();
          for (let i = oldDirs.length - 1; i >= 0; i--) {
            al[i] = oldStps[i]!.dot(q).item() * ro[i]!;
            addScaled_(q, oldDirs[i]!, -al[i]!);
          }
          // Multiplied by the initial inverse Hessian (a scale), then the second loop.
          const r = q.mul(hDiag);
          for (let i = 0; i < oldDirs.length; i++) {
            const beI = oldDirs[i]!.dot(r).item() * ro[i]!;
            addScaled_(r, oldStps[i]!, al[i]! - beI);
          }
          return r;
        });
      }
      if (prevFlatGrad === undefined) prevFlatGrad = flatGrad.clone();
      else prevFlatGrad.copy_(flatGrad);
      prevLoss = loss;

      // The step length: lr, and at first also at most 1 / |g|_1.
      if (state.nIter === 1) {
        const inv = 1 / scope(() => flatGrad.abs().sum().item());
        t = (inv < 1 ? inv : 1) * lr;
      } else {
        t = lr;
      }
      const gtd = scope(() => flatGrad.dot(d!).item());
      if (gtd > -toleranceChange) break; // the directional derivative is below tolerance

      let lsFuncEvals = 0;
      if (lineSearchFn !== null) {
        const xInit = params.map((p) => p.clone());
        const found = strongWolfe((tt, dd) => this.directionalEvaluate(closure, xInit, tt, dd), t, d, loss, flatGrad, gtd);
        ({ loss, grad: flatGrad, t, evals: lsFuncEvals } = found);
        this.addGrad(t, d);
        optCond = maxAbs(flatGrad) <= toleranceGrad;
      } else {
        this.addGrad(t, d);
        if (nIter !== maxIter) {
          // Re-evaluated except after the last iteration: in a stochastic setting it would be wasted.
          loss = num(this.evaluate(closure));
          flatGrad = this.gatherFlatGrad();
          optCond = maxAbs(flatGrad) <= toleranceGrad;
          lsFuncEvals = 1;
        }
      }
      currentEvals += lsFuncEvals;
      state.funcEvals += lsFuncEvals;

      if (nIter === maxIter) break;
      if (currentEvals >= maxEval) break;
      if (optCond) break;
      const stepT = t;
      if (scope(() => d!.mul(stepT).abs().max().item()) <= toleranceChange) break; // lack of progress
      if (Math.abs(loss - prevLoss) < toleranceChange) break;
    }
    Object.assign(state, keepTensors({ d, t, oldDirs, oldStps, ro, hDiag, prevFlatGrad, prevLoss }));
    return origLoss;
  }
}
