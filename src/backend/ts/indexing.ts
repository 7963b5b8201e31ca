// Index kernels of the ts backend: gather, scatter (assign or add) and a stable argsort.
import { IndexError } from '../../errors.js';
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { forEachOffset } from './loops.js';

function checkedIndex(op: string, raw: number | bigint, size: number, dim: number): number {
  const i = Number(raw);
  if (i < 0 || i >= size) throw new IndexError(op, `index ${i} is out of bounds for dimension ${dim} with size ${size}`);
  return i;
}

function asNumber(arr: ArrayLike<number | bigint>, i: number): number {
  return Number(arr[i]!);
}

export function gather(out: View<TsStorage>, x: View<TsStorage>, dim: number, index: View<TsStorage>): void {
  const X = x.storage.data as ArrayLike<number | bigint>;
  const O = out.storage.data as unknown as (number | bigint)[];
  const I = index.storage.data as ArrayLike<number | bigint>;
  const size = x.shape[dim]!;
  const xsd = x.strides[dim]!;
  // x's strides with dim's stride zeroed: the index supplies that coordinate.
  const xs = x.strides.map((s, d) => (d === dim ? 0 : s));
  forEachOffset(index.shape, [out.offset, x.offset, index.offset], [out.strides, xs, index.strides], ([oi, xi, ii]) => {
    O[oi!] = X[xi! + checkedIndex('gather', I[ii!]!, size, dim) * xsd]!;
  });
}

export function scatter(out: View<TsStorage>, dim: number, index: View<TsStorage>, src: View<TsStorage>, accumulate: boolean): void {
  const S = src.storage.data as ArrayLike<number | bigint>;
  const O = out.storage.data as unknown as (number | bigint)[];
  const I = index.storage.data as ArrayLike<number | bigint>;
  const size = out.shape[dim]!;
  const osd = out.strides[dim]!;
  const os = out.strides.map((s, d) => (d === dim ? 0 : s));
  const big = out.dtype === 'int64';
  const isBool = out.dtype === 'bool';
  forEachOffset(index.shape, [out.offset, src.offset, index.offset], [os, src.strides, index.strides], ([oi, si, ii]) => {
    const at = oi! + checkedIndex('scatter', I[ii!]!, size, dim) * osd;
    if (!accumulate) O[at] = S[si!]!;
    else if (big) O[at] = (O[at] as bigint) + (S[si!] as bigint);
    else if (isBool) O[at] = (O[at] as number) || (S[si!] as number) ? 1 : 0;
    else O[at] = (O[at] as number) + (S[si!] as number);
  });
}

export function argsort(out: View<TsStorage>, x: View<TsStorage>, dim: number, descending: boolean): void {
  const X = x.storage.data as ArrayLike<number | bigint>;
  const O = out.storage.data as BigInt64Array;
  const n = x.shape[dim]!;
  const xsd = x.strides[dim]!;
  const osd = out.strides[dim]!;
  const rowShape = x.shape.map((s, d) => (d === dim ? 1 : s));
  const keys = new Float64Array(n);
  const order = new Array<number>(n);
  // NaN sorts above every number; Array.prototype.sort is stable, so ties keep their order.
  const cmp = (i: number, j: number): number => {
    const a = keys[i]!;
    const b = keys[j]!;
    const c = a !== a ? (b !== b ? 0 : 1) : b !== b ? -1 : a < b ? -1 : a > b ? 1 : 0;
    return descending ? -c : c;
  };
  forEachOffset(rowShape, [x.offset, out.offset], [x.strides, out.strides], ([xi, oi]) => {
    for (let j = 0; j < n; j++) {
      keys[j] = asNumber(X, xi! + j * xsd);
      order[j] = j;
    }
    order.sort(cmp);
    for (let j = 0; j < n; j++) O[oi! + j * osd] = BigInt(order[j]!);
  });
}

/** out[i] += src[i] in order (out may repeat elements: overlapping windows). */
export function accumulate(out: View<TsStorage>, src: View<TsStorage>): void {
  const O = out.storage.data as unknown as (number | bigint)[];
  const S = src.storage.data as ArrayLike<number | bigint>;
  const big = out.dtype === 'int64';
  const isBool = out.dtype === 'bool';
  forEachOffset(src.shape, [out.offset, src.offset], [out.strides, src.strides], ([oi, si]) => {
    if (big) O[oi!] = (O[oi!] as bigint) + (S[si!] as bigint);
    else if (isBool) O[oi!] = (O[oi!] as number) || (S[si!] as number) ? 1 : 0;
    else O[oi!] = (O[oi!] as number) + (S[si!] as number);
  });
}
