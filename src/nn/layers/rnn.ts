// Recurrent layers: RNN, LSTM, GRU (layers, batchFirst, bidirectional, dropout between layers,
// initial states) and their one-step cells, with PyTorch's parameter names and gate order
// (LSTM: input, forget, cell, output; GRU: reset, update, new), so state dicts move both ways.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ShapeError, ValueError } from '../../errors.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { pyBool, pyFloat } from './repr.js';
import type { FactoryOptions } from './linear.js';
import { PackedSequence, packSorted, unpackSorted } from '../packed.js';

type Mode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';
const gates: Record<Mode, number> = { RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 };

/** One time step of a cell: the new hidden state (and cell state for LSTM) from the input projection gi = W_ih x + b_ih. */
function cellStep(mode: Mode, gi: Tensor, h: Tensor, c: Tensor | null, wHh: Tensor, bHh: Tensor | null): [Tensor, Tensor | null] {
  const gh = bHh ? F.linear(h, wHh, bHh) : h.matmul(wHh.T);
  switch (mode) {
    case 'RNN_TANH': return [gi.add(gh).tanh(), null];
    case 'RNN_RELU': return [gi.add(gh).relu(), null];
    case 'LSTM': {
      const [i, f, g, o] = gi.add(gh).chunk(4, -1) as [Tensor, Tensor, Tensor, Tensor];
      const c2 = f.sigmoid().mul(c!).add(i.sigmoid().mul(g.tanh()));
      return [o.sigmoid().mul(c2.tanh()), c2];
    }
    case 'GRU': {
      const [ir, iz, inn] = gi.chunk(3, -1) as [Tensor, Tensor, Tensor];
      const [hr, hz, hn] = gh.chunk(3, -1) as [Tensor, Tensor, Tensor];
      const r = ir.add(hr).sigmoid();
      const z = iz.add(hz).sigmoid();
      const n = inn.add(r.mul(hn)).tanh();
      // h' = (1 - z) n + z h = n + z (h - n)
      return [n.add(z.mul(h.sub(n))), null];
    }
  }
}

export interface RNNOptions extends FactoryOptions {
  numLayers?: number;
  nonlinearity?: 'tanh' | 'relu';
  bias?: boolean;
  batchFirst?: boolean;
  dropout?: number;
  bidirectional?: boolean;
}

abstract class RNNBase extends Module {
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;

  constructor(readonly mode: Mode, readonly inputSize: number, readonly hiddenSize: number, opts: RNNOptions) {
    super();
    const name = this.constructor.name;
    this.numLayers = opts.numLayers ?? 1;
    this.bias = opts.bias ?? true;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropout = opts.dropout ?? 0;
    this.bidirectional = opts.bidirectional ?? false;
    if (!Number.isInteger(hiddenSize) || hiddenSize <= 0) throw new ValueError(name, `hiddenSize must be a positive integer, got ${hiddenSize}`);
    if (!Number.isInteger(this.numLayers) || this.numLayers <= 0) throw new ValueError(name, `numLayers must be a positive integer, got ${this.numLayers}`);
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new ValueError(name, `dropout should be a number in range [0, 1], got ${this.dropout}`);
    const g = gates[mode] * hiddenSize;
    const dirs = this.bidirectional ? 2 : 1;
    const fields = this as unknown as Record<string, Tensor>;
    for (let layer = 0; layer < this.numLayers; layer++) {
      for (let d = 0; d < dirs; d++) {
        const sfx = `_l${layer}${d === 1 ? '_reverse' : ''}`;
        const inSize = layer === 0 ? inputSize : hiddenSize * dirs;
        fields[`weight_ih${sfx}`] = Parameter(fm.empty([g, inSize], opts));
        fields[`weight_hh${sfx}`] = Parameter(fm.empty([g, hiddenSize], opts));
        if (this.bias) {
          fields[`bias_ih${sfx}`] = Parameter(fm.empty([g], opts));
          fields[`bias_hh${sfx}`] = Parameter(fm.empty([g], opts));
        }
      }
    }
    this.resetParameters();
  }

