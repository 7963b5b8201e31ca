// Indexing: PyTorch's basic indexing as views (integers, slices with step, new axes, ellipsis),
// advanced indexing with integer and bool tensors, and the gather/scatter family built on them.
import { Tensor } from '../tensor/tensor.js';
import { DTypeError, IndexError, ShapeError, ValueError, asOpError } from '../errors.js';
import { isFloating } from '../dtype.js';
import { applyOp } from '../ops/dispatch.js';
import { broadcastShapes, fmtShape, normDim, sameShape } from '../tensor/shape.js';
import { fromValues, tensor, full, scalarTensor } from './creation.js';
import { asTensors, where, type TensorLike } from './math.js';
import { expand, permute, reshape, select, unsqueeze, narrow, contiguous, flatten } from './shape.js';

/** A slice `start:stop:step` of one dim; omitted parts take their defaults. */
export class Slice {
  constructor(
    readonly start: number | null = null,
    readonly stop: number | null = null,
    readonly step: number | null = null,
  ) {
    if (step === 0) throw new ValueError('slice', 'slice step cannot be zero');
    if (step !== null && step < 0) throw new ValueError('slice', 'negative slice steps are not supported (as in PyTorch); use flip()');
  }
}

/** `start:stop:step`, as in Python. Example: `x.index(fm.slice(1, null, 2))` is `x[1::2]`. */
export function slice(start: number | null = null, stop: number | null = null, step: number | null = null): Slice {
  return new Slice(start, stop, step);
}

/** A new size-1 axis (Python's `None`). */
export const newaxis = null;

/** Python-style slice text: `':'`, `'1:'`, `'::2'`, `'-3:-1'`. */
export type SliceString = `${string}:${string}`;

/**
 * One index item: an integer (selects, removing the dim), a Slice or slice string, `null` (new
 * axis), `'...'` (all remaining dims), an integer or bool tensor or an array of integers (advanced).
 */
export type IndexItem = number | Slice | SliceString | null | '...' | Tensor | readonly number[];

function parseSlice(s: SliceString): Slice {
  const parts = s.split(':');
  if (parts.length > 3) throw new IndexError('index', `invalid slice '${s}'`);
  const num = (p: string | undefined) => {
    if (p === undefined || p.trim() === '') return null;
    const v = Number(p);
    if (!Number.isInteger(v)) throw new IndexError('index', `invalid slice '${s}': '${p}' is not an integer`);
    return v;
  };
  return new Slice(num(parts[0]), num(parts[1]), num(parts[2]));
}

/** start, step and length of a Slice over a dim of size n (clamped as Python does). */
function resolveSlice(s: Slice, n: number): { start: number; step: number; length: number } {
  const step = s.step ?? 1;
  const clampIdx = (v: number | null, dflt: number) => (v === null ? dflt : Math.min(Math.max(v < 0 ? v + n : v, 0), n));
  const start = clampIdx(s.start, 0);
  const stop = clampIdx(s.stop, n);
  const length = Math.max(0, Math.ceil((stop - start) / step));
  return { start, step, length };
}

/** Integer index tensors for the advanced items, applied to `dims` of `v` (int64, bounds checked). */
function advancedIndex(v: Tensor, dims: number[], idx: Tensor[], origDims: number[]): { flatView: Tensor; linear: Tensor; idxShape: number[]; restShape: number[]; adjacentAt: number } {
  const shape = broadcastShapes('index', ...idx.map((t) => t.shape));
  let linear: Tensor | null = null;
  idx.forEach((t, k) => {
    const size = v.shape[dims[k]!]!;
    if (t.numel() > 0) {
      const lo = t.amin().item();
      const hi = t.amax().item();
      if (lo < -size || hi >= size) {
        const bad = lo < -size ? lo : hi;
        throw new IndexError('index', `index ${bad} is out of bounds for dimension ${origDims[k]} with size ${size}`);
      }
    }
    const wrapped = where(t.lt(0), t.add(size), t);
    linear = linear === null ? wrapped : linear.mul(size).add(wrapped);
  });
  const rest = [...v.shape.keys()].filter((d) => !dims.includes(d));
  const adjacent = dims.every((d, i) => i === 0 || d === dims[i - 1]! + 1);
  const moved = permute(v, [...dims, ...rest]);
  const flatView = reshape(moved, [dims.reduce((p, d) => p * v.shape[d]!, 1), ...rest.map((d) => v.shape[d]!)]);
  return {
    flatView,
    linear: reshape(expand(linear!, shape), [-1]),
    idxShape: shape,
    restShape: rest.map((d) => v.shape[d]!),
    // Adjacent advanced dims keep their place in the result; otherwise they go first (NumPy's rule).
    adjacentAt: adjacent ? rest.filter((d) => d < dims[0]!).length : 0,
  };
}

