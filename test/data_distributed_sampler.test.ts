// fm.data.DistributedSampler against PyTorch's rules: shard coverage, padding, dropLast, per-epoch
// shuffling, the hand-computed unshuffled order, errors, and use as a DataLoader's sampler.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { expectError as expectErrorIn } from './helpers.js';
import { setDefaultProcessGroup } from '../src/distributed/state.js';

const { data } = fm;

type ErrorClass = new (...args: never[]) => fm.FiammaError;
function expectError(fn: () => unknown, cls: ErrorClass, op: string, re: RegExp): fm.FiammaError {
  return expectErrorIn(fn, cls, op, re, /data_distributed_sampler\.test\.js/);
}

const sized = (length: number) => ({ length });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The shards of every rank for one epoch. */
function shards(n: number, numReplicas: number, opts: Omit<fm.data.DistributedSamplerOptions, 'numReplicas' | 'rank'> = {}, epoch = 0): number[][] {
  return range(numReplicas).map((rank) => {
    const s = new data.DistributedSampler(sized(n), { numReplicas, rank, ...opts });
    s.setEpoch(epoch);
    const out = [...s];
    assert.equal(out.length, s.length);
    return out;
  });
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('DistributedSampler', () => {
  test('without shuffle: PyTorch order for n=10, 3 replicas (padded with 0 and 1)', () => {
    assert.deepEqual(shards(10, 3, { shuffle: false }), [
      [0, 3, 6, 9],
      [1, 4, 7, 0],
      [2, 5, 8, 1],
    ]);
    const s = new data.DistributedSampler(sized(10), { numReplicas: 3, rank: 1, shuffle: false });
    assert.equal(s.numSamples, 4);
    assert.equal(s.totalSize, 12);
    assert.equal(s.length, 4);
  });

  test('divisible: the shards of all ranks cover the dataset exactly once, every epoch', () => {
    for (const shuffle of [false, true]) {
      for (const epoch of [0, 1, 7]) {
        const all = shards(24, 4, { shuffle, seed: 3 }, epoch);
        assert.ok(all.every((s) => s.length === 6));
        assert.deepEqual(sorted(all.flat()), range(24));
      }
    }
  });

  test('padding: every index appears; the duplicates are exactly the first padded ones', () => {
    const n = 10;
    const p = 4; // totalSize 12: two indices padded
    for (const epoch of [0, 1]) {
      const s0 = new data.DistributedSampler(sized(n), { numReplicas: p, rank: 0, seed: 5 });
      s0.setEpoch(epoch);
      // The global order, rebuilt by interleaving the shards: position i belongs to rank i % p.
      const all = shards(n, p, { seed: 5 }, epoch);
      const global = range(s0.totalSize).map((i) => all[i % p]![Math.floor(i / p)]!);
      assert.deepEqual(sorted(global.slice(0, n)), range(n)); // the first n are a permutation
      assert.deepEqual(global.slice(n), global.slice(0, s0.totalSize - n)); // the padding repeats the start
      assert.deepEqual(new Set(all.flat()).size, n);
    }
  });

  test('dropLast: every rank gets floor(n / replicas), distinct indices', () => {
    const all = shards(10, 3, { dropLast: true, shuffle: false });
    assert.deepEqual(all, [
      [0, 3, 6],
      [1, 4, 7],
      [2, 5, 8],
    ]);
    const s = new data.DistributedSampler(sized(10), { numReplicas: 3, rank: 0, dropLast: true });
    assert.equal(s.numSamples, 3);
    assert.equal(s.totalSize, 9);
    const shuffled = shards(10, 3, { dropLast: true, seed: 1 }).flat();
    assert.equal(shuffled.length, 9);
    assert.equal(new Set(shuffled).size, 9);
    // Divisible: dropLast changes nothing.
    assert.deepEqual(shards(12, 3, { dropLast: true, shuffle: false }), shards(12, 3, { shuffle: false }));
  });

  test('shuffle: seed + epoch decide the order, the same on every call', () => {
    const s = new data.DistributedSampler(sized(50), { numReplicas: 1, rank: 0, seed: 7 });
    const e0 = [...s];
    assert.deepEqual([...s], e0, 'the same epoch gives the same order');
    assert.notDeepEqual(e0, range(50), 'shuffled');
    s.setEpoch(1);
    const e1 = [...s];
    assert.notDeepEqual(e1, e0, 'a new epoch gives a new order');
    assert.deepEqual(sorted(e1), range(50));
    const again = new data.DistributedSampler(sized(50), { numReplicas: 1, rank: 0, seed: 7 });
    again.setEpoch(1);
    assert.deepEqual([...again], e1, 'same seed and epoch in another sampler: same order');
    const otherSeed = new data.DistributedSampler(sized(50), { numReplicas: 1, rank: 0, seed: 8 });
    assert.notDeepEqual([...otherSeed], e0);
    // The order is that of randperm with a generator seeded seed + epoch, as PyTorch builds it.
    const perm = Array.from(fm.randperm(50, { generator: new fm.Generator().manualSeed(8) }).data() as ArrayLike<number | bigint>, Number);
    assert.deepEqual(e1, perm);
    // Drawing from the global generator in between changes nothing.
    fm.rand([100]);
    assert.deepEqual([...again], e1);
  });

  test('dataset smaller than the number of replicas: the list repeats as often as needed', () => {
    assert.deepEqual(shards(2, 5, { shuffle: false }), [[0], [1], [0], [1], [0]]);
    assert.deepEqual(shards(3, 8, { shuffle: false }).flat(), [0, 1, 2, 0, 1, 2, 0, 1]);
    const shuffled = shards(3, 8, { seed: 2 }).flat();
    assert.deepEqual(sorted(shuffled.slice(0, 3)), [0, 1, 2]);
    assert.deepEqual(shuffled.slice(3), [...shuffled.slice(0, 3), ...shuffled.slice(0, 3)].slice(0, 5));
    // With dropLast there is nothing to read.
    assert.deepEqual(shards(3, 8, { dropLast: true }), range(8).map(() => []));
    assert.deepEqual(shards(0, 2), [[], []]);
  });

  test('errors: a bad rank, numReplicas, seed or epoch', () => {
    expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 3, rank: 3 }), fm.ValueError, 'DistributedSampler', /Invalid rank 3, rank should be in the interval \[0, 2\]/);
    expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 3, rank: -1 }), fm.ValueError, 'DistributedSampler', /Invalid rank -1/);
    expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 0, rank: 0 }), fm.ValueError, 'DistributedSampler', /numReplicas should be an integer >= 1, got 0/);
    expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 2, rank: 0, seed: 0.5 }), fm.ValueError, 'DistributedSampler', /seed should be an integer, got 0.5/);
    const s = new data.DistributedSampler(sized(10), { numReplicas: 2, rank: 0 });
    expectError(() => s.setEpoch(-1), fm.ValueError, 'DistributedSampler', /epoch should be an integer >= 0, got -1/);
  });

  test('defaults come from the process group; without one, its DistributedError', () => {
    expectError(() => new data.DistributedSampler(sized(10)), fm.DistributedError, 'getWorldSize', /default process group has not been initialized/);
    expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 2 }), fm.DistributedError, 'getRank', /default process group has not been initialized/);
    // A stand-in group: the sampler reads only rank and size.
    setDefaultProcessGroup({ rank: 1, size: 3 } as unknown as Parameters<typeof setDefaultProcessGroup>[0]);
    try {
      const s = new data.DistributedSampler(sized(10), { shuffle: false });
      assert.equal(s.numReplicas, 3);
      assert.equal(s.rank, 1);
      assert.deepEqual([...s], [1, 4, 7, 0]);
      expectError(() => new data.DistributedSampler(sized(10), { numReplicas: 1 }), fm.ValueError, 'DistributedSampler', /Invalid rank 1, rank should be in the interval \[0, 0\]/);
    } finally {
      setDefaultProcessGroup(null);
    }
  });

  test('as a DataLoader sampler: each rank reads its shard in batches', () => {
    const ds = range(10).map((i) => i * 10);
    const got = range(3).map((rank) => {
      const sampler = new data.DistributedSampler(ds, { numReplicas: 3, rank, shuffle: false });
      const loader = new data.DataLoader(ds, { batchSize: 3, sampler });
      assert.equal(loader.length, 2);
      return [...loader].map((b) => Array.from((b as fm.Tensor).data() as ArrayLike<number | bigint>, Number));
    });
    assert.deepEqual(got, [
      [[0, 30, 60], [90]],
      [[10, 40, 70], [0]],
      [[20, 50, 80], [10]],
    ]);
    // setEpoch changes what the same loader reads next.
    const sampler = new data.DistributedSampler(ds, { numReplicas: 2, rank: 0, seed: 1 });
    const loader = new data.DataLoader(ds, { batchSize: 5, sampler });
    const first = [...loader].map((b) => Array.from((b as fm.Tensor).data() as ArrayLike<number | bigint>, Number));
    sampler.setEpoch(1);
    const second = [...loader].map((b) => Array.from((b as fm.Tensor).data() as ArrayLike<number | bigint>, Number));
    assert.notDeepEqual(second, first);
  });
});