  /** Every weight and bias U(-1/sqrt(hiddenSize), 1/sqrt(hiddenSize)), as PyTorch. */
  resetParameters(): void {
    const b = 1 / Math.sqrt(this.hiddenSize);
    for (const p of this.parameters()) init.uniform_(p, -b, b);
  }

  private param(name: string): Tensor | null {
    return ((this as unknown as Record<string, Tensor | undefined>)[name]) ?? null;
  }

  /**
   * Runs the sequence: input [T, B, inputSize] ([B, T, inputSize] with batchFirst, or unbatched
   * [T, inputSize]) and optional initial state [numLayers * dirs, B, hiddenSize] (LSTM: a pair).
   * Returns the top layer's outputs at every step and the final state of every layer.
   */
  protected run(input: Tensor | PackedSequence, hx: Tensor | [Tensor, Tensor] | null | undefined): [Tensor | PackedSequence, Tensor, Tensor | null] {
    if (input instanceof PackedSequence) return this.runPacked(input, hx);
    const [out, h, c] = this.runPadded(input, hx);
    return [out, h, c];
  }

  /**
   * A packed batch: run on the padded form in length order, each sequence's state frozen after its
   * last step (so reverse directions start at each sequence's own end); states come back in the
   * caller's order, outputs packed again.
   */
  private runPacked(seq: PackedSequence, hx: Tensor | [Tensor, Tensor] | null | undefined): [PackedSequence, Tensor, Tensor | null] {
    const [padded, lengths] = unpackSorted(seq);
    const perm = (t: Tensor, idx: number[] | null) => (idx ? t.indexSelect(1, fm.tensor(idx, { dtype: 'int64', device: t.device })) : t);
    const hxs = hx === null || hx === undefined ? hx : Array.isArray(hx) ? [perm(hx[0], seq.sortedIndices), perm(hx[1], seq.sortedIndices)] as [Tensor, Tensor] : perm(hx, seq.sortedIndices);
    const batchFirst = this.batchFirst;
    (this as { batchFirst: boolean }).batchFirst = false;
    try {
      const [out, h, c] = this.runPadded(padded, hxs, lengths);
      return [new PackedSequence(packSorted(out, seq.batchSizes), seq.batchSizes, seq.sortedIndices, seq.unsortedIndices), perm(h, seq.unsortedIndices), c ? perm(c, seq.unsortedIndices) : null];
    } finally {
      (this as { batchFirst: boolean }).batchFirst = batchFirst;
    }
  }

