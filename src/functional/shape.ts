// Movement and shape ops: views (view, permute, expand, narrow, ...) that copy nothing, and the
// ops that assemble tensors (cat, stack, split, repeat, flip, roll, tril/triu).
import { Tensor } from '../tensor/tensor.js';
import { IndexError, ShapeError, ValueError } from '../errors.js';
import { resultType } from '../dtype.js';
import { applyOp } from '../ops/dispatch.js';
import { viewStrides } from '../ops/prims/movement.js';
import { fmtShape, normDim, numelOf, sameShape } from '../tensor/shape.js';
import { arange } from './creation.js';
import { where } from './math.js';

/** Resolves one -1 in a requested shape against `numel`, or raises naming `op`. */
function inferShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  const numel = x.numel();
  const out = shape.slice();
  const minus = out.indexOf(-1);
  if (out.some((n, i) => !Number.isInteger(n) || (n < 0 && i !== minus) || (n === -1 && i !== minus))) {
    throw new ShapeError(op, `invalid shape ${fmtShape(shape)}: only one dimension can be -1 and sizes must be non-negative integers`);
  }
  if (minus >= 0) {
    const rest = out.reduce((p, n, i) => (i === minus ? p : p * n), 1);
    if (rest === 0 || numel % rest !== 0) throw new ShapeError(op, `shape ${fmtShape(shape)} is invalid for input of size ${numel} (shape ${fmtShape(x.shape)})`);
    out[minus] = numel / rest;
  }
  if (numelOf(out) !== numel) throw new ShapeError(op, `shape ${fmtShape(shape)} is invalid for input of size ${numel} (shape ${fmtShape(x.shape)})`);
  return out;
}

/** A view with a new shape; raises when the layout makes a view impossible (use reshape). Example: `x.view([2, -1])`. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const s = inferShape('view', x, shape);
  if (viewStrides(x.shape, x.strides, s) === null) {
    throw new ShapeError('view', `view size ${fmtShape(s)} is not compatible with input size ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} (at least one dimension spans across two contiguous subspaces); use reshape() instead`);
  }
  return applyOp('reshape', [x], s);
}

/** A tensor with a new shape: a view when the layout allows, a copy otherwise. Example: `x.reshape([-1])`. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = inferShape('reshape', x, shape);
  if (sameShape(s, x.shape)) return x;
  const src = viewStrides(x.shape, x.strides, s) === null ? contiguous(x) : x;
  return applyOp('reshape', [src], s);
}

/** A contiguous tensor with the same values (x itself when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  return x.isContiguous() ? x : applyOp('clone', [x], null);
}
/** A copy with its own storage, recorded by autograd. Example: `x.clone()`. */
export function clone(x: Tensor): Tensor {
  return applyOp('clone', [x], null);
}

/** Reorders dims. Example: `x.permute([2, 0, 1])`. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const d = dims.map((k) => normDim('permute', k, x.ndim));
  if (d.length !== x.ndim || new Set(d).size !== d.length) {
    throw new ShapeError('permute', `dims [${dims.join(', ')}] are not a permutation of the ${x.ndim} dims of shape ${fmtShape(x.shape)}`);
  }
  return applyOp('permute', [x], d);
}

/** Swaps two dims. Example: `x.transpose(0, 1)`. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normDim('transpose', dim0, x.ndim);
  const b = normDim('transpose', dim1, x.ndim);
  if (a === b) return x;
  const perm = [...x.shape.keys()];
  perm[a] = b;
  perm[b] = a;
  return applyOp('permute', [x], perm);
}

/** Moves dim `source` to position `destination`. Example: `x.movedim(0, -1)`. */
export function movedim(x: Tensor, source: number, destination: number): Tensor {
  const s = normDim('movedim', source, x.ndim);
  const d = normDim('movedim', destination, x.ndim);
  if (s === d) return x;
  const perm = [...x.shape.keys()].filter((k) => k !== s);
  perm.splice(d, 0, s);
  return applyOp('permute', [x], perm);
}

/** A view repeating size-1 dims (and adding leading dims); -1 keeps a size. Example: `b.expand([4, 3])`. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new ShapeError('expand', `the number of sizes provided (${shape.length}) must be at least the number of dims (${x.ndim}) of shape ${fmtShape(x.shape)}`);
  const target = shape.map((n, d) => {
    const own = d >= lead ? x.shape[d - lead]! : undefined;
    if (n === -1) {
      if (own === undefined) throw new ShapeError('expand', `-1 is not allowed in a leading, new dimension (${fmtShape(shape)})`);
      return own;
    }
    if (own !== undefined && own !== 1 && own !== n) {
      throw new ShapeError('expand', `the expanded size ${n} must match the existing size ${own} at non-singleton dimension ${d}; target ${fmtShape(shape)}, tensor ${fmtShape(x.shape)}`);
    }
    return n;
  });
  return sameShape(target, x.shape) ? x : applyOp('expand', [x], target);
}

/** Expands to another tensor's shape. */
export function expandAs(x: Tensor, other: Tensor): Tensor {
  return expand(x, other.shape);
}

