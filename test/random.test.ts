// Random numbers: seeding and reproducibility, Generator objects apart from the default one,
// and the ranges and statistics of every sampler (rand, randn, randint, randperm, bernoulli,
// multinomial, uniform_, normal_).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';

const N = 20000;

function values(t: fm.Tensor): number[] {
  return Array.from(t.data() as ArrayLike<number | bigint>, Number);
}
function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function variance(xs: number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}
/** |actual - expected| within k standard errors. */
function near(actual: number, expected: number, stdErr: number, what: string, k = 5): void {
  assert.ok(Math.abs(actual - expected) <= k * stdErr, `${what}: ${actual} vs ${expected} (allowed ${k * stdErr})`);
}

describe('seeding and reproducibility', () => {
  const samplers: [string, () => fm.Tensor][] = [
    ['rand', () => fm.rand([3, 4])],
    ['randn', () => fm.randn([7])],
    ['randint', () => fm.randint(-5, 5, [10])],
    ['randperm', () => fm.randperm(12)],
    ['bernoulli', () => fm.bernoulli(fm.full([10], 0.5))],
    ['multinomial', () => fm.multinomial(fm.tensor([0.1, 0.2, 0.7]), 6, { replacement: true })],
    ['multinomial (no replacement)', () => fm.multinomial(fm.tensor([1, 2, 3, 4]), 3)],
    ['uniform_', () => fm.empty([5]).uniform_(-2, 2)],
    ['normal_', () => fm.empty([5]).normal_(3, 0.1)],
    ['randnLike', () => fm.randnLike(fm.zeros([2, 2], { dtype: 'float64' }))],
  ];
  for (const [name, draw] of samplers) {
    test(`${name}: the same seed gives the same values; draws in sequence differ`, () => {
      fm.manualSeed(1234);
      const a1 = draw().toArray();
      const a2 = draw().toArray();
      fm.manualSeed(1234);
      assert.deepEqual(draw().toArray(), a1);
      assert.deepEqual(draw().toArray(), a2);
      fm.manualSeed(99);
      const b = [draw().toArray(), draw().toArray()];
      assert.notDeepEqual(b, [a1, a2], 'another seed gives other values');
    });
  }

  test('successive draws differ, and a bigint seed works', () => {
    fm.manualSeed(0);
    assert.notDeepEqual(fm.rand([8]).toArray(), fm.rand([8]).toArray());
    fm.manualSeed(7n);
    const a = fm.randn([4]).toArray();
    fm.manualSeed(7);
    assert.deepEqual(fm.randn([4]).toArray(), a);
  });

  test('manualSeed returns the default generator, which reports the seed', () => {
    const g = fm.manualSeed(42);
    assert.ok(g instanceof fm.Generator);
    assert.equal(g, fm.defaultGenerator);
    assert.equal(g.initialSeed(), 42n);
  });

  test('getState/setState rewind the default generator', () => {
    fm.manualSeed(5);
    fm.rand([3]);
    const state = fm.defaultGenerator.getState();
    const a = fm.rand([6]).toArray();
    fm.defaultGenerator.setState(state);
    assert.deepEqual(fm.rand([6]).toArray(), a);
  });
});

