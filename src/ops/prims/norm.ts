// The vector p-norm as one registry entry: its forward is a composite, but its backward is
// written out so that the gradient at a zero vector is 0 (as PyTorch's), not NaN.
import type { Tensor } from '../../tensor/tensor.js';
import type { OpDef } from '../op_def.js';
import { expandGrad, type ReduceAttrs } from './reduce.js';

export interface NormAttrs extends ReduceAttrs {
  readonly p: number;
}

function normForward(x: Tensor, { p, dims, keepdim }: NormAttrs): Tensor {
  const opts = { keepdim };
  const a = x.abs();
  if (p === Infinity) return a.amax(dims, opts);
  if (p === -Infinity) return a.amin(dims, opts);
  if (p === 0) return x.ne(0).to(x.dtype).sum(dims, opts);
  if (p === 1) return a.sum(dims, opts);
  if (p === 2) return x.mul(x).sum(dims, opts).sqrt();
  return a.pow(p).sum(dims, opts).pow(1 / p);
}

export const normDefs = {
  norm: {
    forward(ctx, [x], attrs) {
      const out = normForward(x!, attrs);
      ctx.save(x!, out);
      return out;
    },
    backward(ctx, g, attrs) {
      const x = ctx.get(0);
      const { p } = attrs;
      const n = expandGrad(ctx.get(1), x.shape, attrs);
      const ge = expandGrad(g, x.shape, attrs);
      if (p === 0) return [x.mul(0)];
      if (p === 1) return [ge.mul(x.sign())];
      if (p === Infinity || p === -Infinity) {
        // Like amax of |x|: shared among the elements at the extreme, with x's sign.
        const mask = x.abs().eq(n);
        return [ge.mul(x.sign()).mul(mask).div(mask.sum(attrs.dims, { keepdim: true }))];
      }
      // d ||x||_p = sign(x) |x|^(p-1) / ||x||^(p-1); 0 where the norm is 0, and at x = 0 for p < 1.
      const scale = p === 2 ? x.div(n) : x.sign().mul(x.abs().pow(p - 1)).div(n.pow(p - 1));
      const grad = ge.mul(scale).where(n.ne(0), 0);
      return [p < 1 ? grad.where(x.ne(0), 0) : grad];
    },
  } satisfies OpDef<NormAttrs>,
};
