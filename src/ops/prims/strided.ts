// as_strided windows over a contiguous tensor (im2col for convolution and pooling is such a view,
// copied once by the following reshape), and their adjoint: summing window elements back into
// the positions they were read from (col2im / fold), overlaps included.
import { backendOf, emptyTensor } from '../dispatch.js';
import { applyOp } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { makeView } from './movement.js';

/** A window layout over a contiguous input: shape and strides in elements, and a start offset. */
export interface StridedAttrs {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
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
      const windows = { storage: out.storage.handle, dtype: out.dtype, shape: attrs.shape, strides: attrs.strides, offset: attrs.offset };
      be.accumulate(windows, g!.view_());
      return out;
    },
    backward: (_ctx, gg, attrs) => [applyOp('asStrided', [gg.contiguous()], attrs)],
  } satisfies OpDef<StridedAttrs & { readonly inputShape: readonly number[] }>,
};
