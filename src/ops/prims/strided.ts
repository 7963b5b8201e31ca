// as_strided windows over a contiguous tensor (im2col for convolution and pooling is such a view,
// copied once by the following reshape), and their adjoint: summing window elements back into
// the positions they were read from (col2im / fold), overlaps included.
import { backendOf, emptyTensor } from '../dispatch.js';
import { applyOp } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { makeView } from './movement.js';

/**
 * A window layout over a contiguous input: shape and strides in elements, and a start offset.
 * `windows` = k says the layout is convolution's [N, C, out_1..out_k, kernel_1..kernel_k] over an
 * [N, C, size_1..size_k] input, every window inside it (the backward then sums in a faster order
 * with the same result).
 */
export interface StridedAttrs {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly windows?: number;
}

type V = { shape: number[]; strides: number[]; offset: number };

/**
 * The window sum's loop order for convolution's layout: [N, C, kernel_1..kernel_k (each from its
 * last offset down), out_1..out_k]. The sum into each input element then sees its windows in the
 * same order as the plain order [N, C, out.., kernel..] (along a dim, out ascending is kernel
 * descending, since out * stride + kernel * dilation is that element's position), so the result is
 * the same to the bit, while the inner loop runs along out_k, contiguous in the gradient (for an
 * [N, 32, 11, 11, 3, 3] gradient of im2col, the plain order read it 7744 elements apart).
 */
export function windowOrder(views: V[], k: number): void {
  const perm = [0, 1, ...Array.from({ length: k }, (_, i) => 2 + k + i), ...Array.from({ length: k }, (_, i) => 2 + i)];
  for (const v of views) {
    for (let i = 2 + k; i < 2 + 2 * k; i++) {
      v.offset += (v.shape[i]! - 1) * v.strides[i]!;
      v.strides[i] = -v.strides[i]!;
    }
    v.shape = perm.map((d) => v.shape[d]!);
    v.strides = perm.map((d) => v.strides[d]!);
  }
}

export const stridedDefs = {
  // The caller passes a contiguous input and in-bounds windows.
  asStrided: {
    forward: (_ctx, [x], { shape, strides, offset }) => makeView(x!, shape, strides, x!.offset + offset),
    backward: (ctx, g, attrs) => [applyOp('asStridedBackward', [g], { ...attrs, inputShape: ctx.inputShape(0) })],
  } satisfies OpDef<StridedAttrs>,
  // out[p] = sum of g over the window elements read from position p.
  asStridedBackward: {
    forward: (_ctx, [g], attrs) => {
      const out = emptyTensor(attrs.inputShape, g!.dtype, g!.device);
      const be = backendOf(g!);
      be.fill(out.view_(), 0);
      const windows = { storage: out.storage.handle, dtype: out.dtype, shape: [...attrs.shape], strides: [...attrs.strides], offset: attrs.offset };
      const gv = g!.view_();
      const src = { ...gv, shape: [...gv.shape], strides: [...gv.strides] };
      if (attrs.windows) windowOrder([windows, src], attrs.windows);
      be.accumulate(windows, src);
      return out;
    },
    backward: (_ctx, gg, attrs) => [applyOp('asStrided', [gg.contiguous()], attrs)],
  } satisfies OpDef<StridedAttrs & { readonly inputShape: readonly number[] }>,
};
