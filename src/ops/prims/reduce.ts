// Registry entries of reductions and scans. Outputs are computed with keepdim and then viewed
// without the reduced dims when keepdim is false.
import type { Tensor } from '../../tensor/tensor.js';
import { isFloating, type DType } from '../../dtype.js';
import { ValueError } from '../../errors.js';
import type { ReduceOpName } from '../../backend/interface.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { makeView } from './movement.js';
import { arange, onesLike } from '../../functional/creation.js';
import { cat } from '../../functional/shape.js';

/** Dims (sorted, non-negative) and whether to keep them as size 1. */
export interface ReduceAttrs {
  readonly dims: readonly number[];
  readonly keepdim: boolean;
}

function keptShape(x: Tensor, dims: readonly number[]): number[] {
  return x.shape.map((n, d) => (dims.includes(d) ? 1 : n));
}

/** Drops the reduced dims of a keepdim result unless keepdim (a view, nothing copied). */
function finish(out: Tensor, { dims, keepdim }: ReduceAttrs): Tensor {
  if (keepdim) return out;
  const keep = (_: number, d: number) => !dims.includes(d);
  return makeView(out, out.shape.filter(keep), out.strides.filter(keep), out.offset);
}

/** A keepdim-shaped gradient expanded back over the input (a view). */
export function expandGrad(g: Tensor, shape: readonly number[], { dims, keepdim }: ReduceAttrs): Tensor {
  const kept = shape.map((n, d) => (dims.includes(d) ? 1 : n));
  return (keepdim ? g : g.reshape(kept)).expand(shape);
}

function reduceForward(op: ReduceOpName, outType: (x: DType) => DType) {
  return (x: Tensor, attrs: ReduceAttrs): Tensor => {
    if ((op === 'max' || op === 'min' || op === 'argmax' || op === 'argmin') && attrs.dims.some((d) => x.shape[d] === 0)) {
      throw new ValueError(op === 'max' ? 'amax' : op === 'min' ? 'amin' : op, `cannot reduce over a zero-size dimension (shape [${x.shape.join(', ')}]); the operation has no identity`);
    }
    const out = emptyTensor(keptShape(x, attrs.dims), outType(x.dtype), x.device);
    backendOf(x).reduce(op, out.view_(), x.view_(), attrs.dims);
    return finish(out, attrs);
  };
}

const sumType = (d: DType): DType => (isFloating(d) ? d : 'int64');
const sameType = (d: DType): DType => d;
const sumForward = reduceForward('sum', sumType);
const prodForward = reduceForward('prod', sumType);
const maxForward = reduceForward('max', sameType);
const minForward = reduceForward('min', sameType);

// amax/amin: the gradient is shared evenly among the elements equal to the extreme (PyTorch).
function extremeGrad(ctx: { get(i: number): Tensor }, g: Tensor, attrs: ReduceAttrs): Tensor[] {
  const x = ctx.get(0);
  const out = ctx.get(1);
  const mask = x.eq(expandGrad(out, x.shape, attrs));
  const count = mask.sum(attrs.dims, { keepdim: true });
  return [expandGrad(g, x.shape, attrs).mul(mask).div(count)];
}

/** [1, x0, x0 x1, ...] along the last dim: the product of the elements before each. */
function exclusiveCumprod(t: Tensor): Tensor {
  const n = t.shape[t.ndim - 1]!;
  const ones = onesLike(t.narrow(-1, 0, Math.min(n, 1)));
  return n <= 1 ? ones : cat([ones, t.cumprod(-1).narrow(-1, 0, n - 1)], -1);
}

function extremeDef(forward: (x: Tensor, attrs: ReduceAttrs) => Tensor): OpDef<ReduceAttrs> {
  return {
    forward: (ctx, [x], attrs) => {
      const out = forward(x!, attrs);
      ctx.save(x!, out);
      return out;
    },
    backward: extremeGrad,
  };
}

/**
 * d prod / dx_i = product of the other elements, computed as (exclusive cumprod from the left) x
 * (exclusive cumprod from the right) over the reduced elements laid in one dim: exact with zeros.
 */