describe('Generator objects', () => {
  test('drawing from a Generator leaves the default stream untouched', () => {
    fm.manualSeed(0);
    const a1 = fm.rand([5]).toArray();
    const a2 = fm.rand([5]).toArray();
    fm.manualSeed(0);
    assert.deepEqual(fm.rand([5]).toArray(), a1);
    const g = new fm.Generator().manualSeed(1);
    fm.rand([100], { generator: g });
    fm.randn([100], { generator: g });
    fm.randint(0, 3, [10], { generator: g });
    fm.randperm(10, { generator: g });
    fm.bernoulli(fm.full([4], 0.5), { generator: g });
    fm.multinomial(fm.ones([4]), 2, { generator: g });
    fm.empty([3]).uniform_(0, 1, { generator: g });
    fm.empty([3]).normal_(0, 1, { generator: g });
    assert.deepEqual(fm.rand([5]).toArray(), a2, 'the default stream went on as if g had not been used');
  });

  test('seeding the default generator does not touch a Generator object', () => {
    const g = new fm.Generator().manualSeed(3);
    const ref = new fm.Generator().manualSeed(3);
    const r1 = fm.rand([4], { generator: ref }).toArray();
    const r2 = fm.rand([4], { generator: ref }).toArray();
    assert.deepEqual(fm.rand([4], { generator: g }).toArray(), r1);
    fm.manualSeed(3);
    fm.rand([50]);
    assert.deepEqual(fm.rand([4], { generator: g }).toArray(), r2);
  });

  test('two generators with one seed give the same stream; the default with that seed matches', () => {
    const g1 = new fm.Generator().manualSeed(2024);
    const g2 = new fm.Generator().manualSeed(2024);
    const x = fm.randn([3, 3], { generator: g1 }).toArray();
    assert.deepEqual(fm.randn([3, 3], { generator: g2 }).toArray(), x);
    fm.manualSeed(2024);
    assert.deepEqual(fm.randn([3, 3]).toArray(), x);
  });

  test('a fresh Generator starts from a fixed default seed, and seedRandomly changes it', () => {
    const a = fm.rand([4], { generator: new fm.Generator() }).toArray();
    assert.deepEqual(fm.rand([4], { generator: new fm.Generator() }).toArray(), a);
    const g = new fm.Generator();
    const s = g.seedRandomly();
    assert.equal(g.initialSeed(), s);
    assert.notDeepEqual(fm.rand([4], { generator: g }).toArray(), a);
  });
});

