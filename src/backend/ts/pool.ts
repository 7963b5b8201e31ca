// 2-D max pooling with indices over a strided view: the reference for the native kernel and what
// the ts backend runs (Backend.maxPool2d).
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';

/** out/indices [N, C, OH, OW] (contiguous) from x [N, C, H, W]; k, s, p, d are [h, w] pairs. */
export function maxPool2d(out: View<TsStorage>, indices: View<TsStorage>, x: View<TsStorage>, k: readonly number[], s: readonly number[], p: readonly number[], d: readonly number[]): void {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [oh, ow] = [out.shape[2]!, out.shape[3]!];
  const X = x.storage.data as Float32Array | Float64Array;
  const Y = out.storage.data as Float32Array | Float64Array;
  const I = indices.storage.data as BigInt64Array;
  let o = out.offset;
  let io = indices.offset;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = x.offset + b * x.strides[0]! + ch * x.strides[1]!;
      for (let i = 0; i < oh; i++) {
        const h0 = i * s[0]! - p[0]!;
        for (let j = 0; j < ow; j++) {
          const w0 = j * s[1]! - p[1]!;
          // PyTorch's scan: the first in-bounds element is the start, then (v > max || v is NaN) wins.
          let best = -Infinity;
          let arg = -1;
          for (let a = 0; a < k[0]!; a++) {
            const hh = h0 + a * d[0]!;
            if (hh < 0 || hh >= h) continue;
            for (let e = 0; e < k[1]!; e++) {
              const ww = w0 + e * d[1]!;
              if (ww < 0 || ww >= w) continue;
              if (arg < 0) arg = hh * w + ww;
              const v = X[plane + hh * x.strides[2]! + ww * x.strides[3]!]!;
              if (v > best || v !== v) {
                best = v;
                arg = hh * w + ww;
              }
            }
          }
          Y[o++] = best;
          I[io++] = BigInt(arg);
        }
      }
    }
  }
}

/**
 * The gradient of max pooling (Backend.maxPool2dBackward): gx [N, C, H, W] (contiguous) is zeroed,
 * then each g [N, C, OH, OW] (contiguous) element added at its window's maximum, in order; a window
 * wholly in the padding (index -1) passes nothing on.
 */
export function maxPool2dBackward(gx: View<TsStorage>, g: View<TsStorage>, indices: View<TsStorage>): void {
  const [n, c, h, w] = gx.shape as [number, number, number, number];
  const no = g.shape[2]! * g.shape[3]!;
  const GX = gx.storage.data as Float32Array | Float64Array;
  const G = g.storage.data as Float32Array | Float64Array;
  const I = indices.storage.data as BigInt64Array;
  GX.fill(0, gx.offset, gx.offset + n * c * h * w);
  for (let q = 0; q < n * c; q++) {
    const plane = gx.offset + q * h * w;
    for (let o = 0; o < no; o++) {
      const at = Number(I[indices.offset + q * no + o]!);
      if (at >= 0) GX[plane + at] += G[g.offset + q * no + o]!;
    }
  }
}
