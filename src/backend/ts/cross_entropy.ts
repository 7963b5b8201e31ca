// Cross-entropy at class indices, fused: the reference for the native kernels and what the ts
// backend runs. Each row's log-softmax at its target is computed as softmax.ts computes
// log_softmax (the max, an infinite max replaced by 0, the sum of exp in doubles) and rounded to
// the dtype, so a row's loss equals the composite's -log_softmax(x).gather(target) to the bit; the
// reduction sums the kept rows in order, in doubles.
import type { CrossEntropyReduction, View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { sliceMax, sumExp } from './softmax.js';

type Floats = Float32Array | Float64Array;

/** Per-element access to the [N, C] rows of x and the [N] target. */
function rowsOf(x: View<TsStorage>, target: View<TsStorage>) {
  const [n, c] = x.shape as [number, number];
  const T = target.storage.data as BigInt64Array;
  return {
    n, c,
    X: x.storage.data as Floats,
    xs1: x.strides[1]!,
    row: (i: number) => x.offset + i * x.strides[0]!,
    target: (i: number) => Number(T[target.offset + i * target.strides[0]!]!),
  };
}

/** The row's max and log(sum(exp(x - max))), as log_softmax computes them (softmax.ts). */
function logSumExp(X: Floats, at: number, c: number, step: number): [number, number] {
  const m = sliceMax(X, at, c, step);
  return [m, Math.log(sumExp(X, at, c, step, m))];
}

/** Backend.crossEntropy: rows, then the reduction into out; -1, or the first row with a target out of range. */
export function crossEntropy(out: View<TsStorage>, rows: View<TsStorage>, x: View<TsStorage>, target: View<TsStorage>, ignoreIndex: number, reduction: CrossEntropyReduction): number {
  const r = rowsOf(x, target);
  for (let i = 0; i < r.n; i++) {
    const t = r.target(i);
    if (t !== ignoreIndex && !(t >= 0 && t < r.c)) return i;
  }
  const L = rows.storage.data as Floats;
  let total = 0;
  let kept = 0;
  for (let i = 0; i < r.n; i++) {
    const t = r.target(i);
    const at = rows.offset + i * rows.strides[0]!;
    if (t === ignoreIndex) {
      L[at] = 0;
      continue;
    }
    const [m, lse] = logSumExp(r.X, r.row(i), r.c, r.xs1);
    // The log-probability is rounded to the dtype first (as log_softmax's output is), then negated.
    L[at] = r.X[r.row(i) + t * r.xs1]! - (m + lse);
    L[at] = -L[at]!;
    total += L[at]!;
    kept++;
  }
  if (reduction !== 'none') {
    const O = out.storage.data as Floats;
    O[out.offset] = total;
    if (reduction === 'mean') O[out.offset] = O[out.offset]! / kept;
  }
  return -1;
}

/** Backend.crossEntropyBackward: gx = s_i (softmax(x[i]) - onehot(target[i])). */
export function crossEntropyBackward(gx: View<TsStorage>, x: View<TsStorage>, target: View<TsStorage>, g: View<TsStorage>, ignoreIndex: number, reduction: CrossEntropyReduction): void {
  const r = rowsOf(x, target);
  const G = g.storage.data as Floats;
  const O = gx.storage.data as Floats;
  let kept = 0;
  for (let i = 0; i < r.n; i++) if (r.target(i) !== ignoreIndex) kept++;
  for (let i = 0; i < r.n; i++) {
    const t = r.target(i);
    const o = gx.offset + i * gx.strides[0]!;
    const os = gx.strides[1]!;
    const scale = t === ignoreIndex ? 0 : reduction === 'none' ? G[g.offset + i * g.strides[0]!]! : reduction === 'sum' ? G[g.offset]! : G[g.offset]! / kept;
    if (t === ignoreIndex) {
      for (let j = 0; j < r.c; j++) O[o + j * os] = 0;
      continue;
    }
    const [m, lse] = logSumExp(r.X, r.row(i), r.c, r.xs1);
    const shift = m + lse;
    for (let j = 0; j < r.c; j++) O[o + j * os] = scale * (Math.exp(r.X[r.row(i) + j * r.xs1]! - shift) - (j === t ? 1 : 0));
  }
}
