// Datasets as in torch.utils.data: the map-style and iterable base classes, and the ones built
// from others (TensorDataset, ConcatDataset, Subset, randomSplit).
import { Tensor } from '../tensor/tensor.js';
import { IndexError, ShapeError, ValueError } from '../errors.js';
import { defaultGenerator, randperm, type Generator } from '../functional/random.js';
import { fmtShape } from '../tensor/shape.js';
import { buildFromSpec, specOf, specsOf, type WorkerSpec } from './spec.js';
import { tensorFromWire, tensorToWire, type WireTensor } from './transfer.js';

/**
 * Anything indexable with a length: what a DataLoader, Subset or sampler needs of a map-style
 * dataset. Example: `const ds: fm.data.MapDataset<number> = { length: 3, get: (i) => i * i };`
 */
export interface MapDataset<T> {
  readonly length: number;
  get(index: number): T;
}

/**
 * A map-style dataset: `length` samples, read by index. Subclasses implement both; a sample may be
 * any value `defaultCollate` batches, or a promise of one (read with `for await` over a DataLoader).
 * Example:
 * ```ts
 * class Squares extends fm.data.Dataset<[number, number]> {
 *   get length() { return 10; }
 *   get(i: number): [number, number] { return [i, i * i]; }
 * }
 * ```
 */
export abstract class Dataset<T> implements MapDataset<T> {
  /** The number of samples (PyTorch's `__len__`). */
  abstract get length(): number;
  /** Sample `index`, 0 <= index < length (PyTorch's `__getitem__`). */
  abstract get(index: number): T;
  /**
   * How a DataLoader worker rebuilds this dataset (see `WorkerSpec`); undefined (the default)
   * when it cannot, and then `numWorkers > 0` needs the loader's `workerInit`.
   */
  workerSpec(): WorkerSpec | undefined {
    return undefined;
  }
  /** This dataset followed by `other` (PyTorch's `dataset + other`). Example: `train.concat(extra)`. */
  concat<U>(other: MapDataset<U>): ConcatDataset<T | U> {
    return new ConcatDataset<T | U>([this, other]);
  }
}

/**
 * A stream of samples, for data that cannot be read by index. Implement `[Symbol.iterator]` or
 * `[Symbol.asyncIterator]` (async ones need `for await` over the DataLoader), and a `length`
 * getter when the count is known. In DataLoader workers each worker iterates its own copy:
 * shard with `getWorkerInfo()` as in PyTorch.
 * Example:
 * ```ts
 * class Count extends fm.data.IterableDataset<number> {
 *   *[Symbol.iterator]() { for (let i = 0; i < 5; i++) yield i; }
 * }
 * ```
 */
export abstract class IterableDataset<T> {
  // NOTE: the iterator methods (and so T) are not declared here: optional members would force
  // `override` on every subclass (noImplicitOverride). The DataLoader takes any (async) iterable.
  /** How a DataLoader worker rebuilds this dataset; undefined (the default) when it cannot. */
  workerSpec(): WorkerSpec | undefined {
    return undefined;
  }
}

/** True for map-style datasets (a numeric `length` and a `get` method). */
export function isMapDataset(x: unknown): x is MapDataset<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as MapDataset<unknown>).get === 'function' && typeof (x as MapDataset<unknown>).length === 'number';
}

/** Index `i` of a sequence of `n`, negative counting from the end as in Python; IndexError otherwise. */
export function normIndex(op: string, i: number, n: number): number {
  if (!Number.isInteger(i)) throw new IndexError(op, `index must be an integer, got ${i}`);
  if (i < -n || i >= n) throw new IndexError(op, `index ${i} is out of range for a dataset of length ${n}`);
  return i < 0 ? i + n : i;
}

/**
 * Samples are the rows of tensors that share their first dim: sample i is `[t0[i], t1[i], ...]`
 * (views, as PyTorch's `tensor[i]`).
 * Example: `const ds = new fm.data.TensorDataset(x, y); const [xi, yi] = ds.get(0);`
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> extends Dataset<T> {
  readonly tensors: T;
  constructor(...tensors: T) {
    super();
    if (tensors.length === 0) throw new ValueError('TensorDataset', 'expected at least one tensor');
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new ValueError('TensorDataset', `argument ${i} is not a tensor`);
      if (t.ndim === 0) throw new ShapeError('TensorDataset', `tensor ${i} is 0-dim; every tensor needs a first dim to index samples`);
      if (t.shape[0] !== tensors[0]!.shape[0]) {
        throw new ShapeError('TensorDataset', `size mismatch between tensors: tensor 0 has shape ${fmtShape(tensors[0]!.shape)}, tensor ${i} has ${fmtShape(t.shape)}; the first dims must be equal`);
      }
    });
    this.tensors = tensors;
  }
  get length(): number {
    return this.tensors[0]!.shape[0]!;
  }
  get(index: number): T {
    const i = normIndex('TensorDataset', index, this.length);
    return this.tensors.map((t) => t.select(0, i)) as T;
  }
  /** Workers get copies of the tensors (on the cpu). */
  override workerSpec(): WorkerSpec {
    return { module: import.meta.url, exportName: 'TensorDataset', args: this.tensors.map((t) => tensorToWire(t, [])) };
  }
  /** Rebuilds a TensorDataset in a worker. */
  static fromSpec(args: WireTensor[]): TensorDataset {
    return new TensorDataset(...args.map(tensorFromWire));
  }
}

