// Registry entries of the movement ops: new views of the same storage, no kernel launched.
// Each backward is the inverse movement (expand's is the engine's sum back to the input shape).
import { Tensor } from '../../tensor/tensor.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import { applyOp } from '../dispatch.js';
import type { OpDef } from '../op_def.js';

/** A view of x's storage with the given layout, remembering x's base for in-place checks. */
export function makeView(x: Tensor, shape: readonly number[], strides: readonly number[], offset: number): Tensor {
  x.assertLive();
  return new Tensor(x.storage, shape, strides, offset, x.base ?? x);
}

/**
 * PyTorch's stride computation for view(): walks both shapes from the last dim, matching
 * chunks of dims that are contiguous with each other. Null when no view exists (reshape copies then).
 */
export function viewStrides(oldShape: readonly number[], oldStrides: readonly number[], newShape: readonly number[]): number[] | null {
  const newStrides = new Array<number>(newShape.length).fill(1);
  if (oldShape.length === 0) return newStrides;
  if (oldShape.some((n) => n === 0)) {
    // An empty tensor views as anything of the same (zero) size.
    let s = 1;
    for (let d = newShape.length - 1; d >= 0; d--) {
      newStrides[d] = s;
      s *= Math.max(newShape[d]!, 1);
    }
    return newStrides;
  }
  let viewD = newShape.length - 1;
  let chunkBase = oldStrides[oldStrides.length - 1]!;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let td = oldShape.length - 1; td >= 0; td--) {
    tensorNumel *= oldShape[td]!;
    if (td === 0 || (oldShape[td - 1] !== 1 && oldStrides[td - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (td > 0) {
        chunkBase = oldStrides[td - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? newStrides : null;
}

/** A strided window along one dim: elements start, start + step, ... (length of them). */
export interface SliceAttrs {
  readonly dim: number;
  readonly start: number;
  readonly step: number;
  readonly length: number;
}

function sliceView(x: Tensor, { dim, start, step, length }: SliceAttrs): Tensor {
  const shape = x.shape.slice();
  const strides = x.strides.slice();
  shape[dim] = length;
  const offset = length === 0 ? x.offset : x.offset + start * x.strides[dim]!;
  strides[dim] = x.strides[dim]! * step;
  return makeView(x, shape, strides, offset);
}

export const movementDefs = {
  // The caller has checked that a view exists (viewStrides is not null).
  reshape: {
    forward: (_ctx, [x], shape) => makeView(x!, shape, viewStrides(x!.shape, x!.strides, shape)!, x!.offset),
    backward: (ctx, g) => [g.reshape(ctx.inputShape(0))],
  } satisfies OpDef<readonly number[]>,
  permute: {
    forward: (_ctx, [x], dims) => makeView(x!, dims.map((d) => x!.shape[d]!), dims.map((d) => x!.strides[d]!), x!.offset),
    backward: (_ctx, g, dims) => {
      const inverse = new Array<number>(dims.length);
      dims.forEach((d, i) => (inverse[d] = i));
      return [g.permute(inverse)];
    },
  } satisfies OpDef<readonly number[]>,
  // Expanded dims read the same element (stride 0); the engine sums the gradient back.
  expand: {
    forward: (_ctx, [x], shape) => {
      const lead = shape.length - x!.ndim;
      const strides = shape.map((n, d) => (d < lead || (x!.shape[d - lead] === 1 && n !== 1) ? 0 : x!.strides[d - lead]!));
      return makeView(x!, shape, strides, x!.offset);
    },
    backward: (_ctx, g) => [g],
  } satisfies OpDef<readonly number[]>,
  slice: {
    forward: (_ctx, [x], attrs) => sliceView(x!, attrs),
    backward: (ctx, g, attrs) => [applyOp('sliceBackward', [g], { ...attrs, shape: ctx.inputShape(0) })],
  } satisfies OpDef<SliceAttrs>,
  // The gradient of slice: zeros of the input's shape with g written into the window.
  sliceBackward: {
    forward: (_ctx, [g], attrs) => {
      const out = emptyTensor(attrs.shape, g!.dtype, g!.device);
      backendOf(g!).fill(out.view_(), 0);
      backendOf(g!).copy(sliceView(out, attrs).view_(), g!.view_());
      return out;
    },
    backward: (_ctx, gg, attrs) => [applyOp('slice', [gg], attrs)],
  } satisfies OpDef<SliceAttrs & { readonly shape: readonly number[] }>,
};