/**
 * Integer tensors from an advanced item (bool masks expand into one tensor per masked dim, after
 * checking that the mask's shape matches `covered`, the sizes of the dims it indexes).
 */
function toIndexTensors(item: Tensor | readonly number[], device: Tensor['device'], covered: readonly number[]): Tensor[] {
  const t = item instanceof Tensor ? item : tensor(item as number[], { dtype: 'int64', device });
  if (t.dtype === 'bool' || t.dtype === 'uint8') {
    if (!sameShape(t.shape, covered)) {
      throw new IndexError('index', `the shape of the mask ${fmtShape(t.shape)} does not match the shape of the indexed dims ${fmtShape(covered)}`);
    }
    return nonzero(t).unbind(1);
  }
  if (isFloating(t.dtype)) throw new DTypeError('index', `tensors used as indices must be integer or bool tensors, got ${t.dtype} (shape ${fmtShape(t.shape)})`);
  return [t.dtype === 'int64' ? t : t.to('int64')];
}

/** Applies the basic items as a view and collects the advanced ones by the dim they index. */
function basicThenAdvanced(x: Tensor, items: readonly IndexItem[]): { v: Tensor; advDims: number[]; advIdx: Tensor[]; advOrig: number[] } {
  const consumed = items.reduce<number>((n, it) => n + (it === null || it === '...' ? 0 : it instanceof Tensor && (it.dtype === 'bool' || it.dtype === 'uint8') ? it.ndim : 1), 0);
  if (items.filter((it) => it === '...').length > 1) throw new IndexError('index', "an index can only have a single ellipsis ('...')");
  if (consumed > x.ndim) throw new IndexError('index', `too many indices for tensor of dimension ${x.ndim} (got ${consumed})`);
  let v = x;
  let d = 0; // the dim of v the next item applies to
  let od = 0; // the dim of x it corresponds to, for messages
  const advDims: number[] = [];
  const advIdx: Tensor[] = [];
  const advOrig: number[] = [];
  for (const it of items) {
    if (it === '...') {
      d += x.ndim - consumed;
      od += x.ndim - consumed;
    } else if (it === null) v = unsqueeze(v, d++);
    else if (typeof it === 'number') {
      if (!Number.isInteger(it)) throw new IndexError('index', `index ${it} is not an integer`);
      const n = v.shape[d]!;
      if (it < -n || it >= n) throw new IndexError('index', `index ${it} is out of bounds for dimension ${od} with size ${n}`);
      v = select(v, d, it);
      od++;
    } else if (it instanceof Slice || typeof it === 'string') {
      const s = it instanceof Slice ? it : parseSlice(it);
      const r = resolveSlice(s, v.shape[d]!);
      v = r.length === v.shape[d] && r.step === 1 ? v : applyOp('slice', [v], { dim: d, ...r });
      d++;
      od++;
    } else if (it instanceof Tensor && (it.dtype === 'bool' || it.dtype === 'uint8') && it.ndim === 0) {
      // A 0-dim mask adds a dim of size 1 (true) or 0 (false), as in PyTorch.
      v = unsqueeze(v, d);
      if (!it.item()) v = applyOp('slice', [v], { dim: d, start: 0, step: 1, length: 0 });
      d++;
    } else {
      const isMask = it instanceof Tensor && (it.dtype === 'bool' || it.dtype === 'uint8');
      for (const t of toIndexTensors(it, x.device, isMask ? v.shape.slice(d, d + (it as Tensor).ndim) : [])) {
        advDims.push(d++);
        advOrig.push(od++);
        advIdx.push(t);
      }
    }
  }
  return { v, advDims, advIdx, advOrig };
}