  private runPadded(input: Tensor, hx: Tensor | [Tensor, Tensor] | null | undefined, lengths?: number[]): [Tensor, Tensor, Tensor | null] {
    const name = this.constructor.name;
    const batched = input.ndim === 3;
    if (input.ndim !== 2 && input.ndim !== 3) throw new ShapeError(name, `expected a 2-D (unbatched) or 3-D (batched) input, got shape ${JSON.stringify(input.shape)}`);
    if (input.shape[input.ndim - 1] !== this.inputSize) throw new ShapeError(name, `input.size(-1) must be equal to inputSize. Expected ${this.inputSize}, got ${input.shape[input.ndim - 1]}`);
    let x = batched ? (this.batchFirst ? input.transpose(0, 1) : input) : input.unsqueeze(1); // [T, B, I]
    const [T, B] = [x.shape[0]!, x.shape[1]!];
    const dirs = this.bidirectional ? 2 : 1;
    const stateShape = [this.numLayers * dirs, B, this.hiddenSize];
    const prep = (s: Tensor, what: string) => {
      const t = batched ? s : s.unsqueeze(1);
      if (t.shape.join() !== stateShape.join()) throw new ShapeError(name, `expected ${what} size ${JSON.stringify(batched ? stateShape : [stateShape[0], stateShape[2]])}, got ${JSON.stringify(s.shape)}`);
      return t;
    };
    const zeros = () => fm.zeros(stateShape, { dtype: x.dtype, device: x.device });
    const isLstm = this.mode === 'LSTM';
    let h0: Tensor, c0: Tensor | null = null;
    if (isLstm) {
      const pair = hx as [Tensor, Tensor] | null | undefined;
      h0 = pair ? prep(pair[0], 'hidden') : zeros();
      c0 = pair ? prep(pair[1], 'cell') : zeros();
    } else {
      h0 = hx ? prep(hx as Tensor, 'hidden') : zeros();
    }
    const hn: Tensor[] = [];
    const cn: Tensor[] = [];
    const lens = lengths ? fm.tensor(lengths, { dtype: 'int64', device: x.device }).unsqueeze(1) : null;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < dirs; d++) {
        const sfx = `_l${layer}${d === 1 ? '_reverse' : ''}`;
        const k = layer * dirs + d;
        // The input projections of every step in one product.
        const gi = F.linear(x, this.param(`weight_ih${sfx}`)!, this.param(`bias_ih${sfx}`));
        let h = h0.select(0, k);
        let c = c0 ? c0.select(0, k) : null;
        const steps: Tensor[] = new Array<Tensor>(T);
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? s : T - 1 - s;
          const [h2, c2] = cellStep(this.mode, gi.select(0, t), h, c, this.param(`weight_hh${sfx}`)!, this.param(`bias_hh${sfx}`));
          if (lens) {
            // Sequences that ended before step t keep their state.
            const live = lens.gt(t);
            h = fm.where(live, h2, h);
            c = c2 && c ? fm.where(live, c2, c) : c2;
          } else [h, c] = [h2, c2];
          steps[t] = h;
        }
        outs.push(T > 0 ? fm.stack(steps) : fm.zeros([0, B, this.hiddenSize], { dtype: x.dtype, device: x.device }));
        hn.push(h);
        if (c) cn.push(c);
      }
      x = dirs === 2 ? fm.cat(outs, 2) : outs[0]!;
      if (this.dropout > 0 && layer < this.numLayers - 1) x = F.dropout(x, this.dropout, this.training);
    }
    const out = batched ? (this.batchFirst ? x.transpose(0, 1) : x) : x.squeeze(1);
    const unb = (t: Tensor) => (batched ? t : t.squeeze(1));
    return [out, unb(fm.stack(hn)), isLstm ? unb(fm.stack(cn)) : null];
  }

  override extraRepr(): string {
    let s = `${this.inputSize}, ${this.hiddenSize}`;
    if (this.numLayers !== 1) s += `, num_layers=${this.numLayers}`;
    if (!this.bias) s += ', bias=False';
    if (this.batchFirst) s += ', batch_first=True';
    if (this.dropout !== 0) s += `, dropout=${pyFloat(this.dropout)}`;
    if (this.bidirectional) s += `, bidirectional=${pyBool(true)}`;
    return s;
  }
}

/** An Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh). Example: `const [out, hn] = new nn.RNN(10, 20)(x)`. */
export class RNN extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: RNNOptions = {}) {
    super(opts.nonlinearity === 'relu' ? 'RNN_RELU' : 'RNN_TANH', inputSize, hiddenSize, opts);
    if (opts.nonlinearity !== undefined && opts.nonlinearity !== 'tanh' && opts.nonlinearity !== 'relu') throw new ValueError('RNN', `unknown nonlinearity '${String(opts.nonlinearity)}'`);
  }
  // Packed input has its own overload; calling the module (`rnn(x)`) types the Tensor one (the last).
  override forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  override forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  override forward(input: Tensor | PackedSequence, hx?: Tensor | null): [Tensor | PackedSequence, Tensor] {
    const [out, h] = this.run(input, hx);
    return [out, h];
  }
}

/** Long short-term memory. Example: `const [out, [hn, cn]] = new nn.LSTM(10, 20, { numLayers: 2 })(x)`. */
export class LSTM extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: Omit<RNNOptions, 'nonlinearity'> = {}) {
    super('LSTM', inputSize, hiddenSize, opts);
  }
  override forward(input: PackedSequence, hx?: [Tensor, Tensor] | null): [PackedSequence, [Tensor, Tensor]];
  override forward(input: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]];
  override forward(input: Tensor | PackedSequence, hx?: [Tensor, Tensor] | null): [Tensor | PackedSequence, [Tensor, Tensor]] {
    const [out, h, c] = this.run(input, hx);
    return [out, [h, c!]];
  }
}

