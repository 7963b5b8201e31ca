// as_strided windows over a contiguous tensor (im2col for convolution and pooling is such a view,
// copied once by the following reshape), and their adjoint: summing window elements back into
// the positions they were read from (col2im / fold), overlaps included.
import type { Tensor } from '../../tensor/tensor.js';
import { numelOf } from '../../tensor/shape.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import { applyOp } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { makeView } from './movement.js';
import { fromValues } from '../../functional/creation.js';

/** A window layout over a contiguous input: shape and strides in elements, and a start offset. */
export interface StridedAttrs {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The input's linear position of every window element (int64, window order), cached per layout. */
const positionCache = new Map<string, Tensor>();
function positions(attrs: StridedAttrs, inputNumel: number, device: Tensor['device']): Tensor {
  const key = `${device}|${inputNumel}|${attrs.shape}|${attrs.strides}|${attrs.offset}`;
  let p = positionCache.get(key);
  if (!p || p.isDisposed) {
    const n = numelOf(attrs.shape);
    const out = new BigInt64Array(n);
    const idx = new Array<number>(attrs.shape.length).fill(0);
    let at = attrs.offset;
    for (let e = 0; e < n; e++) {
      out[e] = BigInt(at);
      for (let d = attrs.shape.length - 1; d >= 0; d--) {
        at += attrs.strides[d]!;
        if (++idx[d]! < attrs.shape[d]!) break;
        idx[d] = 0;
        at -= attrs.strides[d]! * attrs.shape[d]!;
      }
    }
    p = fromValues(out, [n], 'int64', device);
    if (positionCache.size > 64) positionCache.clear();
    positionCache.set(key, p);
  }
  return p;
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
      const n = numelOf(attrs.inputShape);
      const out = emptyTensor([n], g!.dtype, g!.device);
      const be = backendOf(g!);
      be.fill(out.view_(), 0);
      const flatG = g!.isContiguous() ? g! : applyOp('clone', [g!], null);
      const gv = flatG.view_();
      const pos = positions(attrs, n, g!.device);
      be.scatter(out.view_(), 0, pos.view_(), { ...gv, shape: [pos.numel()], strides: [1] }, true);
      return applyOp('reshape', [out], attrs.inputShape);
    },
    backward: (_ctx, gg, attrs) => [applyOp('asStrided', [gg.contiguous()], attrs)],
  } satisfies OpDef<StridedAttrs & { readonly inputShape: readonly number[] }>,
};
