// Batched matrix product of the ts backend: i-k-j loops into a float64 row accumulator.
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { forEachOffset } from './loops.js';

export function matmul(out: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const nd = out.shape.length;
  const m = out.shape[nd - 2]!;
  const n = out.shape[nd - 1]!;
  const k = a.shape[nd - 1]!;
  const [as0, as1] = [a.strides[nd - 2]!, a.strides[nd - 1]!];
  const [bs0, bs1] = [b.strides[nd - 2]!, b.strides[nd - 1]!];
  const [os0, os1] = [out.strides[nd - 2]!, out.strides[nd - 1]!];
  const A = a.storage.data;
  const B = b.storage.data;
  const O = out.storage.data;
  const bigA = a.dtype === 'int64';
  const bigB = b.dtype === 'int64';
  const bigO = out.dtype === 'int64';
  const num = (arr: typeof A, i: number, big: boolean) => (big ? Number(arr[i]) : (arr[i] as number));
  const acc = new Float64Array(n);
  const batch = out.shape.slice(0, nd - 2);
  const bstr = (v: View<TsStorage>) => v.strides.slice(0, nd - 2);
  forEachOffset(batch, [a.offset, b.offset, out.offset], [bstr(a), bstr(b), bstr(out)], ([ao, bo, oo]) => {
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let p = 0; p < k; p++) {
        const aip = num(A, ao! + i * as0 + p * as1, bigA);
        const brow = bo! + p * bs0;
        for (let j = 0; j < n; j++) acc[j] += aip * num(B, brow + j * bs1, bigB);
      }
      const orow = oo! + i * os0;
      for (let j = 0; j < n; j++) {
        if (bigO) (O as BigInt64Array)[orow + j * os1] = BigInt(Math.trunc(acc[j]!));
        else (O as Float64Array)[orow + j * os1] = acc[j]!;
      }
    }
  });
}
