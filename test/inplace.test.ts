// In-place ops: the direct kernel path (outside autograd) against the out-of-place ops, aliasing,
// dtype rules and version counting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';

const big = (seed: number) => {
  fm.manualSeed(seed);
  return fm.randn([300, 400]);
};

test('in-place arithmetic equals the out-of-place op, small and large, contiguous and strided', () => {
  for (const make of [() => fm.tensor([[1, -2, 3], [4, 5, -6]]), () => big(1)]) {
    const other = make().mul(0.5).add(0.25);
    for (const [name, ref] of [
      ['add_', (a: fm.Tensor, b: fm.Tensor) => a.add(b)],
      ['sub_', (a: fm.Tensor, b: fm.Tensor) => a.sub(b)],
      ['mul_', (a: fm.Tensor, b: fm.Tensor) => a.mul(b)],
      ['div_', (a: fm.Tensor, b: fm.Tensor) => a.div(b)],
      ['maximum_', (a: fm.Tensor, b: fm.Tensor) => a.maximum(b)],
    ] as const) {
      const x = make();
      const want = ref(x, other).toArray();
      (x[name] as (o: fm.Tensor) => fm.Tensor)(other);
      assert.deepEqual(x.toArray(), want, name);
      // A transposed (strided) self and a broadcast row.
      const y = make().T;
      const row = other.T.index(0);
      const wantT = ref(y, row).toArray();
      (y[name] as (o: fm.Tensor) => fm.Tensor)(row);
      assert.deepEqual(y.toArray(), wantT, `${name} on a transposed view`);
    }
    for (const name of ['relu_', 'exp_', 'neg_', 'tanh_'] as const) {
      const x = make();
      const want = x[name.slice(0, -1) as 'relu' | 'exp' | 'neg' | 'tanh']().toArray();
      x[name]();
      assert.deepEqual(x.toArray(), want, name);
    }
  }
});

test('an operand sharing memory with self is read before it is overwritten', () => {
  const x = fm.arange(6).float();
  x.add_(x);
  assert.deepEqual(x.toArray(), [0, 2, 4, 6, 8, 10]);
  const y = fm.arange(6).float();
  y.add_(y.flip([0]));
  assert.deepEqual(y.toArray(), [5, 5, 5, 5, 5, 5]);
});

test('in-place ops keep the dtype rules and bump the version', () => {
  const i = fm.tensor([1, 2, 3], { dtype: 'int64' });
  assert.throws(() => i.add_(0.5), (e: unknown) => e instanceof fm.DTypeError && /float32 can't be cast to the desired output type int64/.test((e as Error).message));
  assert.throws(() => i.div_(2), fm.DTypeError);
  i.mul_(2);
  assert.deepEqual(i.toArray(), [2, 4, 6]);
  const v = i.storage.version;
  i.add_(1);
  assert.equal(i.storage.version, v + 1);
  assert.throws(() => fm.ones([3]).add_(fm.ones([2, 3])), /output with shape \[3\] doesn't match the broadcast shape \[2, 3\]/);
});

test('an optimizer-style update under noGrad changes the leaf in place', () => {
  const w = fm.tensor([1, 2, 3], { requiresGrad: true });
  w.mul(w).sum().backward();
  const before = w.storage;
  fm.noGrad(() => w.sub_(w.grad!.mul(0.1)));
  assert.equal(w.storage, before);
  assert.deepEqual((w.toArray() as number[]).map((v) => Math.round(v * 1e5) / 1e5), [0.8, 1.6, 2.4]);
  assert.throws(() => w.sub_(1), /leaf tensor that requires grad is being used in an in-place operation/);
});

test('addcmul_ and addcdiv_ (the Adam updates) against the composite', () => {
  const v = fm.tensor([1, 2, 3]);
  v.addcmul_(fm.tensor([2, 2, 2]), fm.tensor([1, 2, 3]), 0.5);
  assert.deepEqual(v.toArray(), [2, 4, 6]);
  v.addcdiv_(fm.tensor([4, 4, 4]), fm.tensor([2, 4, 8]), -1);
  assert.deepEqual(v.toArray(), [0, 3, 5.5]);
});

test('expandAs, clampMin and clampMax', () => {
  const b = fm.tensor([[1], [2]]);
  assert.deepEqual(b.expandAs(fm.zeros([2, 3])).toArray(), [[1, 1, 1], [2, 2, 2]]);
  const x = fm.tensor([-2, 0.5, 3]);
  assert.deepEqual(x.clampMin(0).toArray(), [0, 0.5, 3]);
  assert.deepEqual(x.clampMax(1).toArray(), [-2, 0.5, 1]);
  assert.deepEqual(x.clampMin(fm.tensor([0, 1, 0])).toArray(), [0, 1, 3]);
});