/** Gated recurrent unit. */
export class GRU extends RNNBase {
  constructor(inputSize: number, hiddenSize: number, opts: Omit<RNNOptions, 'nonlinearity'> = {}) {
    super('GRU', inputSize, hiddenSize, opts);
  }
  // Packed input has its own overload; calling the module (`rnn(x)`) types the Tensor one (the last).
  override forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  override forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  override forward(input: Tensor | PackedSequence, hx?: Tensor | null): [Tensor | PackedSequence, Tensor] {
    const [out, h] = this.run(input, hx);
    return [out, h];
  }
}

abstract class CellBase extends Module {
  weight_ih: Tensor;
  weight_hh: Tensor;
  bias_ih: Tensor | null;
  bias_hh: Tensor | null;
  constructor(readonly mode: Mode, readonly inputSize: number, readonly hiddenSize: number, opts: FactoryOptions & { bias?: boolean }) {
    super();
    const g = gates[mode] * hiddenSize;
    this.weight_ih = Parameter(fm.empty([g, inputSize], opts));
    this.weight_hh = Parameter(fm.empty([g, hiddenSize], opts));
    this.bias_ih = opts.bias === false ? null : Parameter(fm.empty([g], opts));
    this.bias_hh = opts.bias === false ? null : Parameter(fm.empty([g], opts));
    const b = 1 / Math.sqrt(hiddenSize);
    for (const p of this.parameters()) init.uniform_(p, -b, b);
  }
  /** One step on input [B, inputSize] (or [inputSize]) from state [B, hiddenSize] (zeros when absent). */
  protected step(x: Tensor, h: Tensor | null | undefined, c: Tensor | null | undefined): [Tensor, Tensor | null] {
    const name = this.constructor.name;
    if ((x.ndim !== 1 && x.ndim !== 2) || x.shape[x.ndim - 1] !== this.inputSize) throw new ShapeError(name, `expected input of shape [B, ${this.inputSize}] or [${this.inputSize}], got ${JSON.stringify(x.shape)}`);
    const xb = x.ndim === 1 ? x.unsqueeze(0) : x;
    const zero = () => fm.zeros([xb.shape[0]!, this.hiddenSize], { dtype: x.dtype, device: x.device });
    const hb = h ? (h.ndim === 1 ? h.unsqueeze(0) : h) : zero();
    const cb = this.mode === 'LSTM' ? (c ? (c.ndim === 1 ? c.unsqueeze(0) : c) : zero()) : null;
    const [h2, c2] = cellStep(this.mode, F.linear(xb, this.weight_ih, this.bias_ih), hb, cb, this.weight_hh, this.bias_hh);
    const un = (t: Tensor) => (x.ndim === 1 ? t.squeeze(0) : t);
    return [un(h2), c2 ? un(c2) : null];
  }
  override extraRepr(): string {
    return `${this.inputSize}, ${this.hiddenSize}${this.bias_ih === null ? ', bias=False' : ''}${this.mode === 'RNN_RELU' ? ', nonlinearity=relu' : ''}`;
  }
}

/** One step of an Elman RNN. */
export class RNNCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: FactoryOptions & { bias?: boolean; nonlinearity?: 'tanh' | 'relu' } = {}) {
    super(opts.nonlinearity === 'relu' ? 'RNN_RELU' : 'RNN_TANH', inputSize, hiddenSize, opts);
  }
  override forward(x: Tensor, h?: Tensor | null): Tensor {
    return this.step(x, h, null)[0];
  }
}

/** One LSTM step: returns [h, c]. */
export class LSTMCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: FactoryOptions & { bias?: boolean } = {}) {
    super('LSTM', inputSize, hiddenSize, opts);
  }
  override forward(x: Tensor, hx?: [Tensor, Tensor] | null): [Tensor, Tensor] {
    const [h, c] = this.step(x, hx?.[0], hx?.[1]);
    return [h, c!];
  }
}

/** One GRU step. */
export class GRUCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: FactoryOptions & { bias?: boolean } = {}) {
    super('GRU', inputSize, hiddenSize, opts);
  }
  override forward(x: Tensor, h?: Tensor | null): Tensor {
    return this.step(x, h, null)[0];
  }
}
