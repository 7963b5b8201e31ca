// Layer normalisation over the last dim of rows [M, N] as one registry entry, for backends with
// fused kernels (the composite in nn/functional.ts runs elsewhere): the forward is two passes per
// row instead of mean, variance, subtract, rsqrt, multiply and add with their temporaries, and
// keeps each row's mean and rstd; the backward is one kernel too. When a graph of the backward is
// being recorded (createGraph, for second derivatives) the backward is written in ops instead.
import type { Tensor } from '../../tensor/tensor.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { isGradEnabled } from '../../autograd/grad_mode.js';

export interface LayerNormAttrs {
  readonly eps: number;
  /** Whether a weight, then a bias, follow x among the inputs. */
  readonly weight: boolean;
  readonly bias: boolean;
}

/** The backward in ops, from x alone (mean and rstd recomputed, so that they are differentiated too). */
function backwardInOps(x: Tensor, w: Tensor | null, g: Tensor, eps: number): [Tensor, Tensor, Tensor] {
  const xc = x.sub(x.mean(1, { keepdim: true }));
  const r = xc.square().mean(1, { keepdim: true }).add(eps).rsqrt();
  const xhat = xc.mul(r);
  const h = w ? g.mul(w) : g;
  const gx = r.mul(h.sub(h.mean(1, { keepdim: true })).sub(xhat.mul(h.mul(xhat).mean(1, { keepdim: true }))));
  return [gx, g.mul(xhat).sum(0), g.sum(0)];
}

export const layerNormDefs = {
  // x [M, N] float, then weight [N] and bias [N] where attrs say so; y [M, N].
  layerNorm: {
    forward(ctx, [x, ...rest], attrs) {
      const [m] = x!.shape as [number, number];
      const w = attrs.weight ? rest[0]! : null;
      const b = attrs.bias ? rest[attrs.weight ? 1 : 0]! : null;
      const y = emptyTensor(x!.shape, x!.dtype, x!.device);
      const mean = emptyTensor([m], x!.dtype, x!.device);
      const rstd = emptyTensor([m], x!.dtype, x!.device);
      backendOf(x!).layerNorm!(y.view_(), mean.view_(), rstd.view_(), x!.view_(), w?.view_() ?? null, b?.view_() ?? null, attrs.eps);
      ctx.save(x!, w, mean, rstd);
      return y;
    },
    backward(ctx, g, attrs) {
      const [x, w] = [ctx.get(0), attrs.weight ? ctx.get(1) : null];
      // One gradient per input: x, then the weight and the bias where present.
      const grads = (gx: Tensor, gw: Tensor | null, gb: Tensor | null) => [gx, ...(attrs.weight ? [gw] : []), ...(attrs.bias ? [gb] : [])];
      if (isGradEnabled()) return grads(...backwardInOps(x, w, g, attrs.eps));
      const n = x.shape[1]!;
      const gx = emptyTensor(x.shape, x.dtype, x.device);
      const gw = attrs.weight && ctx.needsGrad[1] ? emptyTensor([n], x.dtype, x.device) : null;
      const gb = attrs.bias && ctx.needsGrad[attrs.weight ? 2 : 1] ? emptyTensor([n], x.dtype, x.device) : null;
      backendOf(x).layerNormBackward!(gx.view_(), gw?.view_() ?? null, gb?.view_() ?? null, g.view_(), x.view_(), ctx.get(2).view_(), ctx.get(3).view_(), w?.view_() ?? null);
      return grads(gx, gw, gb);
    },
  } satisfies OpDef<LayerNormAttrs>,
};