describe('distributions', () => {
  test('rand: float32 in [0, 1), mean 1/2, variance 1/12; float64 on request', () => {
    fm.manualSeed(11);
    const t = fm.rand([N]);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.shape, [N]);
    const xs = values(t);
    assert.ok(xs.every((v) => v >= 0 && v < 1));
    near(mean(xs), 0.5, Math.sqrt(1 / 12 / N), 'mean');
    near(variance(xs), 1 / 12, 0.0005, 'variance');
    // Each tenth of the interval gets about a tenth of the samples.
    const bins = new Array<number>(10).fill(0);
    for (const v of xs) bins[Math.floor(v * 10)]!++;
    for (const b of bins) near(b, N / 10, Math.sqrt(N * 0.09), 'bin count');
    const d = fm.rand([N], { dtype: 'float64' });
    assert.equal(d.dtype, 'float64');
    const ds = values(d);
    assert.ok(ds.every((v) => v >= 0 && v < 1));
    assert.ok(ds.some((v) => v !== Math.fround(v)), 'float64 samples use more than float32 precision');
  });

  test('randn: mean 0, std 1, symmetric, 68% within one std', () => {
    fm.manualSeed(12);
    const xs = values(fm.randn([N]));
    near(mean(xs), 0, 1 / Math.sqrt(N), 'mean');
    near(variance(xs), 1, Math.sqrt(2 / N), 'variance');
    const within = xs.filter((v) => Math.abs(v) < 1).length / N;
    near(within, 0.6827, Math.sqrt(0.6827 * 0.3173 / N), 'P(|z| < 1)');
    const skew = mean(xs.map((v) => v ** 3));
    near(skew, 0, Math.sqrt(15 / N), 'third moment');
    assert.ok(xs.every(Number.isFinite));
  });

  test('rand/randn shapes, requiresGrad and *Like forms', () => {
    assert.deepEqual(fm.rand([2, 0, 3]).shape, [2, 0, 3]);
    assert.deepEqual(fm.randn([]).shape, []);
    const w = fm.randn([3], { requiresGrad: true });
    assert.equal(w.requiresGrad, true);
    assert.equal(w.isLeaf, true);
    const like = fm.randLike(fm.zeros([2, 5], { dtype: 'float64' }));
    assert.deepEqual(like.shape, [2, 5]);
    assert.equal(like.dtype, 'float64');
  });

  test('randint: int64 in [low, high), every value drawn about equally often', () => {
    fm.manualSeed(13);
    const t = fm.randint(-3, 4, [N]);
    assert.equal(t.dtype, 'int64');
    const xs = values(t);
    assert.ok(xs.every((v) => Number.isInteger(v) && v >= -3 && v < 4));
    const counts = new Map<number, number>();
    for (const v of xs) counts.set(v, (counts.get(v) ?? 0) + 1);
    assert.equal(counts.size, 7);
    for (const c of counts.values()) near(c, N / 7, Math.sqrt(N * (1 / 7) * (6 / 7)), 'count');
    assert.equal(fm.randint(0, 10, [3], { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(values(fm.randint(5, 6, [4])), [5, 5, 5, 5]);
    const big = values(fm.randint(0, 2 ** 40, [100]));
    assert.ok(big.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 40));
    assert.ok(big.some((v) => v > 2 ** 32), 'large ranges are covered');
  });

  test('randperm: a permutation of 0..n-1 (int64), every position uniform', () => {
    fm.manualSeed(14);
    const p = fm.randperm(20);
    assert.equal(p.dtype, 'int64');
    const xs = values(p);
    assert.deepEqual([...xs].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual(xs, Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(fm.randperm(0).shape, [0]);
    assert.deepEqual(values(fm.randperm(1)), [0]);
    // Where element 0 lands is uniform over 4 places.
    const firsts = new Array<number>(4).fill(0);
    const trials = 4000;
    for (let k = 0; k < trials; k++) firsts[values(fm.randperm(4)).indexOf(0)]!++;
    for (const c of firsts) near(c, trials / 4, Math.sqrt(trials * 0.1875), 'position count');
  });

  test('bernoulli: 0/1 in p\'s dtype with mean p, elementwise p', () => {
    fm.manualSeed(15);
    const p = fm.full([N], 0.3, { dtype: 'float64' });
    const b = fm.bernoulli(p);
    assert.equal(b.dtype, 'float64');
    const xs = values(b);
    assert.ok(xs.every((v) => v === 0 || v === 1));
    near(mean(xs), 0.3, Math.sqrt(0.21 / N), 'mean');
    assert.ok(values(fm.bernoulli(fm.zeros([100]))).every((v) => v === 0));
    assert.ok(values(fm.bernoulli(fm.ones([100]))).every((v) => v === 1));
    const mixed = fm.bernoulli(fm.tensor([0, 1]).unsqueeze(0).expand([1000, 2]).contiguous());
    assert.deepEqual(values(mixed.sum(0)), [0, 1000]);
    assert.equal(fm.bernoulli(fm.full([2], 0.5)).requiresGrad, false);
  });

  test('multinomial with replacement: frequencies follow the weights (unnormalised ok)', () => {
    fm.manualSeed(16);
    const w = fm.tensor([1, 0, 3, 6]);
    const s = fm.multinomial(w, N, { replacement: true });
    assert.equal(s.dtype, 'int64');
    assert.deepEqual(s.shape, [N]);
    const xs = values(s);
    const probs = [0.1, 0, 0.3, 0.6];
    probs.forEach((p, k) => {
      const f = xs.filter((v) => v === k).length / N;
      near(f, p, Math.sqrt((p * (1 - p)) / N) + 1e-9, `frequency of ${k}`);
    });
  });

  test('multinomial without replacement: distinct picks, never a zero weight, rows independent', () => {
    fm.manualSeed(17);
    const w = fm.tensor([[0, 1, 1, 1, 1], [5, 0, 0, 1, 1]]);
    const s = fm.multinomial(w, 3);
    assert.deepEqual(s.shape, [2, 3]);
    const rows = s.toArray() as number[][];
    for (const [r, row] of rows.entries()) {
      assert.equal(new Set(row).size, 3, 'distinct');
      for (const k of row) assert.ok((w.toArray() as number[][])[r]![k]! > 0, 'never picks a zero weight');
    }
    // Draw 2 of [0.7, 0.2, 0.1]: the first pick is 0 with probability 0.7.
    const firsts = values(fm.multinomial(fm.tensor([0.7, 0.2, 0.1]).unsqueeze(0).expand([N, 3]).contiguous(), 2).select(1, 0));
    near(firsts.filter((v) => v === 0).length / N, 0.7, Math.sqrt(0.21 / N), 'first pick');
    assert.throws(() => fm.multinomial(fm.tensor([1, 1]), 3), fm.ValueError);
    assert.throws(() => fm.multinomial(fm.tensor([1, 0, 0]), 2), fm.ValueError);
    assert.throws(() => fm.multinomial(fm.tensor([1, -1]), 1, { replacement: true }), fm.ValueError);
  });

  test('uniform_ fills in place within [low, high)', () => {
    fm.manualSeed(18);
    const t = fm.zeros([N]);
    const storage = t.storage;
    const v = t.storage.version;
    assert.equal(t.uniform_(-2, 3), t);
    assert.equal(t.storage, storage);
    assert.ok(t.storage.version > v, 'version bumped');
    const xs = values(t);
    assert.ok(xs.every((x) => x >= -2 && x < 3));
    near(mean(xs), 0.5, 5 / Math.sqrt(12 * N), 'mean');
    near(variance(xs), 25 / 12, 0.02, 'variance');
    const d = fm.zeros([3], { dtype: 'float64' }).uniform_();
    assert.ok(values(d).every((x) => x >= 0 && x < 1));
    // A view is filled through: only the selected elements change.
    const base = fm.zeros([4, 2]);
    base.select(1, 0).uniform_(5, 6);
    const rows = base.toArray() as number[][];
    assert.ok(rows.every((r) => r[0]! >= 5 && r[0]! < 6 && r[1] === 0));
  });

  test('normal_ fills in place with the given mean and std', () => {
    fm.manualSeed(19);
    const t = fm.empty([N], { dtype: 'float64' });
    assert.equal(t.normal_(5, 2), t);
    const xs = values(t);
    near(mean(xs), 5, 2 / Math.sqrt(N), 'mean');
    near(Math.sqrt(variance(xs)), 2, 2 / Math.sqrt(2 * N), 'std');
    const z = values(fm.empty([1000]).normal_());
    near(mean(z), 0, 1 / Math.sqrt(1000), 'default mean');
  });

  test('uniform_/normal_ on a parameter under noGrad keep it a leaf', () => {
    const w = fm.zeros([10], { requiresGrad: true });
    fm.noGrad(() => w.normal_(0, 0.02));
    assert.equal(w.isLeaf, true);
    assert.equal(w.requiresGrad, true);
    assert.ok(values(w).some((x) => x !== 0));
    assert.throws(() => w.uniform_(), fm.AutogradError, 'outside noGrad it is an in-place change of a leaf');
  });

  test('samplers reject bad arguments', () => {
    assert.throws(() => fm.randint(3, 3, [2]), fm.ValueError);
    assert.throws(() => fm.randint(0, 1.5, [2]), fm.ValueError);
    assert.throws(() => fm.randperm(-1), fm.ValueError);
    assert.throws(() => fm.randn([2], { dtype: 'int64' }), fm.DTypeError);
    assert.throws(() => fm.bernoulli(fm.ones([2], { dtype: 'int64' })), fm.DTypeError);
    assert.throws(() => fm.ones([2], { dtype: 'int64' }).uniform_(), fm.DTypeError);
    assert.throws(() => fm.multinomial(fm.ones([2, 2, 2]), 1), fm.ValueError);
  });
});
