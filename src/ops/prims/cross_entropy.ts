// Cross-entropy at class indices as registry entries, for backends with fused kernels (the
// composite in nn/losses.ts runs elsewhere): the forward is one pass per row plus the reduction,
// instead of log_softmax, gather, masks, casts and sums; the backward is one pass per row too.
// Its own backward (second derivatives) is written in ops, so every order of derivative works.
import type { Tensor } from '../../tensor/tensor.js';
import type { CrossEntropyReduction } from '../../backend/interface.js';
import { IndexError } from '../../errors.js';
import { applyOp, backendOf, emptyTensor } from '../dispatch.js';
import type { OpDef } from '../op_def.js';
import { arange } from '../../functional/creation.js';

export interface CrossEntropyAttrs {
  readonly ignoreIndex: number;
  readonly reduction: CrossEntropyReduction;
}

/** Each row's share of the incoming gradient g: 0 for an ignored row, else g[i], g, or g / kept rows. */
function rowScale(g: Tensor, keep: Tensor, reduction: CrossEntropyReduction): Tensor {
  const k = keep.to(g.dtype);
  if (reduction === 'none') return g.mul(k);
  if (reduction === 'sum') return k.mul(g);
  return k.mul(g.div(k.sum().clampMin(1)));
}

export const crossEntropyDefs = {
  // x [N, C] float, target [N] int64 (no gradient); out [N] ('none') or a scalar.
  crossEntropy: {
    forward(ctx, [x, target], { ignoreIndex, reduction }) {
      const [n, c] = x!.shape as [number, number];
      const rows = emptyTensor([n], x!.dtype, x!.device);
      const out = reduction === 'none' ? rows : emptyTensor([], x!.dtype, x!.device);
      const bad = backendOf(x!).crossEntropy!(out.view_(), rows.view_(), x!.view_(), target!.view_(), ignoreIndex, reduction);
      if (bad >= 0) throw new IndexError('crossEntropy', `target ${target!.index(bad).item()} is out of bounds for ${c} classes (row ${bad} of the input as rows [N, C])`);
      ctx.save(x!, target!);
      return out;
    },
    backward(ctx, g, attrs) {
      return [applyOp('crossEntropyBackward', [ctx.get(0), ctx.get(1), g], attrs), null];
    },
  } satisfies OpDef<CrossEntropyAttrs>,
  // gx [N, C] = s_i (softmax(x[i]) - onehot(target[i])), s_i the row's share of g.
  crossEntropyBackward: {
    forward(ctx, [x, target, g], { ignoreIndex, reduction }) {
      const gx = emptyTensor(x!.shape, x!.dtype, x!.device);
      backendOf(x!).crossEntropyBackward!(gx.view_(), x!.view_(), target!.view_(), g!.view_(), ignoreIndex, reduction);
      ctx.save(x!, target!, g!);
      return gx;
    },
    backward(ctx, gg, { ignoreIndex, reduction }) {
      const [x, target, g] = [ctx.get(0), ctx.get(1), ctx.get(2)];
      const keep = target.ne(ignoreIndex);
      const s = rowScale(g, keep, reduction).unsqueeze(1);
      const p = x.softmax(1);
      // d/dx of s (p - onehot): softmax's backward of gg * s.
      const u = gg.mul(s);
      const dx = p.mul(u.sub(u.mul(p).sum(1, { keepdim: true })));
      // d/dg: each row's sum of gg (p - onehot), through the row scale.
      const hot = arange(x.shape[1]!, { device: x.device }).eq(target.unsqueeze(1)).to(x.dtype);
      const r = gg.mul(p.sub(hot)).sum(1).mul(keep.to(x.dtype));
      const dg = reduction === 'none' ? r : reduction === 'sum' ? r.sum() : r.sum().div(keep.to(x.dtype).sum().clampMin(1));
      return [dx, null, dg];
    },
  } satisfies OpDef<CrossEntropyAttrs>,
};
