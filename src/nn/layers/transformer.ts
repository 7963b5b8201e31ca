// Attention and transformers: MultiheadAttention and the Transformer encoder/decoder stack, with
// PyTorch's parameter names (self_attn.in_proj_weight, linear1, norm1, ...) and mask conventions
// (a bool attn_mask or key_padding_mask marks what may NOT be attended; a float mask is added).
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ShapeError, ValueError } from '../../errors.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { ModuleList } from '../containers.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { Linear, type FactoryOptions } from './linear.js';
import { LayerNorm } from './norm.js';
import { Dropout } from './misc.js';

export interface MultiheadAttentionOptions extends FactoryOptions {
  dropout?: number;
  bias?: boolean;
  kdim?: number;
  vdim?: number;
  batchFirst?: boolean;
}

export interface AttentionCallOptions {
  /** [N, S] bool (true: ignore that key) or float (added). */
  keyPaddingMask?: Tensor | null;
  needWeights?: boolean;
  /** [L, S] or [N * numHeads, L, S]: bool (true: not allowed) or float (added). */
  attnMask?: Tensor | null;
  averageAttnWeights?: boolean;
  isCausal?: boolean;
}

/** A bool "not allowed" mask as an additive float mask (-inf where true). */
function additive(mask: Tensor, dtype: fm.DType): Tensor {
  return mask.dtype === 'bool' ? fm.zeros(mask.shape, { dtype, device: mask.device }).maskedFill(mask, -Infinity) : mask.to(dtype);
}

/**
 * Attention over numHeads heads: softmax(Q K^T / sqrt(d)) V with the inputs projected by
 * in_proj_weight (or q/k/v_proj_weight when kdim/vdim differ) and the result by out_proj.
 * Example: `const [y, w] = new nn.MultiheadAttention(64, 4)(q, k, v)`.
 */
export class MultiheadAttention extends Module {
  in_proj_weight: Tensor | null = null;
  q_proj_weight: Tensor | null = null;
  k_proj_weight: Tensor | null = null;
  v_proj_weight: Tensor | null = null;
  in_proj_bias: Tensor | null;
  out_proj: Linear;
  readonly kdim: number;
  readonly vdim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly headDim: number;

