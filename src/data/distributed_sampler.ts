// DistributedSampler, as torch.utils.data.distributed.DistributedSampler: each process of a
// data-parallel job reads its own, equally long shard of the dataset, reshuffled per epoch.
import { ValueError } from '../errors.js';
import { Generator, randperm } from '../functional/random.js';
import { getRank, getWorldSize } from '../distributed/state.js';
import { Sampler, type Sized } from './sampler.js';

/** Options of DistributedSampler, as PyTorch's keyword arguments. Example: `{ numReplicas: 4, rank: 1, seed: 42 }`. */
export interface DistributedSamplerOptions {
  /** Processes taking part (default: `distributed.getWorldSize()`). */
  numReplicas?: number;
  /** This process's rank, in [0, numReplicas) (default: `distributed.getRank()`). */
  rank?: number;
  /** Permute the indices, differently each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the permutation; must be the same on every rank (default 0). */
  seed?: number;
  /** Drop the tail that does not divide evenly instead of padding with repeated indices (default false). */
  dropLast?: boolean;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new ValueError('DistributedSampler', `${name} should be an integer >= ${min}, got ${v}`);
}

/**
 * Restricts data loading to one shard per process. Every rank sees `numSamples` indices, so that
 * all ranks run the same number of steps (a rank that stopped early would leave the others
 * waiting in an all-reduce): without `dropLast` the index list is padded with its own first
 * entries up to `totalSize`, with it the tail is dropped. Rank r takes every numReplicas-th index
 * from position r. With `shuffle` the list is a permutation from a generator seeded with
 * `seed + epoch`, identical on all ranks; call `setEpoch(epoch)` at the start of each epoch, or
 * every epoch reuses the same order.
 * Example:
 * ```ts
 * const sampler = new fm.data.DistributedSampler(ds, { numReplicas: 2, rank: 0 });
 * const loader = new fm.data.DataLoader(ds, { batchSize: 32, sampler });
 * for (let epoch = 0; epoch < 10; epoch++) { sampler.setEpoch(epoch); for (const batch of loader) { ... } }
 * ```
 */
export class DistributedSampler extends Sampler {
  readonly numReplicas: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  /** The epoch set by setEpoch (0 at first). */
  epoch = 0;

  constructor(
    readonly dataset: Sized,
    opts: DistributedSamplerOptions = {},
  ) {
    super();
    // The process group is asked only for what was not given, as PyTorch does: a sampler with
    // explicit numReplicas and rank works without initProcessGroup.
    this.numReplicas = opts.numReplicas ?? getWorldSize();
    this.rank = opts.rank ?? getRank();
    checkInt('numReplicas', this.numReplicas, 1);
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.numReplicas) {
      throw new ValueError('DistributedSampler', `Invalid rank ${this.rank}, rank should be in the interval [0, ${this.numReplicas - 1}]`);
    }
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(this.seed)) throw new ValueError('DistributedSampler', `seed should be an integer, got ${this.seed}`);
    this.dropLast = opts.dropLast ?? false;
  }

  /** Indices this rank yields per epoch: floor(n / numReplicas) with dropLast, else ceil(n / numReplicas). */
  get numSamples(): number {
    const n = this.dataset.length;
    // PyTorch writes the dropLast case as ceil((n - r) / r) when r does not divide n: the same number.
    return this.dropLast ? Math.floor(n / this.numReplicas) : Math.ceil(n / this.numReplicas);
  }

  /** Indices of all ranks together per epoch: numSamples * numReplicas. */
  get totalSize(): number {
    return this.numSamples * this.numReplicas;
  }

  get length(): number {
    return this.numSamples;
  }

  /**
   * Sets the epoch, which is added to the seed so that each epoch has its own order (the same on
   * every rank). Example: `sampler.setEpoch(epoch)` before iterating the loader.
   */
  setEpoch(epoch: number): void {
    checkInt('epoch', epoch, 0);
    this.epoch = epoch;
  }

  *[Symbol.iterator](): Iterator<number> {
    const n = this.dataset.length;
    // A fresh generator per pass, so the order depends only on seed + epoch and not on other draws.
    const indices = this.shuffle
      ? Array.from(randperm(n, { generator: new Generator().manualSeed(this.seed + this.epoch) }).data() as ArrayLike<number | bigint>, Number)
      : Array.from({ length: n }, (_, i) => i);
    const total = this.totalSize;
    // Pad by repeating the list from its start, as many times as needed (n may be below numReplicas).
    for (let i = 0; indices.length < total; i++) indices.push(indices[i]!);
    for (let i = this.rank; i < total; i += this.numReplicas) yield indices[i]!;
  }
}
