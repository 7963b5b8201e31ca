// 2-D convolution as one registry entry, for backends with fused kernels (the composite in
// functional/conv.ts, im2col and GEMM, runs elsewhere): the forward packs the image's windows
// straight into the GEMM, so the columns are never written out, and the backward computes the
// input's, weight's and bias's gradients in one kernel. When a graph of the backward is being
// recorded (createGraph, for second derivatives) the backward is written in ops instead: the
// composite's gradient, which functional/conv.ts registers here (it holds the window helpers).
import type { Tensor } from '../../tensor/tensor.js';
import type { ConvGeometry } from '../../backend/interface.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { isGradEnabled } from '../../autograd/grad_mode.js';

export interface Conv2dAttrs extends ConvGeometry {
  /** Whether a bias [OC] follows x and the weight among the inputs. */
  readonly bias: boolean;
}

type BackwardInOps = (x: Tensor, w: Tensor, g: Tensor, attrs: Conv2dAttrs) => [Tensor, Tensor, Tensor];
let backwardInOps: BackwardInOps | null = null;

/** Registers the gradient in ops (called once by functional/conv.ts as it loads). */
export function setConv2dBackwardInOps(f: BackwardInOps): void {
  backwardInOps = f;
}

export const convDefs = {
  // x [N, C, H, W] and w [OC, C / groups, KH, KW], contiguous floats, then bias [OC] where attrs say so.
  conv2d: {
    forward(ctx, [x, w, bias], attrs) {
      const [n] = x!.shape as [number];
      const y = emptyTensor([n, w!.shape[0]!, ...attrs.out], x!.dtype, x!.device);
      backendOf(x!).conv2d!(y.view_(), x!.view_(), w!.view_(), attrs.bias ? bias!.view_() : null, attrs);
      ctx.save(x!, w!);
      return y;
    },
    backward(ctx, g, attrs) {
      const [x, w] = [ctx.get(0), ctx.get(1)];
      const grads = (gx: Tensor | null, gw: Tensor | null, gb: Tensor | null) => [gx, gw, ...(attrs.bias ? [gb] : [])];
      if (isGradEnabled()) return grads(...backwardInOps!(x, w, g, attrs));
      const [needX, needW, needB] = [ctx.needsGrad[0], ctx.needsGrad[1], attrs.bias && ctx.needsGrad[2]];
      const gx = needX ? emptyTensor(x.shape, x.dtype, x.device) : null;
      const gw = needW ? emptyTensor(w.shape, w.dtype, w.device) : null;
      const gb = needB ? emptyTensor([w.shape[0]!], w.dtype, w.device) : null;
      if (gx || gw || gb) backendOf(x).conv2dBackward!(gx?.view_() ?? null, gw?.view_() ?? null, gb?.view_() ?? null, g.contiguous().view_(), x.view_(), w.view_(), attrs);
      return grads(gx, gw, gb);
    },
  } satisfies OpDef<Conv2dAttrs>,
};