/** Removes size-1 dims (all, or the given ones). Example: `x.squeeze(0)`. */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  const dims = dim === undefined ? [...x.shape.keys()] : (typeof dim === 'number' ? [dim] : dim).map((d) => normDim('squeeze', d, x.ndim));
  const shape = x.shape.filter((n, d) => !(n === 1 && dims.includes(d)));
  return shape.length === x.ndim ? x : applyOp('reshape', [x], shape);
}

/** Inserts a size-1 dim at `dim`. Example: `x.unsqueeze(-1)`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const shape = x.shape.slice();
  shape.splice(d, 0, 1);
  return applyOp('reshape', [x], shape);
}

/** Merges dims startDim..endDim into one. Example: `x.flatten(1)`. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim('flatten', startDim, x.ndim);
  const e = normDim('flatten', endDim, x.ndim);
  if (s > e) throw new IndexError('flatten', `startDim ${startDim} cannot come after endDim ${endDim}`);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** Splits dim into `sizes` (one may be -1). Example: `x.unflatten(1, [2, -1])`. */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = normDim('unflatten', dim, x.ndim);
  const n = x.shape[d]!;
  const known = sizes.reduce((p, s) => (s === -1 ? p : p * s), 1);
  const resolved = sizes.map((s) => (s === -1 ? n / known : s));
  if (numelOf(resolved) !== n || !resolved.every(Number.isInteger)) {
    throw new ShapeError('unflatten', `sizes ${fmtShape(sizes)} don't multiply up to the size of dim ${dim} (${n}) in shape ${fmtShape(x.shape)}`);
  }
  return reshape(x, [...x.shape.slice(0, d), ...resolved, ...x.shape.slice(d + 1)]);
}

/** A view of `length` elements of `dim` from `start`. Example: `x.narrow(0, 1, 2)`. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.ndim);
  const n = x.shape[d]!;
  const s = start < 0 ? start + n : start;
  if (s < 0 || length < 0 || s + length > n) {
    throw new IndexError('narrow', `start ${start} + length ${length} exceeds dimension ${dim} of size ${n} (shape ${fmtShape(x.shape)})`);
  }
  return applyOp('slice', [x], { dim: d, start: s, step: 1, length });
}

/** A view of index `index` along `dim`, without that dim. Example: `x.select(0, -1)`. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normDim('select', dim, x.ndim);
  const n = x.shape[d]!;
  if (!Number.isInteger(index) || index < -n || index >= n) {
    throw new IndexError('select', `index ${index} is out of bounds for dimension ${dim} with size ${n}`);
  }
  const i = index < 0 ? index + n : index;
  const sliced = applyOp('slice', [x], { dim: d, start: i, step: 1, length: 1 });
  return applyOp('reshape', [sliced], x.shape.filter((_, k) => k !== d));
}

/** Views of each index along dim. Example: `const [a, b] = x.unbind(0)`. */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  const d = normDim('unbind', dim, x.ndim);
  return Array.from({ length: x.shape[d]! }, (_, i) => select(x, d, i));
}

/** Reverses the order along `dims` (a copy, as in PyTorch). Example: `x.flip([0])`. */
export function flip(x: Tensor, dims: readonly number[]): Tensor {
  let v = x;
  for (const dim of new Set(dims.map((k) => normDim('flip', k, x.ndim)))) {
    const n = x.shape[dim]!;
    if (n > 1) v = applyOp('slice', [v], { dim, start: n - 1, step: -1, length: n });
  }
  return applyOp('clone', [v], null);
}

