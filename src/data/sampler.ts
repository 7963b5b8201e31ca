// Samplers as in torch.utils.data: which dataset indices a DataLoader reads, in which order, and
// how they are grouped into batches. Random ones draw when iteration starts, so epochs differ.
import { Tensor } from '../tensor/tensor.js';
import { ValueError } from '../errors.js';
import { defaultGenerator, multinomial, randint, randperm, type Generator } from '../functional/random.js';
import { tensor } from '../functional/creation.js';

/** What a sampler needs of a dataset: its length. Example: `new fm.data.SequentialSampler({ length: 4 })`. */
export interface Sized {
  readonly length: number;
}

/**
 * Base class of samplers: an iterable of dataset indices (or of index batches) with a length.
 * Example: `class Evens extends fm.data.Sampler { get length() { return 5; } *[Symbol.iterator]() { for (let i = 0; i < 10; i += 2) yield i; } }`
 */
export abstract class Sampler<T = number> implements Iterable<T> {
  abstract [Symbol.iterator](): Iterator<T>;
  /** How many items one pass yields. */
  abstract get length(): number;
}

function checkCount(op: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw new ValueError(op, `${name} should be a positive integer, got ${n}`);
}

/** The values of an integer tensor as numbers. */
function ints(t: Tensor): number[] {
  return Array.from(t.data() as ArrayLike<number | bigint>, Number);
}

/** 0, 1, ..., length - 1. Example: `[...new fm.data.SequentialSampler(ds)]`. */
export class SequentialSampler extends Sampler {
  constructor(readonly dataSource: Sized) {
    super();
  }
  get length(): number {
    return this.dataSource.length;
  }
  *[Symbol.iterator](): Iterator<number> {
    for (let i = 0; i < this.dataSource.length; i++) yield i;
  }
}

/** Options of RandomSampler. Example: `{ replacement: true, numSamples: 100, generator }`. */
export interface RandomSamplerOptions {
  /** Draw with replacement (default false). */
  replacement?: boolean;
  /** Indices per pass (default: the dataset's length). */
  numSamples?: number;
  /** The random stream (default: the global one, `fm.manualSeed`). */
  generator?: Generator;
}

/**
 * Indices in random order: a permutation (or several, when numSamples exceeds the length, as
 * PyTorch does), or uniform draws with replacement.
 * Example: `new fm.data.RandomSampler(ds, { generator: new fm.Generator().manualSeed(0) })`.
 */
export class RandomSampler extends Sampler {
  readonly replacement: boolean;
  readonly generator: Generator | undefined;
  private readonly requested: number | undefined;
  constructor(
    readonly dataSource: Sized,
    opts: RandomSamplerOptions = {},
  ) {
    super();
    this.replacement = opts.replacement ?? false;
    this.generator = opts.generator;
    this.requested = opts.numSamples;
    checkCount('RandomSampler', 'numSamples', this.numSamples);
  }
  /** Indices per pass. */
  get numSamples(): number {
    return this.requested ?? this.dataSource.length;
  }
  get length(): number {
    return this.numSamples;
  }
  *[Symbol.iterator](): Iterator<number> {
    const n = this.dataSource.length;
    const generator = this.generator ?? defaultGenerator;
    if (this.replacement) {
      yield* ints(randint(0, n, [this.numSamples], { generator }));
      return;
    }
    for (let k = 0; k < Math.floor(this.numSamples / n); k++) yield* ints(randperm(n, { generator }));
    const rest = this.numSamples % n;
    if (rest > 0) yield* ints(randperm(n, { generator })).slice(0, rest);
  }
}

/**
 * The given indices in random order (a new permutation each pass).
 * Example: `new fm.data.SubsetRandomSampler([10, 11, 12], { generator })`.
 */
export class SubsetRandomSampler extends Sampler {
  readonly indices: readonly number[];
  constructor(
    indices: readonly number[],
    readonly opts: { generator?: Generator } = {},
  ) {
    super();
    this.indices = [...indices];
  }
  get length(): number {
    return this.indices.length;
  }
  *[Symbol.iterator](): Iterator<number> {
    for (const i of ints(randperm(this.indices.length, { generator: this.opts.generator ?? defaultGenerator }))) yield this.indices[i]!;
  }
}

/**
 * Indices 0..weights.length-1 drawn with probability proportional to `weights` (with replacement
 * by default), through `fm.multinomial`.
 * Example: `new fm.data.WeightedRandomSampler([0.1, 0.9], 100)` draws index 1 about 90 times.
 */
export class WeightedRandomSampler extends Sampler {
  readonly weights: Tensor;
  readonly replacement: boolean;
  constructor(
    weights: readonly number[] | Tensor,
    readonly numSamples: number,
    readonly opts: { replacement?: boolean; generator?: Generator } = {},
  ) {
    super();
    const w = weights instanceof Tensor ? weights.to('float64') : tensor(weights as number[], { dtype: 'float64' });
    if (w.ndim !== 1 || w.numel() === 0) throw new ValueError('WeightedRandomSampler', `weights must be a non-empty 1-D sequence, got shape [${w.shape.join(', ')}]`);
    const values = Array.from(w.data() as Float64Array);
    values.forEach((v, i) => {
      if (!Number.isFinite(v) || v < 0) throw new ValueError('WeightedRandomSampler', `weights must be finite and non-negative, got ${v} at index ${i}`);
    });
    const positive = values.filter((v) => v > 0).length;
    if (positive === 0) throw new ValueError('WeightedRandomSampler', 'weights must have a positive sum');
    checkCount('WeightedRandomSampler', 'numSamples', numSamples);
    this.replacement = opts.replacement ?? true;
    if (!this.replacement && numSamples > positive) {
      throw new ValueError('WeightedRandomSampler', `cannot draw ${numSamples} samples without replacement from ${positive} indices of non-zero weight`);
    }
    this.weights = w;
  }
  get length(): number {
    return this.numSamples;
  }
  *[Symbol.iterator](): Iterator<number> {
    yield* ints(multinomial(this.weights, this.numSamples, { replacement: this.replacement, generator: this.opts.generator ?? defaultGenerator }));
  }
}

/**
 * Groups the indices of `sampler` into arrays of `batchSize`; the last, shorter one is kept
 * unless `dropLast`.
 * Example: `[...new fm.data.BatchSampler(new fm.data.SequentialSampler(ds), 3, false)]` is `[[0, 1, 2], [3, 4, 5], ...]`.
 */
export class BatchSampler extends Sampler<number[]> {
  constructor(
    readonly sampler: Iterable<number> & Partial<Sized>,
    readonly batchSize: number,
    readonly dropLast = false,
  ) {
    super();
    checkCount('BatchSampler', 'batchSize', batchSize);
    if (typeof dropLast !== 'boolean') throw new ValueError('BatchSampler', `dropLast should be a boolean, got ${String(dropLast)}`);
  }
  get length(): number {
    const n = this.sampler.length;
    if (typeof n !== 'number') throw new ValueError('BatchSampler', 'the sampler has no length');
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }
  *[Symbol.iterator](): Iterator<number[]> {
    let batch: number[] = [];
    for (const i of this.sampler) {
      batch.push(i);
      if (batch.length === this.batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0 && !this.dropLast) yield batch;
  }
}
