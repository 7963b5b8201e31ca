// Registry entries of the index primitives (gather, scatter, scatterAdd), cat, argsort and matmul.
import type { Tensor } from '../../tensor/tensor.js';
import { DTypeError, ShapeError } from '../../errors.js';
import { fmtShape } from '../../tensor/shape.js';
import { backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { applyOp } from '../dispatch.js';
import { makeView } from './movement.js';
import { castRaw } from './elementwise.js';

function checkIndex(op: string, x: Tensor, dim: number, index: Tensor, src?: Tensor): void {
  if (index.dtype !== 'int64') throw new DTypeError(op, `expected an int64 index tensor, got ${index.dtype}`);
  if (index.ndim !== x.ndim && !(index.ndim <= 1 && x.ndim <= 1)) {
    throw new ShapeError(op, `index ${fmtShape(index.shape)} and input ${fmtShape(x.shape)} must have the same number of dims`);
  }
  for (let d = 0; d < index.ndim; d++) {
    if (d !== dim && index.shape[d]! > x.shape[d]!) {
      throw new ShapeError(op, `index ${fmtShape(index.shape)} is larger than input ${fmtShape(x.shape)} in dim ${d}`);
    }
    if (src && index.shape[d]! > src.shape[d]!) {
      throw new ShapeError(op, `index ${fmtShape(index.shape)} is larger than src ${fmtShape(src.shape)} in dim ${d}`);
    }
  }
}

/** out = x.clone() with src scattered in along dim (assigned or added). */
function scatterForward(op: string, accumulate: boolean, x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkIndex(op, x, dim, index, src);
  const out = emptyTensor(x.shape, x.dtype, x.device);
  backendOf(x).copy(out.view_(), x.view_());
  // The src window read is index's shape (src may be larger).
  const s = castRaw(src, x.dtype);
  const window = makeView(s, index.shape, s.strides, s.offset);
  backendOf(x).scatter(out.view_(), dim, index.view_(), window.view_(), accumulate);
  return out;
}

/**
 * The gradient of scatter's src: gathered at the index, which may cover only a corner of src;
 * the rest of src was not read and gets zeros.
 */
function srcGrad(g: Tensor, dim: number, index: Tensor, srcShape: readonly number[]): Tensor {
  let grad = g.gather(dim, index);
  for (let d = 0; d < srcShape.length; d++) {
    if (grad.shape[d] === srcShape[d]) continue;
    const shape = grad.shape.slice();
    shape[d] = srcShape[d]!;
    grad = applyOp('sliceBackward', [grad], { dim: d, start: 0, step: 1, length: grad.shape[d]!, shape });
  }
  return grad;
}

/** gatherBackward's attributes: the gathered dim and the input's shape. */
export interface GatherBackwardAttrs {
  readonly dim: number;
  readonly shape: readonly number[];
}

/** True for a matrix (last two dims) laid out column by column, as the transpose of a contiguous one. */
function columnMajor(t: Tensor): boolean {
  const n = t.ndim;
  return t.shape[n - 1]! > 1 && t.shape[n - 2]! > 1 && t.strides[n - 2] === 1 && t.strides[n - 1] === t.shape[n - 2];
}

export const indexDefs = {
  // d gather: each gathered element's gradient is added back where it came from.
  gather: {
    forward(ctx, [x, index], dim) {
      checkIndex('gather', x!, dim, index!);
      const out = emptyTensor(index!.shape, x!.dtype, x!.device);
      backendOf(x!).gather(out.view_(), x!.view_(), dim, index!.view_());
      ctx.save(index!);
      return out;
    },
    backward: (ctx, g, dim) => [applyOp('gatherBackward', [g, ctx.get(0)], { dim, shape: ctx.inputShape(0) }), null],
  } satisfies OpDef<number>,
  // zeros(shape).scatterAdd(dim, index, g) as PyTorch's gather_backward: the zeros are written and
  // added into in place (the composite copied them into a second tensor first). Its own gradient
  // gathers gg back at the index.
  gatherBackward: {
    forward(ctx, [g, index], { dim, shape }) {
      const out = emptyTensor(shape, g!.dtype, g!.device);
      const be = backendOf(g!);
      be.fill(out.view_(), 0);
      be.scatter(out.view_(), dim, index!.view_(), g!.view_(), true);
      ctx.save(index!);
      return out;
    },
    backward: (ctx, gg, { dim }) => [gg.gather(dim, ctx.get(0)), null],
  } satisfies OpDef<GatherBackwardAttrs>,
  // d scatter: overwritten elements of x get no gradient; src's elements get theirs back by gather.
  scatter: {
    forward(ctx, [x, index, src], dim) {
      ctx.save(index!);
      return scatterForward('scatter', false, x!, dim, index!, src!);
    },
    backward: (ctx, g, dim) => {
      const index = ctx.get(0);
      const [nx, , ns] = ctx.needsGrad;
      return [nx ? g.scatter(dim, index, 0) : null, null, ns ? srcGrad(g, dim, index, ctx.inputShape(2)) : null];
    },
  } satisfies OpDef<number>,
  scatterAdd: {
    forward(ctx, [x, index, src], dim) {
      ctx.save(index!);
      return scatterForward('scatterAdd', true, x!, dim, index!, src!);
    },
    backward: (ctx, g, dim) => [g, null, ctx.needsGrad[2] ? srcGrad(g, dim, ctx.get(0), ctx.inputShape(2)) : null],
  } satisfies OpDef<number>,
  // Inputs are already of one dtype and of equal shapes except along dim (checked by cat()).
  cat: {
    forward(_ctx, inputs, dim) {
      const shape = inputs[0]!.shape.slice();
      shape[dim] = inputs.reduce((n, t) => n + t.shape[dim]!, 0);
      const out = emptyTensor(shape, inputs[0]!.dtype, inputs[0]!.device);
      let at = 0;
      for (const t of inputs) {
        const len = t.shape[dim]!;
        if (len > 0) backendOf(t).copy(applyOp('slice', [out], { dim, start: at, step: 1, length: len }).view_(), t.view_());
        at += len;
      }
      return out;
    },
    backward(ctx, g, dim) {
      let at = 0;
      return ctx.needsGrad.map((need, i) => {
        const len = ctx.inputShape(i)[dim]!;
        const part = need ? g.narrow(dim, at, len) : null;
        at += len;
        return part;
      });
    },
  } satisfies OpDef<number>,
  argsort: {
    forward(_ctx, [x], { dim, descending }) {
      const out = emptyTensor(x!.shape, 'int64', x!.device);
      if (x!.numel() > 0) backendOf(x!).argsort(out.view_(), x!.view_(), dim, descending);
      return out;
    },
  } satisfies OpDef<{ dim: number; descending: boolean }>,
  // Batch dims are equal already (matmul() expands them). d(AB) = G B^T for A, A^T G for B.
  matmul: {
    forward(ctx, [a, b]) {
      if (a!.dtype !== b!.dtype) throw new DTypeError('matmul', `expected both operands to have the same dtype, got ${a!.dtype} and ${b!.dtype}`);
      const shape = [...a!.shape.slice(0, -1), b!.shape[b!.ndim - 1]!];
      const out = emptyTensor(shape, a!.dtype, a!.device);
      backendOf(a!).matmul(out.view_(), a!.view_(), b!.view_());
      ctx.save(a!, b!);
      return out;
    },
    // An operand that is a transposed view (column-major, as w.T in a linear layer) gets its
    // gradient computed transposed, so that it lands in the layout of the tensor it views and the
    // leaf's .grad needs no copy: (A^T G)^T = G^T A.
    backward(ctx, g) {
      const [na, nb] = ctx.needsGrad;
      const a = ctx.get(0);
      const b = ctx.get(1);
      const ga = na ? (columnMajor(a) ? b.matmul(g.mT).mT : g.matmul(b.mT)) : null;
      const gb = nb ? (columnMajor(b) ? g.mT.matmul(a).mT : a.mT.matmul(g)) : null;
      return [ga, gb];
    },
  } satisfies OpDef<null>,
};
