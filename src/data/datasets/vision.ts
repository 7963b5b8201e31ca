// The base of the image classification datasets (MNIST, FashionMNIST): images as [1, H, W]
// float tensors in [0, 1], integer labels, optional transforms, and the spec workers rebuild them from.
import type { Tensor } from '../../tensor/tensor.js';
import { Dataset, normIndex } from '../dataset.js';
import { buildFromSpec, specOf, type WorkerSpec } from '../spec.js';
import { applyTransform, type Transform } from '../transforms/transform.js';

/** One split's images (`data`), labels as int64 (`targets`) and as bytes (`labels`, read per sample). */
export interface Split {
  data: Tensor;
  targets: Tensor;
  labels: Uint8Array;
}

/** Options of the image classification datasets. Example: `{ train: false, transform: new Normalize([0.5], [0.5]) }`. */
export interface VisionDatasetOptions<X, Y> {
  /** The training split (default) or the test split. */
  train?: boolean;
  /** Applied to each [1, H, W] float image (no ToTensor needed: images already are tensors). */
  transform?: Transform<Tensor, X>;
  /** Applied to each label (a number). */
  targetTransform?: Transform<number, Y>;
}

/**
 * Samples `[image, label]`: a [1, H, W] float32 image in [0, 1] and its class as a number (which
 * `defaultCollate` batches to int64), each through its optional transform.
 * Example: `class Digits extends VisionDataset { protected image(i) { ... } protected label(i) { ... } ... }` (see MNIST).
 */
export abstract class VisionDataset<X = Tensor, Y = number> extends Dataset<[X, Y]> {
  readonly train: boolean;
  readonly transform: Transform<Tensor, X> | undefined;
  readonly targetTransform: Transform<number, Y> | undefined;
  protected readonly split: Split;
  /** `load` reads the split asked for (train or test). */
  constructor(opts: VisionDatasetOptions<X, Y>, load: (train: boolean) => Split) {
    super();
    this.train = opts.train ?? true;
    this.transform = opts.transform;
    this.targetTransform = opts.targetTransform;
    this.split = load(this.train);
  }
  /** All images, [N, H, W]. */
  get data(): Tensor {
    return this.split.data;
  }
  /** All labels, [N] int64. */
  get targets(): Tensor {
    return this.split.targets;
  }
  get length(): number {
    return this.split.labels.length;
  }
  /** Image i as a new [1, H, W] float32 tensor in [0, 1]. */
  protected abstract image(i: number): Tensor;
  /** The module and export workers import (the datasets' index), and the options besides transforms. */
  protected abstract specOptions(): Record<string, unknown>;

  get(index: number): [X, Y] {
    const i = normIndex(this.constructor.name, index, this.length);
    const img = this.image(i);
    const y = this.split.labels[i]!;
    return [this.transform ? applyTransform(this.transform, img) : (img as X), this.targetTransform ? applyTransform(this.targetTransform, y) : (y as Y)];
  }

  /** Defined when the transforms are built-in ones (functions cannot reach a worker). */
  override workerSpec(): WorkerSpec | undefined {
    const transform = this.transform && specOf(this.transform);
    const targetTransform = this.targetTransform && specOf(this.targetTransform);
    if ((this.transform && !transform) || (this.targetTransform && !targetTransform)) return undefined;
    return { module: new URL('./index.js', import.meta.url).href, exportName: this.constructor.name, args: { ...this.specOptions(), train: this.train, transform, targetTransform } };
  }
  /** Rebuilds the dataset in a worker. */
  static async fromSpec(this: new (opts: VisionDatasetOptions<unknown, unknown>) => unknown, args: Record<string, unknown>): Promise<unknown> {
    // Transforms' types are not known across the thread boundary.
    const build = <I>(s: unknown) => (s === undefined ? undefined : (buildFromSpec(s as WorkerSpec) as Promise<Transform<I, unknown>>));
    return new this({ ...args, transform: await build<Tensor>(args.transform), targetTransform: await build<number>(args.targetTransform) });
  }
}
