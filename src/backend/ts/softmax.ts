// Softmax and log-softmax along one dim of a float view, fused: the reference for the native
// kernels and what the ts backend runs. Each slice along the dim: its max, the sum of exp(x - max),
// then exp(x - max) / sum (or x - max - log(sum)), in doubles.
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { coalesce, forEachOffset } from './loops.js';

/**
 * out = softmax(x) (or log_softmax when `log`) along `dim`; out and x have one shape and a float
 * dtype. NOTE: an infinite max is replaced by 0 before subtracting (as the composite does), so a
 * slice of -inf gives NaN (0/0) and never inf - inf.
 */
export function softmax(out: View<TsStorage>, x: View<TsStorage>, dim: number, log: boolean): void {
  if (x.shape.some((s) => s === 0)) return;
  const n = x.shape[dim]!;
  const xs = x.strides[dim]!;
  const os = out.strides[dim]!;
  const X = x.storage.data as Float32Array | Float64Array;
  const O = out.storage.data as Float32Array | Float64Array;
  const others = [...x.shape.keys()].filter((d) => d !== dim);
  const c = coalesce(others.map((d) => x.shape[d]!), [others.map((d) => x.strides[d]!), others.map((d) => out.strides[d]!)]);
  forEachOffset(c.shape, [x.offset, out.offset], c.strides, ([xi, oi]) => {
    const m = sliceMax(X, xi!, n, xs);
    const s = sumExp(X, xi!, n, xs, m);
    if (log) {
      const shift = m + Math.log(s);
      for (let j = 0; j < n; j++) O[oi! + j * os] = X[xi! + j * xs]! - shift;
    } else {
      for (let j = 0; j < n; j++) O[oi! + j * os] = Math.exp(X[xi! + j * xs]! - m) / s;
    }
  });
}

/**
 * gx = the gradient of softmax (log-softmax when `log`) along `dim`, from its output y and the
 * incoming gradient g: g - exp(y) sum(g), or y (g - sum(g y)); each slice's sum in doubles, in order.
 */
export function softmaxBackward(gx: View<TsStorage>, y: View<TsStorage>, g: View<TsStorage>, dim: number, log: boolean): void {
  if (y.shape.some((s) => s === 0)) return;
  const n = y.shape[dim]!;
  const [ys, gs, os] = [y.strides[dim]!, g.strides[dim]!, gx.strides[dim]!];
  const Y = y.storage.data as Float32Array | Float64Array;
  const G = g.storage.data as Float32Array | Float64Array;
  const O = gx.storage.data as Float32Array | Float64Array;
  const others = [...y.shape.keys()].filter((d) => d !== dim);
  const c = coalesce(others.map((d) => y.shape[d]!), [y, g, gx].map((v) => others.map((d) => v.strides[d]!)));
  forEachOffset(c.shape, [y.offset, g.offset, gx.offset], c.strides, ([yi, gi, oi]) => {
    let s = 0;
    if (log) {
      for (let j = 0; j < n; j++) s += G[gi! + j * gs]!;
      for (let j = 0; j < n; j++) O[oi! + j * os] = G[gi! + j * gs]! - Math.exp(Y[yi! + j * ys]!) * s;
    } else {
      for (let j = 0; j < n; j++) s += G[gi! + j * gs]! * Y[yi! + j * ys]!;
      for (let j = 0; j < n; j++) O[oi! + j * os] = Y[yi! + j * ys]! * (G[gi! + j * gs]! - s);
    }
  });
}

/** A slice's max as softmax subtracts it: NaN if the slice has one, 0 if the max is infinite. */
export function sliceMax(X: Float32Array | Float64Array, at: number, n: number, step: number): number {
  let m = -Infinity;
  let nan = false;
  for (let j = 0; j < n; j++) {
    const v = X[at + j * step]!;
    if (v > m) m = v;
    else if (v !== v) nan = true;
  }
  if (nan) return NaN;
  return Number.isFinite(m) ? m : 0;
}

/** The sum of exp(x - m) over a slice, in order, in doubles. */
export function sumExp(X: Float32Array | Float64Array, at: number, n: number, step: number, m: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(X[at + j * step]! - m);
  return s;
}
