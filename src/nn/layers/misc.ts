// Dropout, embeddings and resampling layers.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ValueError } from '../../errors.js';
import { noGrad } from '../../autograd/grad_mode.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { pyBool, pyFloat } from './repr.js';
import type { FactoryOptions } from './linear.js';

/** Zeroes elements with probability p in training (scaling the rest by 1 / (1 - p)). Example: `new nn.Dropout(0.1)`. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError('Dropout', `dropout probability has to be between 0 and 1, but got ${p}`);
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

/** A lookup table of numEmbeddings vectors of size embeddingDim, initialised N(0, 1) (the padding row zero). Example: `new nn.Embedding(1000, 64)`. */
export class Embedding extends Module {
  weight: Tensor;
  readonly paddingIdx: number | null;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: FactoryOptions & { paddingIdx?: number | null; weight?: Tensor; freeze?: boolean } = {}) {
    super();
    const p = opts.paddingIdx ?? null;
    if (p !== null && (p >= numEmbeddings || p < -numEmbeddings)) throw new ValueError('Embedding', `paddingIdx must be within numEmbeddings (${numEmbeddings}), got ${p}`);
    this.paddingIdx = p === null ? null : p < 0 ? p + numEmbeddings : p;
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

/** Sums or averages (or takes the max of) the embeddings of each bag: input [B, L], or 1-D input with offsets. */
export class EmbeddingBag extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, readonly opts: FactoryOptions & { mode?: 'sum' | 'mean' | 'max'; paddingIdx?: number | null } = {}) {
    super();
    this.weight = Parameter(fm.empty([numEmbeddings, embeddingDim], opts));
    init.normal_(this.weight);
  }
  override forward(input: Tensor, offsets?: Tensor, perSampleWeights?: Tensor): Tensor {
    const mode = this.opts.mode ?? 'mean';
    const pad = this.opts.paddingIdx ?? null;
    const bag = (ids: Tensor, w?: Tensor) => {
      let rows = F.embedding(ids, this.weight);
      const keep = pad === null ? null : ids.ne(pad).unsqueeze(-1).to(rows.dtype);
      if (w) rows = rows.mul(w.unsqueeze(-1));
      if (keep) rows = rows.mul(keep);
      if (mode === 'sum') return rows.sum(-2);
      if (mode === 'max') return rows.amax(-2);
      return keep ? rows.sum(-2).div(keep.sum(-2).clampMin(1)) : rows.mean(-2);
    };
    if (input.ndim === 2) return bag(input, perSampleWeights);
    if (!offsets) throw new ValueError('EmbeddingBag', 'offsets are required for 1-D input');
    const starts = [...(offsets.data() as BigInt64Array)].map(Number);
    const n = input.shape[0]!;
    return fm.stack(starts.map((s, i) => {
      const e = i + 1 < starts.length ? starts[i + 1]! : n;
      return bag(input.narrow(0, s, e - s), perSampleWeights?.narrow(0, s, e - s));
    }));
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}, mode='${this.opts.mode ?? 'mean'}'`;
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
  override extraRepr(): string {
    const o = this.opts;
    return `${o.size !== undefined ? `size=${JSON.stringify(o.size)}` : `scale_factor=${pyFloat(o.scaleFactor as number)}`}, mode='${o.mode ?? 'nearest'}'${o.alignCorners !== undefined ? `, align_corners=${pyBool(o.alignCorners)}` : ''}`;
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
