// Reductions over any dims (sum, mean, prod, max/min, var/std, norm, logsumexp, all/any), scans,
// and softmax / logSoftmax (one registry entry, fused where the backend can).
import type { Tensor } from '../tensor/tensor.js';
import { isFloating, type DType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import { applyOp } from '../ops/dispatch.js';
import type { ReduceAttrs } from '../ops/prims/reduce.js';
import { normDim, normDims } from '../tensor/shape.js';
import { noGrad } from '../autograd/grad_mode.js';
import { reshape, squeeze } from './shape.js';
import { where } from './math.js';
import { softmaxComposite } from '../ops/prims/softmax.js';
import { autocastFloat32OnCuda } from '../amp/autocast.js';

/** Dims to reduce: one, several, or all (omitted / null). */
export type Dims = number | readonly number[] | null | undefined;
/** `keepdim` keeps reduced dims as size 1 (default false). */
export interface ReduceOptions {
  keepdim?: boolean;
}

function attrs(op: string, x: Tensor, dim: Dims, opts?: ReduceOptions): ReduceAttrs {
  return { dims: normDims(op, dim, x.ndim), keepdim: opts?.keepdim ?? false };
}

/** Sum over dims (all by default); ints and bools sum to int64. Example: `x.sum(1, { keepdim: true })`. */
export function sum(x: Tensor, dim?: Dims, opts?: ReduceOptions & { dtype?: DType }): Tensor {
  const src = opts?.dtype && opts.dtype !== x.dtype ? x.to(opts.dtype) : x;
  return applyOp('sum', [src], attrs('sum', x, dim, opts));
}

/** Mean over dims (float tensors). Example: `x.mean()`. */
export function mean(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  if (!isFloating(x.dtype)) throw new DTypeError('mean', `could not infer output dtype: input dtype must be floating point, got ${x.dtype}`);
  const a = attrs('mean', x, dim, opts);
  const n = a.dims.reduce((p, d) => p * x.shape[d]!, 1);
  return applyOp('sum', [x], a).div(n);
}

/** Product over dims. Example: `x.prod(0)`. */
export function prod(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  return applyOp('prod', [x], attrs('prod', x, dim, opts));
}

/** The largest values over dims; ties share the gradient. Example: `x.amax(-1)`. */
export function amax(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  return applyOp('amax', [x], attrs('amax', x, dim, opts));
}
/** The smallest values over dims. */
export function amin(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  return applyOp('amin', [x], attrs('amin', x, dim, opts));
}

function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim?: number | null, opts?: ReduceOptions): Tensor {
  if (dim === undefined || dim === null) {
    const flat = reshape(x, [-1]);
    const r = applyOp(op, [flat], { dims: [0], keepdim: false });
    return opts?.keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  return applyOp(op, [x], { dims: normDims(op, dim, x.ndim), keepdim: opts?.keepdim ?? false });
}
/** Index of the largest value (over the flattened tensor, or along dim). Example: `logits.argmax(1)`. */
export function argmax(x: Tensor, dim?: number | null, opts?: ReduceOptions): Tensor {
  return argReduce('argmax', x, dim, opts);
}
/** Index of the smallest value. */
export function argmin(x: Tensor, dim?: number | null, opts?: ReduceOptions): Tensor {
  return argReduce('argmin', x, dim, opts);
}

/** Values and their indices along a dim, as returned by max/min/sort/topk with a dim. */
export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

function extremeAlong(op: 'argmax' | 'argmin', x: Tensor, dim: number, opts?: ReduceOptions): ValuesIndices {
  const d = normDim(op === 'argmax' ? 'max' : 'min', dim, x.ndim);
  const idx = applyOp(op, [x], { dims: x.ndim === 0 ? [] : [d], keepdim: true });
  // The value is gathered at the index, so its gradient flows to that element only (PyTorch).
  const values = x.ndim === 0 ? x.clone() : x.gather(d, idx);
  return opts?.keepdim || x.ndim === 0 ? { values, indices: idx } : { values: squeeze(values, d), indices: squeeze(idx, d) };
}

/** The maximum of all elements, or `{ values, indices }` along `dim`. Example: `const { values, indices } = x.max(1)`. */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, opts?: ReduceOptions): ValuesIndices;
export function max(x: Tensor, dim?: number, opts?: ReduceOptions): Tensor | ValuesIndices {
  return dim === undefined ? amax(x) : extremeAlong('argmax', x, dim, opts);
}
/** The minimum of all elements, or `{ values, indices }` along `dim`. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, opts?: ReduceOptions): ValuesIndices;
export function min(x: Tensor, dim?: number, opts?: ReduceOptions): Tensor | ValuesIndices {
  return dim === undefined ? amin(x) : extremeAlong('argmin', x, dim, opts);
}

/** Options of var/std: `correction` is subtracted from N in the divisor (1: unbiased, the default). */
export interface VarOptions extends ReduceOptions {
  correction?: number;
}
/** Variance over dims. Example: `x.var(0, { correction: 0 })`. */
export function variance(x: Tensor, dim?: Dims, opts?: VarOptions): Tensor {
  const a = attrs('var', x, dim, opts);
  const n = a.dims.reduce((p, d) => p * x.shape[d]!, 1);
  const mu = mean(x, a.dims, { keepdim: true });
  const sq = x.sub(mu).square();
  return applyOp('sum', [sq], a).div(Math.max(0, n - (opts?.correction ?? 1)));
}
/**
 * Standard deviation over dims. Example: `x.std()`.
 * NOTE: the 2-norm of the deviations, not sqrt(var): its gradient is 0 (not NaN) where std is 0.
 */
