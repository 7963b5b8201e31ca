// Packed sequences (nn.utils.rnn): a batch of sequences of different lengths stored time step by
// time step, longest first, as PyTorch's PackedSequence, so that recurrent layers skip padding.
import type { Tensor } from '../tensor/tensor.js';
import * as fm from '../index.js';
import { ValueError } from '../errors.js';

/**
 * data: the steps of every sequence, [sum of lengths, *]; batchSizes[t]: how many sequences are
 * longer than t; sortedIndices / unsortedIndices: the permutation to length order and back.
 */
export class PackedSequence {
  constructor(readonly data: Tensor, readonly batchSizes: number[], readonly sortedIndices: number[] | null, readonly unsortedIndices: number[] | null) {}
}

/** The lengths of the sorted sequences, from batchSizes. */
function sortedLengths(batchSizes: readonly number[]): number[] {
  const n = batchSizes[0] ?? 0;
  return [...Array(n).keys()].map((b) => batchSizes.filter((s) => s > b).length);
}

/**
 * Packs a padded batch [T, B, *] ([B, T, *] with batchFirst) given each sequence's length.
 * enforceSorted (default true) requires lengths in decreasing order, as PyTorch.
 * Example: `const packed = nn.utils.rnn.packPaddedSequence(x, [5, 3, 2])`.
 */
export function packPaddedSequence(input: Tensor, lengths: number[] | Tensor, opts: { batchFirst?: boolean; enforceSorted?: boolean } = {}): PackedSequence {
  const op = 'packPaddedSequence';
  const lens = Array.isArray(lengths) ? lengths : [...(lengths.to('int64').data() as BigInt64Array)].map(Number);
  const x = opts.batchFirst ? input.transpose(0, 1) : input;
  const [T, B] = [x.shape[0]!, x.shape[1]!];
  if (lens.length !== B) throw new ValueError(op, `expected ${B} lengths, got ${lens.length}`);
  if (lens.some((l) => !Number.isInteger(l) || l <= 0 || l > T)) throw new ValueError(op, `lengths must be integers in [1, ${T}], got [${lens.join(', ')}]`);
  const order = [...lens.keys()].sort((a, b) => lens[b]! - lens[a]! || a - b);
  const sorted = order.every((o, i) => o === i);
  if (opts.enforceSorted !== false && !sorted) throw new ValueError(op, `lengths must be sorted in decreasing order when enforceSorted is true, got [${lens.join(', ')}]`);
  const xs = sorted ? x : x.indexSelect(1, fm.tensor(order, { dtype: 'int64', device: x.device }));
  const sl = order.map((o) => lens[o]!);
  const batchSizes = [...Array(sl[0]!).keys()].map((t) => sl.filter((l) => l > t).length);
  const data = fm.cat(batchSizes.map((n, t) => xs.select(0, t).narrow(0, 0, n)));
  const unsorted = order.map((_, i) => order.indexOf(i));
  return new PackedSequence(data, batchSizes, sorted ? null : order, sorted ? null : unsorted);
}

/** Unpacks to [T, B, *] ([B, T, *] with batchFirst) padded with paddingValue; returns [padded, lengths] in the original order. */
export function padPackedSequence(seq: PackedSequence, opts: { batchFirst?: boolean; paddingValue?: number; totalLength?: number } = {}): [Tensor, number[]] {
  const lens = sortedLengths(seq.batchSizes);
  const T = Math.max(opts.totalLength ?? 0, seq.batchSizes.length);
  const B = seq.batchSizes[0] ?? 0;
  const rest = seq.data.shape.slice(1);
  const steps: Tensor[] = [];
  let at = 0;
  for (let t = 0; t < T; t++) {
    const n = seq.batchSizes[t] ?? 0;
    const part = seq.data.narrow(0, at, n);
    at += n;
    steps.push(n === B ? part : fm.cat([part, fm.full([B - n, ...rest], opts.paddingValue ?? 0, { dtype: seq.data.dtype, device: seq.data.device })]));
  }
  let out = fm.stack(steps); // [T, B, *] in sorted order
  let lengths = lens;
  if (seq.unsortedIndices) {
    out = out.indexSelect(1, fm.tensor(seq.unsortedIndices, { dtype: 'int64', device: out.device }));
    lengths = seq.unsortedIndices.map((i) => lens[i]!);
  }
  return [opts.batchFirst ? out.transpose(0, 1) : out, lengths];
}

/** [T, B, *] padded in the packed (length) order, with the lengths: what recurrent layers run on. */
export function unpackSorted(seq: PackedSequence): [Tensor, number[]] {
  const [padded] = padPackedSequence(new PackedSequence(seq.data, seq.batchSizes, null, null));
  return [padded, sortedLengths(seq.batchSizes)];
}

/** The data of a packed sequence from [T, B, *] in packed order. */
export function packSorted(padded: Tensor, batchSizes: readonly number[]): Tensor {
  return fm.cat(batchSizes.map((n, t) => padded.select(0, t).narrow(0, 0, n)));
}

/** Packs a list of sequences [L_i, *] of any lengths (sorted or not with enforceSorted: false). */
export function packSequence(sequences: Tensor[], opts: { enforceSorted?: boolean } = {}): PackedSequence {
  if (sequences.length === 0) throw new ValueError('packSequence', 'expected at least one sequence');
  const maxLen = Math.max(...sequences.map((s) => s.shape[0]!));
  const padded = fm.stack(sequences.map((s) => (s.shape[0] === maxLen ? s : fm.cat([s, fm.zeros([maxLen - s.shape[0]!, ...s.shape.slice(1)], { dtype: s.dtype, device: s.device })]))), 1);
  return packPaddedSequence(padded, sequences.map((s) => s.shape[0]!), opts);
}

