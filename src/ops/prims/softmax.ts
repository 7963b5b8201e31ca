// softmax / logSoftmax as one registry entry: a fused kernel where the backend has one (one pass
// for the max, one for the sum, one for the outputs, instead of seven kernels and their temporaries),
// else the composite below; the backward is written out, on the saved output.
import type { Tensor } from '../../tensor/tensor.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { where } from '../../functional/math.js';

export interface SoftmaxAttrs {
  readonly dim: number;
  readonly log: boolean;
}

/** softmax as reductions and elementwise ops: the fallback, and the reference the fused kernels are tested against. */
export function softmaxComposite(x: Tensor, dim: number, log: boolean): Tensor {
  // NOTE: the max is subtracted so that exp never overflows; an infinite max is replaced by 0.
  const m = x.amax(dim, { keepdim: true }).detach();
  const shifted = x.sub(where(m.isinf(), 0, m));
  if (log) return shifted.sub(shifted.exp().sum(dim, { keepdim: true }).log());
  const e = shifted.exp();
  return e.div(e.sum(dim, { keepdim: true }));
}

export const softmaxDefs = {
  softmax: {
    forward(ctx, [x], { dim, log }) {
      const be = backendOf(x!);
      let out: Tensor;
      if (be.softmax) {
        out = emptyTensor(x!.shape, x!.dtype, x!.device);
        be.softmax(out.view_(), x!.view_(), dim, log);
      } else {
        out = softmaxComposite(x!, dim, log);
      }
      ctx.save(out);
      return out;
    },
    backward(ctx, g, { dim, log }) {
      const y = ctx.get(0);
      // d softmax: y (g - sum(g y)); d log_softmax: g - softmax sum(g) with softmax = exp(y).
      if (log) return [g.sub(y.exp().mul(g.sum(dim, { keepdim: true })))];
      return [y.mul(g.sub(g.mul(y).sum(dim, { keepdim: true })))];
    },
  } satisfies OpDef<SoftmaxAttrs>,
};
