// The DataLoader: batches from a dataset through a sampler and a collate function, read on the
// main thread (sync or async, one batch ahead) or in worker threads.
import { ValueError } from '../errors.js';
import { defaultGenerator, rand, type Generator } from '../functional/random.js';
import { isMapDataset, type MapDataset } from './dataset.js';
import { BatchSampler, RandomSampler, SequentialSampler } from './sampler.js';
import { collateSamples, type Collated } from './collate.js';
import { specOf, type WorkerSpec } from './spec.js';
import { WorkerFetcher, WorkerPool } from './workers.js';
import { mapBatches, streamBatches, workerBatches, type Fetcher } from './fetchers.js';
import { mapTensors } from './transfer.js';
import { isAvailable as cudaAvailable } from '../cuda_device.js';

/** pinMemory without CUDA warns once per process. */
let warnedNoPin = false;

/** Options of DataLoader, as PyTorch's keyword arguments. Example: `{ batchSize: 64, shuffle: true, numWorkers: 2 }`. */
export interface DataLoaderOptions<T, B> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Reshuffle the indices every epoch (a RandomSampler); default false. */
  shuffle?: boolean;
  /** The dataset indices to read, in order (excludes `shuffle`). */
  sampler?: Iterable<number>;
  /** Batches of indices (excludes batchSize, shuffle, sampler and dropLast). */
  batchSampler?: Iterable<number[]>;
  /** Drop the last, incomplete batch (default false). */
  dropLast?: boolean;
  /** Makes a batch of samples (default `defaultCollate`). With workers it runs on the main thread. */
  collateFn?: (samples: Awaited<T>[]) => B;
  /** The random stream of shuffling and of the workers' seeds (default: the global one). */
  generator?: Generator;
  /** Worker threads that read and collate batches (default 0: read on the main thread). */
  numWorkers?: number;
  /**
   * Puts each batch's tensors in pinned (page-locked) memory, so that `x.to('cuda', {
   * nonBlocking: true })` queues the copy and returns. Without CUDA, a warning and unpinned
   * batches, as PyTorch.
   */
  pinMemory?: boolean;
  /** Batches requested ahead per worker (default 2; only with numWorkers > 0). */
  prefetchFactor?: number;
  /** Keep the workers (and their dataset copies) between epochs; call close() when done. */
  persistentWorkers?: boolean;
  /** Seconds to wait for a batch from the workers before raising (default 0: forever). */
  timeout?: number;
  /** How workers build their dataset, when the dataset has no workerSpec() of its own. */
  workerInit?: WorkerSpec;
}

/**
 * What a DataLoader reads: a map-style dataset (`length` and `get(i)`), an array (map-style too, as
 * a Python list is), or an iterable dataset (an `IterableDataset` with `[Symbol.iterator]` or
 * `[Symbol.asyncIterator]`; any iterable works).
 * Example: `new fm.data.DataLoader([1, 2, 3, 4], { batchSize: 2 })` yields int64 tensors [1, 2] and [3, 4].
 */
export type AnyDataset<T> = MapDataset<T> | readonly T[] | Iterable<T> | AsyncIterable<T>;

/** An array as a map-style dataset. */
function arrayDataset<T>(items: readonly T[]): MapDataset<T> {
  return { length: items.length, get: (i) => items[i]! };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ValueError('DataLoader', `${name} should be a positive integer, got ${v}`);
}

/**
 * Iterates a dataset in batches, as PyTorch's `torch.utils.data.DataLoader`.
 *
 * - `for (const batch of loader)` reads each batch when asked.
 * - `for await (const batch of loader)` starts reading batch k+1 before handing out batch k and
 *   yields to the event loop between batches, so reads overlap the consumer's awaits; datasets
 *   whose `get` returns promises need this form.
 * - `numWorkers > 0` reads and collates in worker threads (Node's worker_threads; both loops work).
 *   Functions cannot cross threads, so each worker rebuilds the dataset from a `WorkerSpec`: the
 *   dataset's own `workerSpec()` (TensorDataset, Subset, ConcatDataset, MNIST and FashionMNIST
 *   with built-in transforms have one) or the `workerInit` option, a module and export that build
 *   it (see `WorkerSpec`). Batches come back as transferred ArrayBuffers that become the tensors'
 *   storage on the main thread, copying nothing; they are cpu tensors. Each worker runs one kernel
 *   thread, and its default generator is seeded with the loader's base seed + its id (drawn from
 *   `generator` each epoch, as in PyTorch), so random transforms in workers are reproducible but
 *   differ from a numWorkers = 0 run. A custom `collateFn` runs on the main thread. For an
 *   IterableDataset each worker iterates its own copy (shard with `getWorkerInfo()`), and batches
 *   come from the workers in turn.
 *
 * Not supported: PyTorch's `batchSize: null` (no automatic batching) and `workerInitFn` (put setup
 * in the spec's factory).
 * Example:
 * ```ts
 * const loader = new fm.data.DataLoader(new fm.data.TensorDataset(x, y), { batchSize: 32, shuffle: true });
 * for (const [xb, yb] of loader) { ... }
 * ```
 */