  constructor(readonly embedDim: number, readonly numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    this.kdim = opts.kdim ?? embedDim;
    this.vdim = opts.vdim ?? embedDim;
    this.dropout = opts.dropout ?? 0;
    this.batchFirst = opts.batchFirst ?? false;
    this.headDim = embedDim / numHeads;
    if (!Number.isInteger(this.headDim)) throw new ValueError('MultiheadAttention', `embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    const same = this.kdim === embedDim && this.vdim === embedDim;
    if (same) {
      this.in_proj_weight = Parameter(fm.empty([3 * embedDim, embedDim], opts));
    } else {
      this.q_proj_weight = Parameter(fm.empty([embedDim, embedDim], opts));
      this.k_proj_weight = Parameter(fm.empty([embedDim, this.kdim], opts));
      this.v_proj_weight = Parameter(fm.empty([embedDim, this.vdim], opts));
    }
    this.in_proj_bias = opts.bias === false ? null : Parameter(fm.zeros([3 * embedDim], opts));
    this.out_proj = new Linear(embedDim, embedDim, { ...opts, bias: opts.bias !== false });
    // PyTorch's _reset_parameters: xavier_uniform for the input projections, zero biases.
    for (const w of [this.in_proj_weight, this.q_proj_weight, this.k_proj_weight, this.v_proj_weight]) if (w) init.xavierUniform_(w);
    if (this.out_proj.bias) init.zeros_(this.out_proj.bias);
  }

  /** Returns [output, attention weights (averaged over heads unless averageAttnWeights is false) or null]. */
  override forward(query: Tensor, key: Tensor, value: Tensor, opts: AttentionCallOptions = {}): [Tensor, Tensor | null] {
    const batched = query.ndim === 3;
    const toLNE = (t: Tensor) => (!batched ? t.unsqueeze(1) : this.batchFirst ? t.transpose(0, 1) : t);
    const [q0, k0, v0] = [toLNE(query), toLNE(key), toLNE(value)];
    const [L, N, E] = q0.shape as [number, number, number];
    const S = k0.shape[0]!;
    if (E !== this.embedDim) throw new ShapeError('MultiheadAttention', `was expecting embedding dimension of ${this.embedDim}, but got ${E}`);
    if (k0.shape[0] !== v0.shape[0] || k0.shape[1] !== N || v0.shape[1] !== N) throw new ShapeError('MultiheadAttention', `key ${JSON.stringify(key.shape)} and value ${JSON.stringify(value.shape)} must share batch and sequence sizes with each other and query ${JSON.stringify(query.shape)}`);
    const E3 = this.embedDim;
    const b = this.in_proj_bias;
    const bpart = (i: number) => (b ? b.narrow(0, i * E3, E3) : null);
    const w = (i: number) => (this.in_proj_weight ? this.in_proj_weight.narrow(0, i * E3, E3) : [this.q_proj_weight, this.k_proj_weight, this.v_proj_weight][i]!);
    const heads = (t: Tensor, len: number) => t.reshape([len, N * this.numHeads, this.headDim]).transpose(0, 1); // [N*H, len, d]
    const q = heads(F.linear(q0, w(0), bpart(0)), L);
    const k = heads(F.linear(k0, w(1), bpart(1)), S);
    const v = heads(F.linear(v0, w(2), bpart(2)), S);
    let mask: Tensor | null = null;
    if (opts.isCausal && !opts.attnMask) mask = fm.ones([L, S], { dtype: 'bool', device: q.device }).triu(1);
    if (opts.attnMask) {
      const m = opts.attnMask;
      if (m.ndim === 2 ? m.shape.join() !== [L, S].join() : m.shape.join() !== [N * this.numHeads, L, S].join()) {
        throw new ShapeError('MultiheadAttention', `attnMask should have shape [${L}, ${S}] or [${N * this.numHeads}, ${L}, ${S}], got ${JSON.stringify(m.shape)}`);
      }
      mask = m;
    }
    let bias: Tensor | null = mask ? additive(mask, q.dtype) : null;
    if (opts.keyPaddingMask) {
      const kp = opts.keyPaddingMask;
      const kpm = batched ? kp : kp.unsqueeze(0);
      if (kpm.shape.join() !== [N, S].join()) throw new ShapeError('MultiheadAttention', `keyPaddingMask should have shape [${N}, ${S}], got ${JSON.stringify(kp.shape)}`);
      const pad = additive(kpm, q.dtype).reshape([N, 1, 1, S]).expand([N, this.numHeads, 1, S]).reshape([N * this.numHeads, 1, S]);
      bias = bias ? bias.add(pad) : pad;
    }
    let scores = q.mul(1 / Math.sqrt(this.headDim)).matmul(k.transpose(1, 2)); // [N*H, L, S]
    if (bias) scores = scores.add(bias);
    let attn = scores.softmax(-1);
    if (this.dropout > 0) attn = F.dropout(attn, this.dropout, this.training);
    const out = attn.matmul(v).transpose(0, 1).reshape([L * N, E3]);
    let y = this.out_proj(out).reshape([L, N, E3]);
    y = !batched ? y.squeeze(1) : this.batchFirst ? y.transpose(0, 1) : y;
    if (opts.needWeights === false) return [y, null];
    let weights = attn.reshape([N, this.numHeads, L, S]);
    if (opts.averageAttnWeights !== false) weights = weights.mean(1);
    return [y, batched ? weights : weights.squeeze(0)];
  }
}

export interface TransformerLayerOptions extends FactoryOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu' | ((x: Tensor) => Tensor);
  layerNormEps?: number;
  batchFirst?: boolean;
  normFirst?: boolean;
  bias?: boolean;
}

function activationFn(a: TransformerLayerOptions['activation']): (x: Tensor) => Tensor {
  if (a === undefined || a === 'relu') return F.relu;
  if (a === 'gelu') return (x) => F.gelu(x);
  if (typeof a === 'function') return a;
  throw new ValueError('TransformerLayer', `activation should be 'relu' or 'gelu', not '${String(a)}'`);
}

/** The constructor arguments a layer keeps so that a stack can build identical copies (PyTorch deep-copies). */
interface Replicable {
  replicate(): Module;
}

/** Self-attention then a feedforward network, each with a residual and layer norm (post-norm, or pre-norm with normFirst). */
export class TransformerEncoderLayer extends Module implements Replicable {
  self_attn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly dModel: number, readonly nhead: number, readonly opts: TransformerLayerOptions = {}) {
    super();
    const p = opts.dropout ?? 0.1;
    const f = { dtype: opts.dtype, device: opts.device };
    this.self_attn = new MultiheadAttention(dModel, nhead, { ...f, dropout: p, bias: opts.bias, batchFirst: opts.batchFirst });
    this.linear1 = new Linear(dModel, opts.dimFeedforward ?? 2048, { ...f, bias: opts.bias });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(opts.dimFeedforward ?? 2048, dModel, { ...f, bias: opts.bias });
    this.norm1 = new LayerNorm(dModel, { ...f, eps: opts.layerNormEps ?? 1e-5, bias: opts.bias });
    this.norm2 = new LayerNorm(dModel, { ...f, eps: opts.layerNormEps ?? 1e-5, bias: opts.bias });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    this.act = activationFn(opts.activation);
  }
  replicate(): Module {
    const m = new TransformerEncoderLayer(this.dModel, this.nhead, this.opts);
    m.loadStateDict(this.stateDict());
    return m;
  }
  private sa(x: Tensor, mask?: Tensor | null, kpm?: Tensor | null, isCausal?: boolean): Tensor {
    return this.dropout1(this.self_attn(x, x, x, { attnMask: mask, keyPaddingMask: kpm, needWeights: false, isCausal })[0]);
  }
  private ff(x: Tensor): Tensor {
    return this.dropout2(this.linear2(this.dropout(this.act(this.linear1(x)))));
  }
  override forward(src: Tensor, opts: { srcMask?: Tensor | null; srcKeyPaddingMask?: Tensor | null; isCausal?: boolean } = {}): Tensor {
    let x = src;
    if (this.opts.normFirst) {
      x = x.add(this.sa(this.norm1(x), opts.srcMask, opts.srcKeyPaddingMask, opts.isCausal));
      return x.add(this.ff(this.norm2(x)));
    }
    x = this.norm1(x.add(this.sa(x, opts.srcMask, opts.srcKeyPaddingMask, opts.isCausal)));
    return this.norm2(x.add(this.ff(x)));
  }
}

/** Self-attention, attention over the encoder's output (memory), then a feedforward network. */
export class TransformerDecoderLayer extends Module implements Replicable {
  self_attn: MultiheadAttention;
  multihead_attn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  norm3: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;
  dropout3: Dropout;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly dModel: number, readonly nhead: number, readonly opts: TransformerLayerOptions = {}) {
    super();
    const p = opts.dropout ?? 0.1;
    const f = { dtype: opts.dtype, device: opts.device };
    const eps = opts.layerNormEps ?? 1e-5;
    this.self_attn = new MultiheadAttention(dModel, nhead, { ...f, dropout: p, bias: opts.bias, batchFirst: opts.batchFirst });
    this.multihead_attn = new MultiheadAttention(dModel, nhead, { ...f, dropout: p, bias: opts.bias, batchFirst: opts.batchFirst });
    this.linear1 = new Linear(dModel, opts.dimFeedforward ?? 2048, { ...f, bias: opts.bias });
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(opts.dimFeedforward ?? 2048, dModel, { ...f, bias: opts.bias });
    this.norm1 = new LayerNorm(dModel, { ...f, eps, bias: opts.bias });
    this.norm2 = new LayerNorm(dModel, { ...f, eps, bias: opts.bias });
    this.norm3 = new LayerNorm(dModel, { ...f, eps, bias: opts.bias });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    this.dropout3 = new Dropout(p);
    this.act = activationFn(opts.activation);
  }
  replicate(): Module {
    const m = new TransformerDecoderLayer(this.dModel, this.nhead, this.opts);
    m.loadStateDict(this.stateDict());
    return m;
  }
  override forward(tgt: Tensor, memory: Tensor, opts: DecoderCallOptions = {}): Tensor {
    const sa = (x: Tensor) => this.dropout1(this.self_attn(x, x, x, { attnMask: opts.tgtMask, keyPaddingMask: opts.tgtKeyPaddingMask, needWeights: false, isCausal: opts.tgtIsCausal })[0]);
    const mha = (x: Tensor) => this.dropout2(this.multihead_attn(x, memory, memory, { attnMask: opts.memoryMask, keyPaddingMask: opts.memoryKeyPaddingMask, needWeights: false, isCausal: opts.memoryIsCausal })[0]);
    const ff = (x: Tensor) => this.dropout3(this.linear2(this.dropout(this.act(this.linear1(x)))));
    let x = tgt;
    if (this.opts.normFirst) {
      x = x.add(sa(this.norm1(x)));
      x = x.add(mha(this.norm2(x)));
      return x.add(ff(this.norm3(x)));
    }
    x = this.norm1(x.add(sa(x)));
    x = this.norm2(x.add(mha(x)));
    return this.norm3(x.add(ff(x)));
  }
}

export interface DecoderCallOptions {
  tgtMask?: Tensor | null;
  memoryMask?: Tensor | null;
  tgtKeyPaddingMask?: Tensor | null;
  memoryKeyPaddingMask?: Tensor | null;
  tgtIsCausal?: boolean;
  memoryIsCausal?: boolean;
}

/** numLayers copies of an encoder layer (same initial weights, as PyTorch's deep copies), then an optional norm. */
export class TransformerEncoder extends Module {
  layers: ModuleList;
  norm: LayerNorm | null;
  constructor(encoderLayer: TransformerEncoderLayer, readonly numLayers: number, opts: { norm?: LayerNorm | null } = {}) {
    super();
    this.layers = new ModuleList([...Array(numLayers)].map(() => encoderLayer.replicate()));
    this.norm = opts.norm ?? null;
  }
  override forward(src: Tensor, opts: { mask?: Tensor | null; srcKeyPaddingMask?: Tensor | null; isCausal?: boolean } = {}): Tensor {
    let x = src;
    for (const layer of this.layers) x = (layer as TransformerEncoderLayer)(x, { srcMask: opts.mask, srcKeyPaddingMask: opts.srcKeyPaddingMask, isCausal: opts.isCausal });
    return this.norm ? this.norm(x) : x;
  }
}

/** numLayers copies of a decoder layer, then an optional norm. */
export class TransformerDecoder extends Module {
  layers: ModuleList;
  norm: LayerNorm | null;
  constructor(decoderLayer: TransformerDecoderLayer, readonly numLayers: number, opts: { norm?: LayerNorm | null } = {}) {
    super();
    this.layers = new ModuleList([...Array(numLayers)].map(() => decoderLayer.replicate()));
    this.norm = opts.norm ?? null;
  }
  override forward(tgt: Tensor, memory: Tensor, opts: DecoderCallOptions = {}): Tensor {
    let x = tgt;
    for (const layer of this.layers) x = (layer as TransformerDecoderLayer)(x, memory, opts);
    return this.norm ? this.norm(x) : x;
  }
}

export interface TransformerOptions extends TransformerLayerOptions {
  dModel?: number;
  nhead?: number;
  numEncoderLayers?: number;
  numDecoderLayers?: number;
}

/** The encoder-decoder transformer of "Attention Is All You Need" (PyTorch's nn.Transformer, xavier-initialised). */
export class Transformer extends Module {
  encoder: TransformerEncoder;
  decoder: TransformerDecoder;
  readonly dModel: number;
  readonly nhead: number;
  constructor(opts: TransformerOptions = {}) {
    super();
    this.dModel = opts.dModel ?? 512;
    this.nhead = opts.nhead ?? 8;
    const eps = opts.layerNormEps ?? 1e-5;
    const f = { dtype: opts.dtype, device: opts.device };
    this.encoder = new TransformerEncoder(new TransformerEncoderLayer(this.dModel, this.nhead, opts), opts.numEncoderLayers ?? 6, { norm: new LayerNorm(this.dModel, { ...f, eps, bias: opts.bias }) });
    this.decoder = new TransformerDecoder(new TransformerDecoderLayer(this.dModel, this.nhead, opts), opts.numDecoderLayers ?? 6, { norm: new LayerNorm(this.dModel, { ...f, eps, bias: opts.bias }) });
    for (const p of this.parameters()) if (p.ndim > 1) init.xavierUniform_(p);
  }
  override forward(src: Tensor, tgt: Tensor, opts: { srcMask?: Tensor | null; srcKeyPaddingMask?: Tensor | null } & DecoderCallOptions = {}): Tensor {
    const memory = this.encoder(src, { mask: opts.srcMask, srcKeyPaddingMask: opts.srcKeyPaddingMask });
    return this.decoder(tgt, memory, opts);
  }
  /** A float mask with -inf above the diagonal: position i attends to positions <= i. */
  static generateSquareSubsequentMask(size: number, opts: FactoryOptions = {}): Tensor {
    return fm.zeros([size, size], opts).maskedFill(fm.ones([size, size], { dtype: 'bool', device: opts.device }).triu(1), -Infinity);
  }
}