/**
 * PyTorch's `x[...]`: integers, slices (`fm.slice(1, null, 2)` or `'1::2'`), `null` for a new
 * axis, `'...'`, and integer/bool tensors or integer arrays (advanced indexing, a copy).
 * Basic indexing alone returns a view. Example: `x.index(0, '1:', null)` is `x[0, 1:, None]`.
 */
export function index(x: Tensor, ...items: IndexItem[]): Tensor {
  const { v, advDims, advIdx, advOrig } = basicThenAdvanced(x, items);
  if (advDims.length === 0) return v;
  const { flatView, linear, idxShape, restShape, adjacentAt } = advancedIndex(v, advDims, advIdx, advOrig);
  const picked = reshape(indexSelect(flatView, 0, linear), [...idxShape, ...restShape]);
  if (adjacentAt === 0) return picked;
  const k = idxShape.length;
  const order = [...Array(restShape.length + k).keys()].map((i) => (i < adjacentAt ? k + i : i < adjacentAt + k ? i - adjacentAt : i));
  return permute(picked, order);
}

/**
 * `x[items] = values` as a new tensor (`accumulate` adds instead, summing repeated indices).
 * Example: `fm.indexPut(x, [fm.tensor([0, 2], { dtype: 'int64' })], 1)`.
 */
export function indexPut(x: Tensor, items: readonly IndexItem[], values: TensorLike, accumulate = false): Tensor {
  const vals = values instanceof Tensor ? values : scalarTensor(values, x.dtype, x.device);
  // The flat positions of the selected elements, found by indexing a tensor of positions.
  const positions = index(arangeLike(x), ...items);
  const p = reshape(contiguous(positions), [-1]);
  let expanded: Tensor;
  try {
    expanded = expand(vals.dtype === x.dtype ? vals : vals.to(x.dtype), positions.shape);
  } catch {
    throw new ShapeError('indexPut', `values of shape ${fmtShape(vals.shape)} cannot be broadcast to the indexed shape ${fmtShape(positions.shape)}`);
  }
  const s = reshape(contiguous(expanded), [-1]);
  const flat = reshape(x, [-1]);
  return reshape(accumulate ? flat.scatterAdd(0, p, s) : flat.scatter(0, p, s), x.shape);
}

/** int64 flat positions 0..numel-1 in x's shape. */
function arangeLike(x: Tensor): Tensor {
  const n = x.numel();
  const values = new BigInt64Array(n);
  for (let i = 0; i < n; i++) values[i] = BigInt(i);
  return fromValues(values, x.shape, 'int64', x.device);
}

/** out[i][j] = x[index[i][j]][j] along dim 0, and so on (PyTorch's gather). Example: `x.gather(1, idx)`. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return applyOp('gather', [x, index], normDim('gather', dim, x.ndim));
}

function scatterSrc(x: Tensor, index: Tensor, src: TensorLike): Tensor {
  return src instanceof Tensor ? src : full(index.shape, Number(src), { dtype: x.dtype, device: x.device });
}
/** A copy of x with `src` written at the positions `index` names along dim. Example: `x.scatter(0, idx, 1)`. */
export function scatter(x: Tensor, dim: number, index: Tensor, src: TensorLike): Tensor {
  return applyOp('scatter', [x, index, scatterSrc(x, index, src)], normDim('scatter', dim, x.ndim));
}
/** A copy of x with `src` added at the positions `index` names along dim (repeats add up). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return applyOp('scatterAdd', [x, index, src], normDim('scatterAdd', dim, x.ndim));
}

/** A 1-D int64 index, checked. */
function checkIndexVector(op: string, index: Tensor): Tensor {
  if (index.ndim > 1) throw new ShapeError(op, `index must be 0-D or 1-D, got shape ${fmtShape(index.shape)}`);
  if (index.dtype !== 'int64' && index.dtype !== 'int32') throw new DTypeError(op, `index must be an int64 or int32 tensor, got ${index.dtype}`);
  return index.dtype === 'int64' ? reshape(index, [-1]) : reshape(index.to('int64'), [-1]);
}

