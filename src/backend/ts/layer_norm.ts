// Layer normalisation over the last dim of rows [M, N], fused: the reference for the native kernels
// and what the ts backend runs. Each row's mean and variance in doubles (two passes), rstd =
// 1 / sqrt(var + eps), y = (x - mean) rstd w + b; the backward, per row and per column.
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';

type Floats = Float32Array | Float64Array;

/** Element (i, j) of a 2-D view and element j of a 1-D one. */
const at2 = (v: View<TsStorage>, i: number, j: number) => v.offset + i * v.strides[0]! + j * v.strides[1]!;
const at1 = (v: View<TsStorage>, j: number) => v.offset + j * v.strides[0]!;

/** Backend.layerNorm: y [M, N], mean and rstd [M] from x [M, N], weight and bias [N] (or null). */
export function layerNorm(y: View<TsStorage>, mean: View<TsStorage>, rstd: View<TsStorage>, x: View<TsStorage>, weight: View<TsStorage> | null, bias: View<TsStorage> | null, eps: number): void {
  const [m, n] = x.shape as [number, number];
  const [X, Y, Mu, R] = [x, y, mean, rstd].map((v) => v.storage.data as Floats) as [Floats, Floats, Floats, Floats];
  const W = weight?.storage.data as Floats | undefined;
  const B = bias?.storage.data as Floats | undefined;
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += X[at2(x, i, j)]!;
    const mu = s / n;
    let q = 0;
    for (let j = 0; j < n; j++) {
      const d = X[at2(x, i, j)]! - mu;
      q += d * d;
    }
    const r = 1 / Math.sqrt(q / n + eps);
    Mu[at1(mean, i)] = mu;
    R[at1(rstd, i)] = r;
    for (let j = 0; j < n; j++) {
      let v = (X[at2(x, i, j)]! - mu) * r;
      if (W) v *= W[at1(weight!, j)]!;
      if (B) v += B[at1(bias!, j)]!;
      Y[at2(y, i, j)] = v;
    }
  }
}

/**
 * Backend.layerNormBackward: with xhat = (x - mean) rstd and h = g w (g where there is no weight),
 * gx = rstd (h - mean_j h - xhat mean_j(h xhat)) per row; gw = sum_i g xhat and gb = sum_i g per
 * column (each written when given). mean and rstd are the forward's, read as doubles.
 */
export function layerNormBackward(gx: View<TsStorage>, gw: View<TsStorage> | null, gb: View<TsStorage> | null, g: View<TsStorage>, x: View<TsStorage>, mean: View<TsStorage>, rstd: View<TsStorage>, weight: View<TsStorage> | null): void {
  const [m, n] = x.shape as [number, number];
  const [GX, G, X, Mu, R] = [gx, g, x, mean, rstd].map((v) => v.storage.data as Floats) as [Floats, Floats, Floats, Floats, Floats];
  const W = weight?.storage.data as Floats | undefined;
  const xhat = (i: number, j: number) => (X[at2(x, i, j)]! - Mu[at1(mean, i)]!) * R[at1(rstd, i)]!;
  for (let i = 0; i < m; i++) {
    let c1 = 0;
    let c2 = 0;
    for (let j = 0; j < n; j++) {
      const h = G[at2(g, i, j)]! * (W ? W[at1(weight!, j)]! : 1);
      c1 += h;
      c2 += h * xhat(i, j);
    }
    c1 /= n;
    c2 /= n;
    const r = R[at1(rstd, i)]!;
    for (let j = 0; j < n; j++) {
      const h = G[at2(g, i, j)]! * (W ? W[at1(weight!, j)]! : 1);
      GX[at2(gx, i, j)] = r * (h - c1 - xhat(i, j) * c2);
    }
  }
  for (let j = 0; j < n; j++) {
    let sw = 0;
    let sb = 0;
    for (let i = 0; i < m; i++) {
      const gv = G[at2(g, i, j)]!;
      sw += gv * xhat(i, j);
      sb += gv;
    }
    if (gw) (gw.storage.data as Floats)[at1(gw, j)] = sw;
    if (gb) (gb.storage.data as Floats)[at1(gb, j)] = sb;
  }
}
