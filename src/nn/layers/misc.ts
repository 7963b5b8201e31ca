// Dropout, embeddings and resampling layers.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ShapeError, ValueError } from '../../errors.js';
import { fmtShape } from '../../tensor/shape.js';
import { noGrad } from '../../autograd/grad_mode.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { pyFloat } from './repr.js';
import type { FactoryOptions } from './linear.js';

/** Zeroes elements with probability p in training (scaling the rest by 1 / (1 - p)). Example: `new nn.Dropout(0.1)`. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError(new.target.name, `dropout probability has to be between 0 and 1, but got ${p}`);
  }
  override forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${pyFloat(this.p)}, inplace=False`;
  }
}

/** Zeroes whole channels with probability p in training. */
export class Dropout2d extends Dropout {
  override forward(x: Tensor): Tensor {
    return F.dropout2d(x, this.p, this.training);
  }
}

/** The padding index checked against numEmbeddings and made non-negative (as PyTorch's Embedding). */
function paddingIndex(op: string, p: number | null | undefined, numEmbeddings: number): number | null {
  if (p === null || p === undefined) return null;
  if (!Number.isInteger(p) || p >= numEmbeddings || p < -numEmbeddings) throw new ValueError(op, `paddingIdx must be within numEmbeddings (${numEmbeddings}), got ${p}`);
  return p < 0 ? p + numEmbeddings : p;
}

/** A lookup table of numEmbeddings vectors of size embeddingDim, initialised N(0, 1) (the padding row zero). Example: `new nn.Embedding(1000, 64)`. */
export class Embedding extends Module {
  weight: Tensor;
  readonly paddingIdx: number | null;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: FactoryOptions & { paddingIdx?: number | null; weight?: Tensor; freeze?: boolean } = {}) {
    super();
    this.paddingIdx = paddingIndex('Embedding', opts.paddingIdx, numEmbeddings);
    if (opts.weight && (opts.weight.ndim !== 2 || opts.weight.shape[0] !== numEmbeddings || opts.weight.shape[1] !== embeddingDim)) {
      throw new ShapeError('Embedding', `weight ${fmtShape(opts.weight.shape)} does not match numEmbeddings (${numEmbeddings}) and embeddingDim (${embeddingDim})`);
    }
    this.weight = opts.weight ? Parameter(opts.weight, !opts.freeze) : Parameter(fm.empty([numEmbeddings, embeddingDim], opts));
    if (!opts.weight) {
      init.normal_(this.weight);
      if (this.paddingIdx !== null) noGrad(() => this.weight.select(0, this.paddingIdx!).fill_(0));
    }
  }
  /** An embedding holding `embeddings` (frozen by default). Example: `nn.Embedding.fromPretrained(vectors)`. */
  static fromPretrained(embeddings: Tensor, opts: { freeze?: boolean; paddingIdx?: number | null } = {}): Embedding {
    if (embeddings.ndim !== 2) throw new ValueError('Embedding.fromPretrained', `embeddings must be 2-D, got shape ${JSON.stringify(embeddings.shape)}`);
    return new Embedding(embeddings.shape[0]!, embeddings.shape[1]!, { weight: embeddings.detach().clone(), freeze: opts.freeze ?? true, paddingIdx: opts.paddingIdx });
  }
  override forward(input: Tensor): Tensor {
    return F.embedding(input, this.weight, { paddingIdx: this.paddingIdx });
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}

export type EmbeddingBagMode = 'sum' | 'mean' | 'max';

/**
 * Sums, averages or takes the max of the embeddings of each bag: input [B, L] (one bag per row), or 1-D input
 * with `offsets` (where each bag starts). Entries equal to paddingIdx count for nothing; an empty bag gives zeros.
 * Example: `new nn.EmbeddingBag(1000, 64, { mode: 'sum' })(ids, offsets)`.
 */