/** The entries of `index` along dim. Example: `x.indexSelect(0, fm.tensor([2, 0], { dtype: 'int64' }))`. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normDim('indexSelect', dim, x.ndim);
  const idx = checkIndexVector('indexSelect', index);
  try {
    if (x.ndim === 0) return gather(x.reshape([1]), 0, idx).reshape(index.ndim === 0 ? [] : [idx.numel()]);
    const view = [...x.shape.map(() => 1)];
    view[d] = idx.numel();
    const target = x.shape.slice();
    target[d] = idx.numel();
    return gather(x, d, expand(reshape(idx, view), target));
  } catch (e) {
    throw asOpError(e, 'indexSelect');
  }
}

/** A copy of x with `alpha * source` added at the entries of `index` along dim. Example: `x.indexAdd(0, idx, src)`. */
export function indexAdd(x: Tensor, dim: number, index: Tensor, source: Tensor, opts?: { alpha?: number }): Tensor {
  const d = normDim('indexAdd', dim, x.ndim);
  const idx = checkIndexVector('indexAdd', index);
  const srcSize = source.ndim === 0 ? 1 : source.shape[d];
  if (source.ndim !== x.ndim && !(source.ndim <= 1 && x.ndim <= 1)) {
    throw new ShapeError('indexAdd', `source ${fmtShape(source.shape)} must have as many dims as the input ${fmtShape(x.shape)}`);
  }
  if (idx.numel() !== srcSize) throw new ShapeError('indexAdd', `number of indices (${idx.numel()}) should be equal to source.size(${dim}) (${srcSize})`);
  source.shape.forEach((n, k) => {
    if (k !== d && n !== x.shape[k]) throw new ShapeError('indexAdd', `source ${fmtShape(source.shape)} must match the input ${fmtShape(x.shape)} in every dim but ${dim}`);
  });
  const view = [...source.shape.map(() => 1)];
  view[d] = idx.numel();
  const src = opts?.alpha === undefined ? source : source.mul(opts.alpha);
  try {
    return scatterAdd(x, d, expand(reshape(idx, view), source.shape), src);
  } catch (e) {
    throw asOpError(e, 'indexAdd');
  }
}

/** `value` where `mask` holds, x elsewhere (mask broadcasts). Example: `scores.maskedFill(mask, -Infinity)`. */
export function maskedFill(x: Tensor, mask: Tensor, value: TensorLike): Tensor {
  if (mask.dtype !== 'bool') throw new DTypeError('maskedFill', `mask must be a bool tensor, got ${mask.dtype}`);
  const v = value instanceof Tensor ? value.to(x.dtype) : value;
  const out = where(mask, v, x);
  return out.dtype === x.dtype ? out : out.to(x.dtype);
}

/** The elements where mask holds, as a 1-D tensor. Example: `x.maskedSelect(x.gt(0))`. */
export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  if (mask.dtype !== 'bool') throw new DTypeError('maskedSelect', `mask must be a bool tensor, got ${mask.dtype}`);
  const shape = broadcastShapes('maskedSelect', x.shape, mask.shape);
  return index(expand(x, shape), expand(mask, shape));
}

/** Indices of the nonzero elements, one row per element: shape [count, ndim]. Example: `fm.nonzero(mask)`. */
export function nonzero(x: Tensor): Tensor {
  const flat = x.data();
  const coords: bigint[] = [];
  const strides = x.shape.map((_, d) => x.shape.slice(d + 1).reduce((a, b) => a * b, 1));
  let count = 0;
  for (let i = 0; i < flat.length; i++) {
    if (Number(flat[i]) === 0) continue;
    count++;
    for (let d = 0; d < x.ndim; d++) coords.push(BigInt(Math.floor(i / strides[d]!) % x.shape[d]!));
  }
  return fromValues(BigInt64Array.from(coords), [count, x.ndim], 'int64', x.device);
}

