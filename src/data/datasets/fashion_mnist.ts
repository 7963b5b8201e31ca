// Fashion-MNIST from its IDX files (by default where Debian's dataset-fashion-mnist package puts them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '../../tensor/tensor.js';
import { ShapeError, ValueError } from '../../errors.js';
import { readIdx } from './idx.js';
import { VisionDataset, type Split, type VisionDatasetOptions } from './vision.js';

/** Where Debian's `dataset-fashion-mnist` package installs the four IDX files. Example: `fm.data.datasets.FASHION_MNIST_DEBIAN_ROOT`. */
export const FASHION_MNIST_DEBIAN_ROOT = '/usr/share/datasets/fashion-mnist';

const cache = new Map<string, Split>();

/** `root/name` or `root/name.gz`, whichever exists. */
function idxFile(root: string, name: string): string {
  for (const f of [path.join(root, name), path.join(root, `${name}.gz`)]) if (fs.existsSync(f)) return f;
  throw new ValueError('FashionMNIST', `no ${name}(.gz) in '${root}': install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or pass { root } with the IDX files`);
}

function load(root: string, train: boolean): Split {
  const key = `${path.resolve(root)}:${train}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const prefix = train ? 'train' : 't10k';
  const images = idxFile(root, `${prefix}-images-idx3-ubyte`);
  const labelsFile = idxFile(root, `${prefix}-labels-idx1-ubyte`);
  const data = readIdx(images);
  const targets = readIdx(labelsFile);
  if (data.dtype !== 'uint8' || data.ndim !== 3) throw new ShapeError('FashionMNIST', `${images} should hold [N, H, W] uint8 images, got ${data.ndim} dims of ${data.dtype}`);
  if (targets.dtype !== 'uint8' || targets.ndim !== 1 || targets.shape[0] !== data.shape[0]) {
    throw new ShapeError('FashionMNIST', `${labelsFile} should hold ${data.shape[0]} uint8 labels, got shape [${targets.shape.join(', ')}] of ${targets.dtype}`);
  }
  const split = { data, targets: targets.long(), labels: targets.data() as Uint8Array };
  cache.set(key, split);
  return split;
}

/** Options of FashionMNIST. Example: `{ root: '/data/fashion', train: false }`. */
export interface FashionMNISTOptions<X, Y> extends VisionDatasetOptions<X, Y> {
  /** The folder of the IDX files (plain or .gz); default Debian's `/usr/share/datasets/fashion-mnist`. */
  root?: string;
}

/**
 * Zalando's Fashion-MNIST (60,000 training and 10,000 test images of clothes in 10 classes), read
 * from its IDX files. As MNIST here, samples are `[image, label]` with a [1, 28, 28] float32 image
 * in [0, 1] (the bytes / 255: no ToTensor needed) and a numeric label; `data` keeps the uint8 bytes.
 * Example: `const test = new fm.data.datasets.FashionMNIST({ train: false }); test.length // 10000`
 */
export class FashionMNIST<X = Tensor, Y = number> extends VisionDataset<X, Y> {
  /** Class names, as torchvision's. */
  static readonly classes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  readonly root: string;
  /** `data` holds the [N, 28, 28] uint8 bytes. */
  constructor(opts: FashionMNISTOptions<X, Y> = {}) {
    const root = opts.root ?? FASHION_MNIST_DEBIAN_ROOT;
    super(opts, (train) => load(root, train));
    this.root = root;
  }
  protected image(i: number): Tensor {
    return this.split.data.select(0, i).unsqueeze(0).float().div(255);
  }
  protected specOptions(): Record<string, unknown> {
    return { root: this.root };
  }
}