export function std(x: Tensor, dim?: Dims, opts?: VarOptions): Tensor {
  const a = attrs('std', x, dim, opts);
  const n = a.dims.reduce((p, d) => p * x.shape[d]!, 1);
  const dev = x.sub(mean(x, a.dims, { keepdim: true }));
  return applyOp('norm', [dev], { ...a, p: 2 }).div(Math.sqrt(Math.max(0, n - (opts?.correction ?? 1))));
}

/** The vector p-norm over dims (p = 2 by default; Infinity, -Infinity, 0, 1 and any p > 0). Example: `x.norm()`. */
export function norm(x: Tensor, p = 2, dim?: Dims, opts?: ReduceOptions): Tensor {
  if (!isFloating(x.dtype)) throw new DTypeError('norm', `expected a floating point tensor, got ${x.dtype}`);
  return applyOp('norm', [x], { ...attrs('norm', x, dim, opts), p });
}

/**
 * log(sum(exp(x))) over dims, computed stably.
 * NOTE: the max is subtracted first; it is detached because the result does not depend on it.
 * Example: `x.logsumexp(-1)`.
 */
export function logsumexp(x: Tensor, dim: Dims, opts?: ReduceOptions): Tensor {
  const a = attrs('logsumexp', x, dim, opts);
  if (a.dims.some((d) => x.shape[d] === 0)) return applyOp('sum', [x.exp()], a).log(); // log(0) = -inf
  const m = noGrad(() => {
    const mx = amax(x, a.dims, { keepdim: true });
    return where(mx.isinf(), 0, mx);
  });
  const s = applyOp('sum', [x.sub(m).exp()], { dims: a.dims, keepdim: true }).log().add(m);
  return a.keepdim ? s : squeeze(s, a.dims);
}

/** Cumulative sum along dim. Example: `x.cumsum(0)`. */
export function cumsum(x: Tensor, dim: number): Tensor {
  return scan('cumsum', x, dim);
}
/** Cumulative product along dim. */
export function cumprod(x: Tensor, dim: number): Tensor {
  return scan('cumprod', x, dim);
}
function scan(op: 'cumsum' | 'cumprod', x: Tensor, dim: number): Tensor {
  const d = normDim(op, dim, x.ndim);
  // A 0-dim tensor scans as one element.
  return x.ndim === 0 ? reshape(applyOp(op, [reshape(x, [1])], 0), []) : applyOp(op, [x], d);
}

/** True where every element is nonzero (over dims). Example: `x.gt(0).all()`. */
export function all(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  return applyOp('all', [x], attrs('all', x, dim, opts));
}
/** True where any element is nonzero (over dims). */
export function any(x: Tensor, dim?: Dims, opts?: ReduceOptions): Tensor {
  return applyOp('any', [x], attrs('any', x, dim, opts));
}

/**
 * exp(x) / sum(exp(x)) along dim, computed stably: one fused kernel on float tensors where the
 * backend has it. Example: `fm.softmax(logits, -1)`.
 */
export function softmax(x: Tensor, dim: number): Tensor {
  [x] = autocastFloat32OnCuda(x);
  const d = normDim('softmax', dim, x.ndim);
  return isFloating(x.dtype) && x.ndim > 0 ? applyOp('softmax', [x], { dim: d, log: false }) : softmaxComposite(x, d, false);
}
/** log(softmax(x)) along dim, computed stably (fused as softmax). Example: `fm.logSoftmax(logits, 1)`. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  [x] = autocastFloat32OnCuda(x);
  const d = normDim('logSoftmax', dim, x.ndim);
  return isFloating(x.dtype) && x.ndim > 0 ? applyOp('softmax', [x], { dim: d, log: true }) : softmaxComposite(x, d, true);
}