export class DataLoader<T, B = Collated<Awaited<T>>> implements Iterable<B>, AsyncIterable<B> {
  readonly dataset: AnyDataset<T>;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly numWorkers: number;
  readonly pinMemory: boolean;
  readonly prefetchFactor: number;
  readonly persistentWorkers: boolean;
  readonly timeout: number;
  readonly generator: Generator | undefined;
  /** The index sampler (null for an IterableDataset or with a batchSampler). */
  readonly sampler: Iterable<number> | null;
  /** The batches of indices (null for an IterableDataset). */
  readonly batchSampler: Iterable<number[]> | null;
  /** The collate function given (undefined: defaultCollate). */
  readonly collateFn: ((samples: Awaited<T>[]) => B) | undefined;
  private readonly spec: WorkerSpec | undefined;
  private pool: WorkerPool | undefined;
  private epoch = 0;

  constructor(dataset: AnyDataset<T>, opts: DataLoaderOptions<T, B> = {}) {
    if (Array.isArray(dataset)) dataset = arrayDataset(dataset as readonly T[]);
    const isMap = isMapDataset(dataset);
    const iterable = dataset as Partial<Iterable<T> & AsyncIterable<T>>;
    if (!isMap && typeof iterable?.[Symbol.iterator] !== 'function' && typeof iterable?.[Symbol.asyncIterator] !== 'function') {
      throw new ValueError('DataLoader', 'expected a dataset: a map-style one (length and get(i)) or an iterable one');
    }
    this.dataset = dataset;
    this.batchSize = opts.batchSize ?? 1;
    this.dropLast = opts.dropLast ?? false;
    this.numWorkers = opts.numWorkers ?? 0;
    this.pinMemory = opts.pinMemory ?? false;
    this.persistentWorkers = opts.persistentWorkers ?? false;
    this.timeout = opts.timeout ?? 0;
    this.generator = opts.generator;
    this.collateFn = opts.collateFn;
    if (!Number.isInteger(this.numWorkers) || this.numWorkers < 0) throw new ValueError('DataLoader', `numWorkers option should be a non-negative integer, got ${this.numWorkers}`);
    if (!(this.timeout >= 0)) throw new ValueError('DataLoader', `timeout option should be non-negative, got ${this.timeout}`);
    if (opts.prefetchFactor !== undefined && this.numWorkers === 0) throw new ValueError('DataLoader', 'prefetchFactor option could only be specified with numWorkers > 0');
    this.prefetchFactor = opts.prefetchFactor ?? 2;
    positiveInt('prefetchFactor', this.prefetchFactor);
    if (this.persistentWorkers && this.numWorkers === 0) throw new ValueError('DataLoader', 'persistentWorkers option needs numWorkers > 0');
    if (opts.collateFn !== undefined && typeof opts.collateFn !== 'function') throw new ValueError('DataLoader', 'collateFn should be a function');

    if (!isMap) {
      for (const k of ['shuffle', 'sampler', 'batchSampler'] as const) {
        if (opts[k] !== undefined && opts[k] !== false) throw new ValueError('DataLoader', `DataLoader with IterableDataset: expected unspecified ${k} option, but got ${k}=${String(opts[k])}`);
      }
      positiveInt('batchSize', this.batchSize);
      this.sampler = null;
      this.batchSampler = null;
    } else if (opts.batchSampler !== undefined) {
      if ((opts.batchSize !== undefined && opts.batchSize !== 1) || opts.shuffle || opts.sampler !== undefined || opts.dropLast) {
        throw new ValueError('DataLoader', 'batchSampler option is mutually exclusive with batchSize, shuffle, sampler, and dropLast');
      }
      this.sampler = null;
      this.batchSampler = opts.batchSampler;
    } else {
      if (opts.sampler !== undefined && opts.shuffle) throw new ValueError('DataLoader', 'sampler option is mutually exclusive with shuffle');
      positiveInt('batchSize', this.batchSize);
      const map = dataset as MapDataset<T>;
      this.sampler = opts.sampler ?? (opts.shuffle ? new RandomSampler(map, { generator: opts.generator }) : new SequentialSampler(map));
      this.batchSampler = new BatchSampler(this.sampler, this.batchSize, this.dropLast);
    }

    this.spec = opts.workerInit ?? specOf(dataset);
    if (this.numWorkers > 0 && this.spec === undefined) {
      throw new ValueError(
        'DataLoader',
        'numWorkers > 0 needs a dataset the workers can rebuild: pass { workerInit: { module, exportName, args } } (a module whose export builds the dataset), or use a dataset with workerSpec() (TensorDataset, Subset, ConcatDataset, MNIST and FashionMNIST with built-in transforms)',
      );
    }
  }