export class EmbeddingBag extends Module {
  weight: Tensor;
  readonly mode: EmbeddingBagMode;
  readonly paddingIdx: number | null;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: FactoryOptions & { mode?: EmbeddingBagMode; paddingIdx?: number | null } = {}) {
    super();
    this.mode = opts.mode ?? 'mean';
    if (!['sum', 'mean', 'max'].includes(this.mode)) throw new ValueError('EmbeddingBag', `mode must be 'sum', 'mean' or 'max', got '${String(this.mode)}'`);
    this.paddingIdx = paddingIndex('EmbeddingBag', opts.paddingIdx, numEmbeddings);
    this.weight = Parameter(fm.empty([numEmbeddings, embeddingDim], opts));
    init.normal_(this.weight);
    if (this.paddingIdx !== null) noGrad(() => this.weight.select(0, this.paddingIdx!).fill_(0));
  }
  override forward(input: Tensor, offsets?: Tensor | null, perSampleWeights?: Tensor | null): Tensor {
    const op = 'EmbeddingBag';
    if (perSampleWeights && this.mode !== 'sum') throw new ValueError(op, `perSampleWeights is only supported for mode='sum', got mode='${this.mode}'`);
    if (perSampleWeights && perSampleWeights.shape.join() !== input.shape.join()) throw new ShapeError(op, `perSampleWeights ${fmtShape(perSampleWeights.shape)} must have the shape of input ${fmtShape(input.shape)}`);
    if (input.ndim === 2) {
      if (offsets) throw new ValueError(op, 'offsets must be null for 2-D input (each row is a bag)');
      return this.bag(input, perSampleWeights ?? undefined);
    }
    if (input.ndim !== 1) throw new ShapeError(op, `expected 1-D input with offsets or 2-D input [bags, length], got ${fmtShape(input.shape)}`);
    if (!offsets || offsets.ndim !== 1) throw new ValueError(op, 'offsets (a 1-D tensor of where each bag starts) are required for 1-D input');
    const starts = Array.from(offsets.data() as ArrayLike<number | bigint>, Number);
    const n = input.shape[0]!;
    if (starts[0] !== 0 || starts.some((s, i) => s > n || (i > 0 && s < starts[i - 1]!))) throw new ValueError(op, `offsets must start at 0 and not decrease nor exceed the input's length (${n}), got [${starts.join(', ')}]`);
    return fm.stack(starts.map((s, i) => {
      const e = i + 1 < starts.length ? starts[i + 1]! : n;
      if (e === s) return fm.zeros([this.embeddingDim], { dtype: this.weight.dtype, device: this.weight.device });
      return this.bag(input.narrow(0, s, e - s), perSampleWeights?.narrow(0, s, e - s));
    }));
  }
  /** The reduction over the last index dim of ids. */
  private bag(ids: Tensor, w?: Tensor): Tensor {
    let rows = F.embedding(ids, this.weight);
    if (w) rows = rows.mul(w.unsqueeze(-1));
    if (this.paddingIdx === null) return this.mode === 'sum' ? rows.sum(-2) : this.mode === 'mean' ? rows.mean(-2) : rows.amax(-2);
    const keep = ids.ne(this.paddingIdx).unsqueeze(-1);
    const count = keep.sum(-2);
    if (this.mode === 'max') {
      // Padding entries are out of the running; a bag of padding only gives zeros.
      const m = fm.where(keep, rows, -Infinity).amax(-2);
      return fm.where(count.gt(0), m, 0);
    }
    const total = fm.where(keep, rows, 0).sum(-2);
    return this.mode === 'sum' ? total : total.div(count.clampMin(1).to(total.dtype));
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}, mode=${this.mode}${this.paddingIdx !== null ? `, padding_idx=${this.paddingIdx}` : ''}`;
  }
}

/** Resizes spatial dims (nearest or bilinear). Example: `new nn.Upsample({ scaleFactor: 2 })`. */
export class Upsample extends Module {
  constructor(readonly opts: { size?: number | number[]; scaleFactor?: number | number[]; mode?: 'nearest' | 'linear' | 'bilinear'; alignCorners?: boolean }) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.interpolate(x, this.opts);
  }
  /** As PyTorch's: the size or scale as Python prints them, the mode unquoted, align_corners not shown. */
  override extraRepr(): string {
    const o = this.opts;
    const py = (v: number | readonly number[], f: (x: number) => string) => (typeof v === 'number' ? f(v) : `(${v.map(f).join(', ')}${v.length === 1 ? ',' : ''})`);
    const what = o.scaleFactor !== undefined ? `scale_factor=${py(o.scaleFactor, pyFloat)}` : `size=${py(o.size ?? [], String)}`;
    return `${what}, mode=${o.mode ?? 'nearest'}`;
  }
}

/** [N, C r^2, H, W] to [N, C, H r, W r]. */
export class PixelShuffle extends Module {
  constructor(readonly upscaleFactor: number) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.pixelShuffle(x, this.upscaleFactor);
  }
  override extraRepr(): string {
    return `upscale_factor=${this.upscaleFactor}`;
  }
}
