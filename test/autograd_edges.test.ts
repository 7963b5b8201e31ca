// Edge cases of autograd and indexing found in review, each checked against PyTorch 1.13's answer.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';

const I = (v: number[] | number[][]) => fm.tensor(v, { dtype: 'int64' });
const leaf = (v: number[], dtype: fm.DType = 'float32') => fm.tensor(v, { dtype, requiresGrad: true });

describe('gradients handed to leaves', () => {
  test('a leaf .grad made from a view inside a scope survives the scope', () => {
    const x = fm.tensor([[1, 2]], { requiresGrad: true });
    fm.scope(() => x.reshape([2]).sum().backward());
    assert.deepEqual(x.grad!.toArray(), [[1, 1]]);
  });
  test('retained grads accumulate across backwards inside scopes', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2);
    h.retainGrad();
    fm.scope(() => h.sum().backward(undefined, { retainGraph: true }));
    fm.scope(() => fm.autograd.backward(h.sum(), undefined, { retainGraph: true }));
    assert.deepEqual(h.grad!.toArray(), [2, 2]);
  });
});

describe('in-place changes and history', () => {
  test('a view used after its base changed in place raises instead of giving stale gradients', () => {
    const x = leaf([1, 2, 3]);
    const y = x.mul(1);
    const v = y.narrow(0, 0, 2);
    y.mul_(2);
    assert.throws(() => v.sum(), (e: unknown) => e instanceof fm.AutogradError && /view .* used after its storage was modified in place/.test((e as Error).message));
    // Taken again after the change, the view is current: PyTorch's gradient [2, 2, 0].
    y.narrow(0, 0, 2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2, 0]);
  });
  test('copy_, uniform_ and fill_ on a non-leaf cut the old history (zero gradient), as in PyTorch', () => {
    for (const change of [(y: fm.Tensor) => y.copy_(fm.tensor([5, 5])), (y: fm.Tensor) => y.uniform_(), (y: fm.Tensor) => y.fill_(3), (y: fm.Tensor) => y.zero_()]) {
      const x = leaf([1, 2]);
      const y = x.mul(2);
      change(y);
      assert.equal(y.requiresGrad, true);
      y.mul(3).sum().backward();
      assert.deepEqual(x.grad!.toArray(), [0, 0]);
    }
  });
  test('copy_ from a tensor that requires grad passes the gradient to the source', () => {
    const x = leaf([1, 2]);
    const s = leaf([3, 4]);
    const y = x.mul(2);
    y.copy_(s);
    y.mul(3).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [0, 0]);
    assert.deepEqual(s.grad!.toArray(), [3, 3]);
  });
  test('fill_ under noGrad keeps the graph of a non-leaf', () => {
    const x = leaf([1, 2]);
    const y = x.mul(2);
    fm.noGrad(() => y.zero_());
    assert.ok(y.gradFn !== null);
    assert.deepEqual(y.toArray(), [0, 0]);
  });
  test('retainGrad follows an in-place change to the new version', () => {
    const x = leaf([1, 2]);
    const y = x.mul(1);
    y.retainGrad();
    y.mul_(3);
    y.sum().backward();
    assert.deepEqual(y.grad!.toArray(), [1, 1]);
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
  });
  test('detach() shares storage as an owner: it survives the original and may be changed in place', () => {
    const x = fm.tensor([1, 2]);
    const d = x.detach();
    x.dispose();
    assert.deepEqual(d.toArray(), [1, 2]);
    const w = leaf([2, 2]);
    const z = fm.tensor([1, 1]).detach();
    z.mul_(w);
    z.sum().backward();
    assert.deepEqual(w.grad!.toArray(), [1, 1]);
  });
});

