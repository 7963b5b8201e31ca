// Batched matrix product of the ts backend: i-k-j loops into a float64 row accumulator, so each
// row of B is read contiguously (when it is contiguous) and float32 sums round once.
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { forEachOffset } from './loops.js';

type Numeric = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Numbers of an operand: int64 is converted once per call (exact up to 2^53). */
function numbers(v: View<TsStorage>): Numeric | Float64Array {
  const d = v.storage.data;
  // float16 / bfloat16 (Uint16Array) never get here: backend/reduced_float.ts hands kernels float32.
  return d instanceof BigInt64Array ? Float64Array.from(d, Number) : (d as Numeric);
}

export function matmul(out: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const nd = out.shape.length;
  const m = out.shape[nd - 2]!;
  const n = out.shape[nd - 1]!;
  const k = a.shape[nd - 1]!;
  const [as0, as1] = [a.strides[nd - 2]!, a.strides[nd - 1]!];
  const [bs0, bs1] = [b.strides[nd - 2]!, b.strides[nd - 1]!];
  const [os0, os1] = [out.strides[nd - 2]!, out.strides[nd - 1]!];
  const A = numbers(a);
  const B = numbers(b);
  const O = out.storage.data;
  const acc = new Float64Array(n);
  const batch = out.shape.slice(0, nd - 2);
  const bstr = (v: View<TsStorage>) => v.strides.slice(0, nd - 2);
  forEachOffset(batch, [a.offset, b.offset, out.offset], [bstr(a), bstr(b), bstr(out)], ([ao, bo, oo]) => {
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      const arow = ao! + i * as0;
      for (let p = 0; p < k; p++) {
        const aip = A[arow + p * as1]!;
        const brow = bo! + p * bs0;
        if (bs1 === 1) for (let j = 0; j < n; j++) acc[j] += aip * B[brow + j]!;
        else for (let j = 0; j < n; j++) acc[j] += aip * B[brow + j * bs1]!;
      }
      const orow = oo! + i * os0;
      if (O instanceof BigInt64Array) for (let j = 0; j < n; j++) O[orow + j * os1] = BigInt(Math.trunc(acc[j]!));
      else for (let j = 0; j < n; j++) O[orow + j * os1] = acc[j]!;
    }
  });
}
