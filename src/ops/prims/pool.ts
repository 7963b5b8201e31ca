// 2-D max pooling as one registry entry where the backend has a kernel for it: the forward keeps
// each window's argmax (a flat position in its plane), and the backward adds the gradient there.
import type { Tensor } from '../../tensor/tensor.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { isGradEnabled } from '../../autograd/grad_mode.js';

/** Kernel size, stride, padding and dilation ([h, w] each), and the output size. */
export interface MaxPoolAttrs {
  readonly k: readonly number[];
  readonly s: readonly number[];
  readonly p: readonly number[];
  readonly d: readonly number[];
  readonly out: readonly number[];
}

export const poolDefs = {
  maxPool2d: {
    forward(ctx, [x], { k, s, p, d, out: [oh, ow] }) {
      const [n, c] = x!.shape as [number, number];
      const y = emptyTensor([n, c, oh!, ow!], x!.dtype, x!.device);
      const indices = emptyTensor([n, c, oh!, ow!], 'int64', x!.device);
      backendOf(x!).maxPool2d!(y.view_(), indices.view_(), x!.view_(), k, s, p, d);
      ctx.save(indices);
      return y;
    },
    backward(ctx, g, _attrs) {
      // d max = 1 at the argmax: the gradient of each window goes to its maximum (summed where windows share it).
      const [n, c, h, w] = ctx.inputShape(0) as [number, number, number, number];
      const indices = ctx.get(0);
      const be = backendOf(g);
      if (be.maxPool2dBackward && !isGradEnabled()) {
        // One pass (zero, then add) where no graph of the backward is recorded; else the scatter-add below.
        const gc = g.contiguous();
        const gx = emptyTensor([n, c, h, w], g.dtype, g.device);
        be.maxPool2dBackward(gx.view_(), gc.view_(), indices.view_());
        return [gx];
      }
      // A window wholly in the padding (possible with dilation) has index -1: it passes nothing on.
      const m = indices.shape[2]! * indices.shape[3]!;
      const inside = indices.ge(0);
      const flat = g.newZeros([n, c, h * w]).scatterAdd(2, indices.where(inside, 0).reshape([n, c, m]), g.where(inside, 0).reshape([n, c, m]));
      return [flat.reshape([n, c, h, w])];
    },
  } satisfies OpDef<MaxPoolAttrs>,
};
