// softmax / logSoftmax as one registry entry: a fused kernel where the backend has one (one pass
// for the max, one for the sum, one for the outputs, instead of seven kernels and their temporaries),
// else the composite below. Its gradient, from the saved output, is a second entry (PyTorch's
// _softmax_backward_data): one fused kernel where the backend has one, instead of four kernels and
// their temporaries, and written in ops for its own gradient, so every order of derivative works.
import type { Tensor } from '../../tensor/tensor.js';
import { applyOp, backendOf, emptyTensor } from '../dispatch.js';
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

/** The gradient of softmax (log-softmax) from its output y and the incoming gradient g, in ops. */
export function softmaxBackwardComposite(y: Tensor, g: Tensor, dim: number, log: boolean): Tensor {
  // d softmax: y (g - sum(g y)); d log_softmax: g - softmax sum(g) with softmax = exp(y).
  if (log) return g.sub(y.exp().mul(g.sum(dim, { keepdim: true })));
  return y.mul(g.sub(g.mul(y).sum(dim, { keepdim: true })));
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
    backward: (ctx, g, attrs) => [applyOp('softmaxBackward', [ctx.get(0), g], attrs)],
  } satisfies OpDef<SoftmaxAttrs>,
  // gx from the output y and the gradient g (one shape; g in y's dtype unless a hook or a root gradient gave another).
  softmaxBackward: {
    forward(ctx, [y, g], { dim, log }) {
      const be = backendOf(y!);
      ctx.save(y!, g!);
      if (!be.softmaxBackward || g!.dtype !== y!.dtype) return softmaxBackwardComposite(y!, g!, dim, log);
      const gx = emptyTensor(y!.shape, y!.dtype, y!.device);
      be.softmaxBackward(gx.view_(), y!.view_(), g!.view_(), dim, log);
      return gx;
    },
    // With p = exp(y), S = sum(g) for log-softmax: d/dg = gg - sum(gg p), d/dy = -gg p S.
    // With S = sum(g y) for softmax: d/dg = y (gg - sum(gg y)), d/dy = gg (g - S) - g sum(gg y).
    backward(ctx, gg, { dim, log }) {
      const [y, g] = [ctx.get(0), ctx.get(1)];
      const [ny, ng] = ctx.needsGrad;
      const sum = (t: Tensor) => t.sum(dim, { keepdim: true });
      if (log) {
        const p = y.exp();
        return [ny ? gg.mul(p).mul(sum(g)).neg() : null, ng ? gg.sub(sum(gg.mul(p))) : null];
      }
      const ggy = sum(gg.mul(y));
      return [ny ? gg.mul(g.sub(sum(g.mul(y)))).sub(g.mul(ggy)) : null, ng ? y.mul(gg.sub(ggy)) : null];
    },
  } satisfies OpDef<SoftmaxAttrs>,
};