/** Joins tensors along an existing dim (dtypes promoted). Example: `fm.cat([a, b], 0)`. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('cat', 'expected a non-empty list of tensors');
  // PyTorch skips legacy empty 1-D tensors of shape [0] when joining others.
  const parts = tensors.filter((t) => !(t.ndim === 1 && t.shape[0] === 0));
  const list = parts.length > 0 ? parts : [tensors[0]!];
  const ref = list[0]!;
  const d = normDim('cat', dim, ref.ndim);
  list.forEach((t) => {
    if (t.ndim !== ref.ndim || t.shape.some((n, k) => k !== d && n !== ref.shape[k])) {
      throw new ShapeError('cat', `sizes of tensors must match except in dimension ${dim}: tensor 0 has shape ${fmtShape(ref.shape)}, tensor ${tensors.indexOf(t)} has shape ${fmtShape(t.shape)}`);
    }
  });
  const dtype = resultType(list);
  const cast = list.map((t) => (t.dtype === dtype ? t : t.to(dtype)));
  return cast.length === 1 ? clone(cast[0]!) : applyOp('cat', cast, d);
}

/** Joins tensors of one shape along a new dim. Example: `fm.stack([a, b], 0)`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('stack', 'expected a non-empty list of tensors');
  const ref = tensors[0]!;
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, ref.shape)) throw new ShapeError('stack', `stack expects each tensor to be equal size, but got ${fmtShape(ref.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
  });
  const d = normDim('stack', dim, ref.ndim + 1);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** Views of consecutive pieces along dim: each of `size`, or of the listed sizes. Example: `x.split(2)`. */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let lengths: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new ValueError('split', `split size must be a positive integer, got ${sizes}`);
    lengths = Array.from({ length: Math.max(1, Math.ceil(n / sizes)) }, (_, i) => Math.min(sizes, n - i * sizes));
  } else {
    lengths = sizes.slice();
    if (lengths.reduce((a, b) => a + b, 0) !== n) throw new ShapeError('split', `sizes [${sizes.join(', ')}] must sum to the size of dimension ${dim} (${n})`);
  }
  let at = 0;
  return lengths.map((len) => {
    const part = narrow(x, d, at, len);
    at += len;
    return part;
  });
}

/** `chunks` nearly equal views along dim (the last may be smaller). Example: `x.chunk(3, 1)`. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ValueError('chunk', `chunks must be a positive integer, got ${chunks}`);
  const n = x.shape[normDim('chunk', dim, x.ndim)]!;
  return split(x, Math.max(1, Math.ceil(n / chunks)), dim);
}

/** Tiles the tensor `repeats[d]` times along each dim (PyTorch's repeat). Example: `x.repeat([2, 1])`. */
export function repeat(x: Tensor, repeats: readonly number[]): Tensor {
  if (repeats.length < x.ndim) throw new ShapeError('repeat', `number of repeat dims (${repeats.length}) can not be smaller than the number of tensor dims (${x.ndim})`);
  const lead = repeats.length - x.ndim;
  const shape = [...Array(lead).fill(1), ...x.shape];
  // View each dim d as [1, size] expanded to [repeat, size], then merge the pairs.
  const paired = reshape(x, shape.flatMap((n) => [1, n]));
  const expanded = expand(paired, shape.flatMap((n, d) => [repeats[d]!, n]));
  return reshape(contiguous(expanded), shape.map((n, d) => n * repeats[d]!));
}

/** Like repeat, padding `reps` with leading 1s when shorter than the dims (NumPy's tile). Example: `x.tile([2])`. */
export function tile(x: Tensor, reps: readonly number[]): Tensor {
  return repeat(x, [...Array(Math.max(0, x.ndim - reps.length)).fill(1), ...reps]);
}

/** Rolls elements along dims (flattened when dims is omitted). Example: `x.roll(1, 0)`. */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const s = typeof shifts === 'number' ? [shifts] : shifts;
  if (dims === undefined) return reshape(roll(flatten(x), s[0]!, 0), x.shape);
  const ds = typeof dims === 'number' ? [dims] : dims;
  if (ds.length !== s.length) throw new ValueError('roll', `shifts (${s.length}) and dims (${ds.length}) must have the same length`);
  let out = x;
  ds.forEach((dim, i) => {
    const d = normDim('roll', dim, x.ndim);
    const n = x.shape[d]!;
    if (n === 0) return;
    const k = ((s[i]! % n) + n) % n;
    if (k !== 0) out = cat([narrow(out, d, n - k, k), narrow(out, d, 0, n - k)], d);
  });
  return out === x ? clone(x) : out;
}

function triangle(op: string, x: Tensor, diagonal: number, lower: boolean): Tensor {
  if (x.ndim < 2) throw new ShapeError(op, `expected a tensor with at least 2 dims, got shape ${fmtShape(x.shape)}`);
  const rows = unsqueeze(arange(x.shape[x.ndim - 2]!, { device: x.device }), 1);
  const cols = arange(x.shape[x.ndim - 1]!, { device: x.device });
  const offset = cols.sub(rows); // j - i
  const keep = lower ? offset.le(diagonal) : offset.ge(diagonal);
  return where(keep, x, 0).to(x.dtype); // a number promotes bool to int64: keep the input dtype (PyTorch)
}
/** The lower triangle (j - i <= diagonal), zeros elsewhere. Example: `fm.tril(fm.ones([3, 3]))`. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle('tril', x, diagonal, true);
}
/** The upper triangle (j - i >= diagonal), zeros elsewhere. */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle('triu', x, diagonal, false);
}
