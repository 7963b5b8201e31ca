// Shape arithmetic shared by ops: contiguous strides, broadcasting, dim normalisation.
import { IndexError, ShapeError } from '../errors.js';

/** Row-major strides of a contiguous tensor of `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when a layout's elements are row-major without gaps (size-1 dims ignored). */
export function isContiguous(v: { readonly shape: readonly number[]; readonly strides: readonly number[] }): boolean {
  let expected = 1;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    const n = v.shape[d]!;
    if (n !== 1 && v.strides[d] !== expected) return false;
    expected *= n;
  }
  return true;
}

/** Formats a shape as `[2, 3]` for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The broadcast of several shapes (NumPy/PyTorch rules), or a ShapeError naming `op`. */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  if (shapes.length === 2 && sameShape(shapes[0]!, shapes[1]!)) return shapes[0]!.slice();
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = nd - s.length + i;
      const n = s[i]!;
      if (n === out[d] || n === 1) continue;
      if (out[d] === 1) out[d] = n;
      else {
        throw new ShapeError(op, `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dim ${d - nd}: ${out[d]} vs ${n})`);
      }
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if broadcast to `target` (0 where repeated). */
export function broadcastStrides(shape: readonly number[], strides: readonly number[], target: readonly number[]): number[] {
  const lead = target.length - shape.length;
  const out = new Array<number>(target.length);
  for (let d = 0; d < target.length; d++) {
    out[d] = d < lead || shape[d - lead] === 1 ? 0 : strides[d - lead]!;
  }
  return out;
}

/** A dim in [-ndim, ndim) made non-negative, or an IndexError naming `op`. */
export function normDim(op: string, dim: number, ndim: number): number {
  const n = Math.max(ndim, 1); // a 0-dim tensor accepts dim 0 and -1, as in PyTorch
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new IndexError(op, `dimension out of range (expected to be in range of [${-n}, ${n - 1}], but got ${dim})`);
  }
  return dim < 0 ? dim + n : dim;
}

/** Normalises a list of dims (undefined: all), rejecting repeats. */
export function normDims(op: string, dims: number | readonly number[] | undefined | null, ndim: number): number[] {
  // An empty list means every dim, as in PyTorch.
  if (dims === undefined || dims === null || (typeof dims !== 'number' && dims.length === 0)) return [...Array(ndim).keys()];
  const list = typeof dims === 'number' ? [dims] : dims;
  const out = list.map((d) => normDim(op, d, ndim));
  if (new Set(out).size !== out.length) throw new IndexError(op, `dim ${list.join(', ')} appears multiple times in the list of dims`);
  return ndim === 0 ? [] : out.sort((a, b) => a - b);
}