/**
 * Datasets one after the other. Example: `new fm.data.ConcatDataset([trainA, trainB]).length`.
 */
export class ConcatDataset<T> extends Dataset<T> {
  readonly datasets: readonly MapDataset<T>[];
  /** cumulativeSizes[k]: samples in datasets 0..k (PyTorch's `cumulative_sizes`). */
  readonly cumulativeSizes: readonly number[];
  constructor(datasets: readonly MapDataset<T>[]) {
    super();
    if (datasets.length === 0) throw new ValueError('ConcatDataset', 'datasets should not be an empty list');
    datasets.forEach((d, i) => {
      if (!isMapDataset(d)) throw new ValueError('ConcatDataset', `dataset ${i} is not a map-style dataset (a length and get(i)); ConcatDataset does not take IterableDatasets`);
    });
    this.datasets = [...datasets];
    let total = 0;
    this.cumulativeSizes = datasets.map((d) => (total += d.length));
  }
  get length(): number {
    return this.cumulativeSizes[this.cumulativeSizes.length - 1]!;
  }
  get(index: number): T {
    const i = normIndex('ConcatDataset', index, this.length);
    // The first dataset whose cumulative size exceeds i (binary search).
    let lo = 0;
    let hi = this.cumulativeSizes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulativeSizes[mid]! > i) hi = mid;
      else lo = mid + 1;
    }
    return this.datasets[lo]!.get(lo === 0 ? i : i - this.cumulativeSizes[lo - 1]!);
  }
  /** Defined when every part has a spec. */
  override workerSpec(): WorkerSpec | undefined {
    const specs = specsOf(this.datasets);
    return specs && { module: import.meta.url, exportName: 'ConcatDataset', args: specs };
  }
  /** Rebuilds a ConcatDataset in a worker. */
  static async fromSpec(args: WorkerSpec[]): Promise<ConcatDataset<unknown>> {
    return new ConcatDataset(await Promise.all(args.map((s) => buildFromSpec(s) as Promise<MapDataset<unknown>>)));
  }
}

/**
 * The samples of `dataset` at `indices`, in that order.
 * Example: `const firstTen = new fm.data.Subset(ds, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);`
 */
export class Subset<T> extends Dataset<T> {
  readonly dataset: MapDataset<T>;
  readonly indices: readonly number[];
  constructor(dataset: MapDataset<T>, indices: readonly number[] | Tensor) {
    super();
    if (!isMapDataset(dataset)) throw new ValueError('Subset', 'expected a map-style dataset (a length and get(i))');
    const list = indices instanceof Tensor ? (indices.ndim === 1 ? (indices.toArray() as number[]) : null) : indices;
    if (list === null) throw new ShapeError('Subset', `indices must be 1-D, got shape ${fmtShape((indices as Tensor).shape)}`);
    const n = dataset.length;
    list.forEach((i, k) => {
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new IndexError('Subset', `indices[${k}] = ${i} is not an index of a dataset of length ${n}`);
    });
    this.dataset = dataset;
    this.indices = [...list];
  }
  get length(): number {
    return this.indices.length;
  }
  get(index: number): T {
    return this.dataset.get(this.indices[normIndex('Subset', index, this.indices.length)]!);
  }
  /** Defined when the underlying dataset has a spec. */
  override workerSpec(): WorkerSpec | undefined {
    const inner = specOf(this.dataset);
    return inner && { module: import.meta.url, exportName: 'Subset', args: { dataset: inner, indices: this.indices } };
  }
  /** Rebuilds a Subset in a worker. */
  static async fromSpec(args: { dataset: WorkerSpec; indices: number[] }): Promise<Subset<unknown>> {
    return new Subset((await buildFromSpec(args.dataset)) as MapDataset<unknown>, args.indices);
  }
}

/**
 * Splits a dataset into non-overlapping random subsets of the given lengths: counts that sum to
 * the dataset's length, or fractions that sum to 1 (floors, with the remainder dealt one by one
 * to the first subsets, as PyTorch does).
 * Example: `const [train, val] = fm.data.randomSplit(ds, [0.8, 0.2], { generator: new fm.Generator().manualSeed(42) });`
 */
export function randomSplit<T>(dataset: MapDataset<T>, lengths: readonly number[], opts?: { generator?: Generator }): Subset<T>[] {
  const n = dataset.length;
  let counts = [...lengths];
  const total = lengths.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) <= 1e-9 && total <= 1) {
    lengths.forEach((f, i) => {
      if (!(f >= 0 && f <= 1)) throw new ValueError('randomSplit', `fraction at index ${i} is not between 0 and 1: ${f}`);
    });
    counts = lengths.map((f) => Math.floor(n * f));
    const remainder = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; i < remainder; i++) counts[i % counts.length]! += 1;
  }
  counts.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0) throw new ValueError('randomSplit', `length at index ${i} must be a non-negative integer (or all lengths fractions summing to 1), got ${c}`);
  });
  const sum = counts.reduce((a, b) => a + b, 0);
  if (sum !== n) throw new ValueError('randomSplit', `sum of input lengths (${sum}) does not equal the length of the input dataset (${n})`);
  const perm = randperm(n, { generator: opts?.generator ?? defaultGenerator }).toArray() as number[];
  let at = 0;
  return counts.map((c) => new Subset(dataset, perm.slice(at, (at += c))));
}