  /** The number of batches one epoch yields. Example: `new fm.data.DataLoader(ds, { batchSize: 4 }).length`. */
  get length(): number {
    if (this.batchSampler) {
      const n = (this.batchSampler as { length?: unknown }).length;
      if (typeof n !== 'number') throw new ValueError('DataLoader', 'the batchSampler has no length');
      return n;
    }
    const n = (this.dataset as { length?: unknown }).length;
    if (typeof n !== 'number') throw new ValueError('DataLoader', 'this IterableDataset has no length, so neither has the loader');
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Reads and collates the next batch on the main thread, each time it is asked. */
  *[Symbol.iterator](): Iterator<B> {
    const f = this.fetcher(true);
    try {
      for (let r = f.nextSync(); !r.done; r = f.nextSync()) yield this.pinned(r.value);
    } finally {
      f.close();
    }
  }

  /** Yields batches while the next one is being read (see the class comment). */
  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    const f = this.fetcher(false);
    try {
      let pending = f.next();
      for (;;) {
        const r = await pending;
        if (r.done) return;
        pending = f.next();
        // A consumer that stops early never awaits it: its error must not go unhandled.
        pending.catch(() => {});
        yield this.pinned(r.value);
      }
    } finally {
      f.close();
    }
  }

  /** The batch with its tensors pinned, when pinMemory asks and CUDA is there. */
  private pinned(batch: B): B {
    if (!this.pinMemory) return batch;
    if (!cudaAvailable()) {
      if (!warnedNoPin) console.warn("fiamma: DataLoader's pinMemory is set but CUDA is not available: batches stay in ordinary memory");
      warnedNoPin = true;
      return batch;
    }
    return mapTensors(batch, (t) => (t.device.type === 'cpu' ? t.pinMemory() : t)) as B;
  }

  /** Stops persistent workers (a no-op otherwise). Example: `loader.close()`. */
  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
  [Symbol.dispose](): void {
    this.close();
  }

  private fetcher(sync: boolean): Fetcher<B> {
    // As PyTorch, every epoch draws a base seed (the workers' seeds) before the sampler draws, so
    // shuffling is the same with and without workers.
    const baseSeed = Math.floor(rand([1], { dtype: 'float64', generator: this.generator ?? defaultGenerator }).item() * 2 ** 48);
    const finish = (samples: Awaited<T>[], indices?: readonly number[]): B => (this.collateFn ? this.collateFn(samples) : (collateSamples(samples, indices) as B));
    if (this.numWorkers > 0) return this.workerFetcher(baseSeed);
    if (isMapDataset(this.dataset)) return mapBatches(this.dataset, this.batchSampler![Symbol.iterator](), finish);
    return streamBatches(this.dataset as Iterable<T> | AsyncIterable<T>, sync, this.batchSize, this.dropLast, finish);
  }

  private workerFetcher(baseSeed: number): Fetcher<B> {
    const isMap = this.batchSampler !== null;
    const config = {
      spec: this.spec!,
      numWorkers: this.numWorkers,
      collate: this.collateFn === undefined,
      iterable: isMap ? null : { batchSize: this.batchSize, dropLast: this.dropLast },
    };
    const pool = this.persistentWorkers ? (this.pool ??= new WorkerPool(config, baseSeed)) : new WorkerPool(config, baseSeed);
    const expected = isMap ? (this.dataset as MapDataset<T>).length : null;
    const fetcher = new WorkerFetcher(pool, this.epoch++, isMap ? this.batchSampler![Symbol.iterator]() : null, this.prefetchFactor, expected, this.timeout);
    const toBatch = (decoded: unknown): B => (this.collateFn ? this.collateFn(decoded as Awaited<T>[]) : (decoded as B));
    return workerBatches(fetcher, toBatch, () => (this.persistentWorkers ? undefined : pool.close()));
  }
}

