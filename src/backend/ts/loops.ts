// Strided loops for the ts backend: dims are coalesced, then a loop specialised to one kernel
// body (compiled once with `new Function`) walks every operand by its own strides.
import type { DType } from '../../dtype.js';
import { scalarMath } from '../../ops/scalar_math.js';
import { bfloat16BitsToFloat, floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat } from '../../half.js';
export { isContiguous } from '../../tensor/shape.js';

/** The JS expression that reads element `at` of an array of dtype `d` as a number. */
export function loadExpr(d: DType, at: string): string {
  if (d === 'float16') return `halfBitsToFloat(${at})`;
  if (d === 'bfloat16') return `bfloat16BitsToFloat(${at})`;
  return d === 'int64' ? `Number(${at})` : at;
}

/** The JS statement that writes number `v` into element `at` with dtype `d`'s conversion. */
export function storeStmt(d: DType, at: string, v: string): string {
  if (d === 'int64') return `${at} = toI64(${v});`;
  if (d === 'bool') return `${at} = (${v}) != 0 ? 1 : 0;`;
  if (d === 'float16') return `${at} = floatToHalfBits(${v});`;
  if (d === 'bfloat16') return `${at} = floatToBfloat16Bits(${v});`;
  return `${at} = ${v};`;
}

const INT64_MIN = -(2n ** 63n);
/** float -> int64 as C casts do on x86 (truncate; NaN and out of range give INT64_MIN). */
function toI64(v: number): bigint {
  return Number.isFinite(v) && Math.abs(v) < 9223372036854775808 ? BigInt(Math.trunc(v)) : INT64_MIN;
}

/** Names visible inside every compiled kernel: the expression language's functions and constants. */
const halfCodecs = { halfBitsToFloat, floatToHalfBits, bfloat16BitsToFloat, floatToBfloat16Bits };
const preludeNames = [...Object.keys(scalarMath), ...Object.keys(halfCodecs), 'toI64', 'INFINITY'];
const preludeValues = [...Object.values(scalarMath), ...Object.values(halfCodecs), toI64, Infinity];

/**
 * Drops size-1 dims and merges neighbours that every operand walks contiguously, so that
 * most calls end up one flat loop.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n)) {
      outShape[last]! *= n;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** A compiled loop: arrays, their element offsets and strides (all coalesced to `shape`), and scalar params. */
export type Loop = (shape: number[], arrays: unknown[], offsets: number[], strides: number[][], params: readonly number[]) => void;

/**
 * Compiles a loop over `k` operands. `body` is JS that may use `A0..A{k-1}` (the arrays),
 * `i0..i{k-1}` (the current element of each) and `p0, p1, p2` (params).
 */
export function compileLoop(k: number, body: string): Loop {
  const ks = [...Array(k).keys()];
  const list = (f: (i: number) => string, sep = ', ') => ks.map(f).join(sep);
  const src = `
    return function loop(shape, A, O, S, P) {
      const ${list((i) => `A${i} = A[${i}]`)};
      const p0 = P[0], p1 = P[1], p2 = P[2];
      const nd = shape.length;
      if (nd === 0) { const ${list((i) => `i${i} = O[${i}]`)}; ${body}; return; }
      const n = shape[nd - 1];
      const ${list((i) => `t${i} = S[${i}][nd - 1]`)};
      let ${list((i) => `b${i} = O[${i}]`)};
      if (nd === 1) {
        if (${list((i) => `t${i} === 1`, ' && ')}) {
          // Contiguous: one induction variable, which V8 compiles to a tight loop.
          for (let j = 0; j < n; j++) { const ${list((i) => `i${i} = b${i} + j`)}; ${body} }
        } else {
          for (let j = 0, ${list((i) => `i${i} = b${i}`)}; j < n; j++, ${list((i) => `i${i} += t${i}`)}) { ${body} }
        }
        return;
      }
      const ${list((i) => `s${i} = S[${i}]`)};
      const idx = new Array(nd - 1).fill(0);
      let outer = 1;
      for (let d = 0; d < nd - 1; d++) outer *= shape[d];
      for (let o = 0; o < outer; o++) {
        for (let j = 0, ${list((i) => `i${i} = b${i}`)}; j < n; j++, ${list((i) => `i${i} += t${i}`)}) { ${body} }
        for (let d = nd - 2; d >= 0; d--) {
          ${list((i) => `b${i} += s${i}[d];`, ' ')}
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
          ${list((i) => `b${i} -= s${i}[d] * shape[d];`, ' ')}
        }
      }
    };`;
  return new Function(...preludeNames, src)(...preludeValues) as Loop;
}

/** Compiles a function whose body may use the expression language's names. */
export function compileFunction<F>(params: readonly string[], body: string): F {
  return new Function(...preludeNames, `return function (${params.join(', ')}) { ${body} };`)(...preludeValues) as F;
}

/** Compiles `expr` (the expression language, over x, y, p0..p2) to a JS function, for tests of the table. */
export function compileScalarExpr(expr: string): (x: number, y: number, p0: number, p1: number, p2: number) => number {
  return new Function(...preludeNames, `return function (x, y, p0, p1, p2) { return +(${expr}); };`)(...preludeValues);
}

/** Walks every element of `shape` (odometer order), calling `f` with each operand's element offset. */
export function forEachOffset(shape: readonly number[], offsets: readonly number[], strides: readonly (readonly number[])[], f: (pos: number[]) => void): void {
  const nd = shape.length;
  const total = shape.reduce((a, b) => a * b, 1);
  if (total === 0) return;
  const pos = [...offsets];
  const idx = new Array<number>(nd).fill(0);
  for (let e = 0; e < total; e++) {
    f(pos);
    for (let d = nd - 1; d >= 0; d--) {
      for (let k = 0; k < pos.length; k++) pos[k]! += strides[k]![d]!;
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
      for (let k = 0; k < pos.length; k++) pos[k]! -= strides[k]![d]! * shape[d]!;
    }
  }
}

/** Storage offset of the element at flat (row-major) position e of a view. */
export function offsetAt(v: { shape: readonly number[]; strides: readonly number[]; offset: number }, e: number): number {
  let at = v.offset;
  let rem = e;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    at += (rem % v.shape[d]!) * v.strides[d]!;
    rem = Math.floor(rem / v.shape[d]!);
  }
  return at;
}