/** One-hot rows of length numClasses (-1: max + 1) for int64 class indices. Example: `fm.oneHot(labels, 10)`. */
export function oneHot(x: Tensor, numClasses = -1): Tensor {
  if (x.dtype !== 'int64') throw new DTypeError('oneHot', `class values must be an int64 tensor, got ${x.dtype}`);
  const n = numClasses === -1 ? (x.numel() === 0 ? 0 : x.amax().item() + 1) : numClasses;
  if (x.numel() > 0 && (x.amin().item() < 0 || x.amax().item() >= n)) throw new IndexError('oneHot', `class values must be in [0, ${n}), got range [${x.amin().item()}, ${x.amax().item()}]`);
  const classes = fromValues(BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [n], 'int64', x.device);
  return unsqueeze(x, -1).eq(classes).to('int64');
}

/** Sorted values and their original indices along dim (stable). Example: `const { values, indices } = x.sort(-1, { descending: true })`. */
export function sort(x: Tensor, dim = -1, opts?: { descending?: boolean }): { values: Tensor; indices: Tensor } {
  const indices = argsort(x, dim, opts);
  return { values: x.ndim === 0 ? x.clone() : gather(x, normDim('sort', dim, x.ndim), indices), indices };
}
/** The indices that sort x along dim (stable). */
export function argsort(x: Tensor, dim = -1, opts?: { descending?: boolean }): Tensor {
  const d = normDim('argsort', dim, x.ndim);
  return applyOp('argsort', [x.ndim === 0 ? reshape(x, [1]) : x], { dim: x.ndim === 0 ? 0 : d, descending: opts?.descending ?? false }).reshape(x.shape);
}
/** The k largest (or smallest) values along dim, with indices. Example: `x.topk(3)`. */
export function topk(x: Tensor, k: number, dim = -1, opts?: { largest?: boolean; sorted?: boolean }): { values: Tensor; indices: Tensor } {
  const d = normDim('topk', dim, x.ndim);
  const n = x.ndim === 0 ? 1 : x.shape[d]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new IndexError('topk', `k (${k}) is out of range for dimension ${dim} of size ${n}`);
  const { indices } = sort(x, d, { descending: opts?.largest ?? true });
  const idx = x.ndim === 0 ? indices : narrow(indices, d, 0, k);
  return { values: x.ndim === 0 ? x.clone() : gather(x, d, idx), indices: idx };
}

/** Sorted unique elements of the flattened tensor, with inverse indices and counts when asked. Example: `fm.unique(x)`. */
export function unique(x: Tensor, opts?: { returnInverse?: boolean; returnCounts?: boolean }): { values: Tensor; inverse?: Tensor; counts?: Tensor } {
  const flat = flatten(x);
  const { values: sorted, indices } = sort(flat, 0);
  const sv = sorted.data();
  const idx = indices.data() as BigInt64Array;
  const keep: number[] = [];
  const counts: number[] = [];
  const inverse = new BigInt64Array(sv.length);
  for (let i = 0; i < sv.length; i++) {
    // NaN equals nothing, so each NaN is its own value (as in PyTorch).
    const isNew = i === 0 || Number(sv[i]) !== Number(sv[i - 1]);
    if (isNew) {
      keep.push(i);
      counts.push(0);
    }
    counts[counts.length - 1]!++;
    inverse[Number(idx[i])] = BigInt(keep.length - 1);
  }
  const pick = fromValues(BigInt64Array.from(keep, (i) => BigInt(i)), [keep.length], 'int64', x.device);
  const result: { values: Tensor; inverse?: Tensor; counts?: Tensor } = { values: gather(sorted.detach(), 0, pick) };
  if (opts?.returnInverse) result.inverse = fromValues(inverse, x.shape, 'int64', x.device);
  if (opts?.returnCounts) result.counts = fromValues(BigInt64Array.from(counts, (c) => BigInt(c)), [counts.length], 'int64', x.device);
  return result;
}