function prodGrad(x: Tensor, g: Tensor, attrs: ReduceAttrs): Tensor {
  const kept = [...x.shape.keys()].filter((d) => !attrs.dims.includes(d));
  const perm = [...kept, ...attrs.dims];
  const xp = x.permute(perm);
  const lead = kept.map((d) => x.shape[d]!);
  const flat = xp.reshape([...lead, -1]);
  const left = exclusiveCumprod(flat);
  const right = exclusiveCumprod(flat.flip([-1])).flip([-1]);
  const others = left.mul(right).reshape(xp.shape);
  const inverse = new Array<number>(perm.length);
  perm.forEach((d, i) => (inverse[d] = i));
  return expandGrad(g, x.shape, attrs).mul(others.permute(inverse));
}

export const reduceDefs = {
  sum: {
    forward: (_ctx, [x], attrs) => sumForward(x!, attrs),
    backward: (ctx, g, attrs) => [expandGrad(g, ctx.inputShape(0), attrs)],
  } satisfies OpDef<ReduceAttrs>,
  prod: {
    forward: (ctx, [x], attrs) => {
      ctx.save(x!);
      return prodForward(x!, attrs);
    },
    backward: (ctx, g, attrs) => [prodGrad(ctx.get(0), g, attrs)],
  } satisfies OpDef<ReduceAttrs>,
  amax: extremeDef(maxForward),
  amin: extremeDef(minForward),
  argmax: { forward: (_ctx, [x], attrs) => reduceForward('argmax', () => 'int64')(x!, attrs) } satisfies OpDef<ReduceAttrs>,
  argmin: { forward: (_ctx, [x], attrs) => reduceForward('argmin', () => 'int64')(x!, attrs) } satisfies OpDef<ReduceAttrs>,
  all: { forward: (_ctx, [x], attrs) => reduceForward('all', () => 'bool')(x!, attrs) } satisfies OpDef<ReduceAttrs>,
  any: { forward: (_ctx, [x], attrs) => reduceForward('any', () => 'bool')(x!, attrs) } satisfies OpDef<ReduceAttrs>,
  // d cumsum: each input feeds every later output, so the gradient is the reversed cumsum.
  cumsum: {
    forward: (_ctx, [x], dim) => {
      const out = emptyTensor(x!.shape, sumType(x!.dtype), x!.device);
      backendOf(x!).scan('cumsum', out.view_(), x!.view_(), dim);
      return out;
    },
    backward: (_ctx, g, dim) => [g.flip([dim]).cumsum(dim).flip([dim])],
  } satisfies OpDef<number>,
  cumprod: {
    forward: (ctx, [x], dim) => {
      const out = emptyTensor(x!.shape, sumType(x!.dtype), x!.device);
      backendOf(x!).scan('cumprod', out.view_(), x!.view_(), dim);
      ctx.save(x!, out);
      return out;
    },
    backward: (ctx, g, dim) => [cumprodGrad(ctx.get(0), ctx.get(1), g, dim)],
  } satisfies OpDef<number>,
};

/**
 * d cumprod: without zeros, reverse_cumsum(g * out) / x. With zeros that division fails, so
 * grad_i = sum_{k>=i} g_k prod_{j<=k, j!=i} x_j is formed directly from an n x n table.
 */
function cumprodGrad(x: Tensor, out: Tensor, g: Tensor, dim: number): Tensor {
  const n = x.shape[dim]!;
  if (n === 0) return g;
  if (!x.eq(0).any().item()) return g.mul(out).flip([dim]).cumsum(dim).flip([dim]).div(x);
  // Row i of the table holds x_j for j > i and 1 elsewhere; its cumprod over j is prod_{i<j<=k} x_j.
  const xl = x.movedim(dim, -1);
  const gl = g.movedim(dim, -1);
  const idx = arange(n, { device: x.device });
  const above = idx.unsqueeze(0).gt(idx.unsqueeze(1)); // [i, j]: j > i
  const table = xl.unsqueeze(-2).where(above, 1).cumprod(-1).where(idx.unsqueeze(0).ge(idx.unsqueeze(1)), 0);
  const left = exclusiveCumprod(xl);
  const grad = table.mul(gl.unsqueeze(-2)).sum(-1).mul(left);
  return grad.movedim(-1, dim);
}