describe('gradient shapes', () => {
  test('scatter and scatterAdd give src a gradient of its own shape (zeros outside the index)', () => {
    for (const op of ['scatter', 'scatterAdd'] as const) {
      const s = fm.ones([3, 3], { requiresGrad: true });
      fm.zeros([3, 3])[op](0, I([[0, 1], [1, 2]]), s).sum().backward();
      assert.deepEqual(s.grad!.toArray(), [[1, 1, 0], [1, 1, 0], [0, 0, 0]]);
    }
  });
  test('a hook that changes the gradient shape raises', () => {
    const x = leaf([1, 2]);
    const y = x.mul(2);
    y.registerHook(() => fm.ones([5]));
    assert.throws(() => y.sum().backward(), /hook changed the gradient's shape from \[2\] to \[5\]/);
  });
  test('a custom Function returning a gradient of the wrong shape raises', () => {
    class Bad extends fm.autograd.Function {
      static override forward(_ctx: fm.autograd.FunctionCtx, x: fm.Tensor) {
        return x.mul(2);
      }
      static override backward(_ctx: fm.autograd.FunctionCtx, g: fm.Tensor) {
        return g.reshape([-1]);
      }
    }
    const x = fm.ones([1, 3], { requiresGrad: true });
    assert.throws(() => Bad.apply(x).sum().backward(), /gradient of shape \[3\] for input 0 of shape \[1, 3\]/);
  });
});

describe('gradients at the edges, as PyTorch', () => {
  test('pow at 0^0 has slope 0', () => {
    const x = leaf([0, 1]);
    x.pow(0).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [0, 0]);
  });
  test('norm with p < 2 is 0 at zero elements', () => {
    const x = leaf([0, 1, 2], 'float64');
    x.norm(1.5).backward();
    const g = x.grad!.toArray() as number[];
    assert.equal(g[0], 0);
    assert.ok(Math.abs(g[1]! - 0.6389) < 1e-3 && Math.abs(g[2]! - 0.9036) < 1e-3, String(g));
    const y = leaf([0, 1, 2], 'float64');
    y.norm(0.5).backward();
    assert.equal((y.grad!.toArray() as number[])[0], 0);
  });
  test('piecewise-constant ops give exact zeros even when upstream is infinite', () => {
    const x = leaf([1.5, 2.5]);
    x.floor().mul(Infinity).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [0, 0]);
  });
});

describe('indexing checks', () => {
  test('indexAdd refuses an index whose length differs from the source', () => {
    assert.throws(() => fm.zeros([2, 3]).indexAdd(0, I([0]), fm.tensor([[1, 2, 3], [10, 20, 30]])), /number of indices \(1\) should be equal to source.size\(0\) \(2\)/);
  });
  test('a bool mask must match the dims it indexes', () => {
    assert.throws(() => fm.tensor([1, 2, 3]).index(fm.tensor([true, false])), (e: unknown) => e instanceof fm.IndexError && /mask \[2\] does not match .* \[3\]/.test((e as Error).message));
  });
  test('a 0-dim bool index adds a dim of size 1 or 0', () => {
    const x = fm.tensor([1, 2, 3]);
    assert.deepEqual(x.index(fm.tensor(true)).shape, [1, 3]);
    assert.deepEqual(x.index(fm.tensor(false)).shape, [0, 3]);
  });
  test('reductions over an empty dim list reduce everything, as in PyTorch', () => {
    const x = fm.tensor([1, 2, 3, 4, 5]);
    assert.equal(x.sum([]).item(), 15);
    assert.ok(Math.abs(x.std([]).item() - 1.5811) < 1e-4);
  });
});

describe('deep graphs and async contexts', () => {
  test('autograd.grad through a chain of 20,000 ops', () => {
    const x = leaf([1]);
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.mul(1);
    const [g] = fm.autograd.grad(y.sum(), [x]);
    assert.deepEqual(g!.toArray(), [1]);
  });
  test('an async noGrad does not turn grad off for the caller meanwhile', async () => {
    const x = leaf([1]);
    const p = fm.noGrad(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return x.mul(2);
    });
    const y = x.mul(2);
    assert.equal(y.requiresGrad, true);
    assert.equal((await p).requiresGrad, false);
  });
  test('concurrent async scopes keep their tensors apart', async () => {
    const slow = fm.scope(async () => {
      await new Promise((r) => setTimeout(r, 10));
      return fm.ones([2]).mul(3);
    });
    const fast = fm.scope(async () => fm.ones([2]).add(1));
    const [a, b] = await Promise.all([slow, fast]);
    assert.deepEqual(a.toArray(), [3, 3]);
    assert.deepEqual(b.toArray(), [2, 2]);
  });
});
