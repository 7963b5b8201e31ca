// The fused softmax / logSoftmax against their composite (reductions and elementwise ops) on every
// device: dims, strided and offset views, slices wider than the kernel's 256-lane blocks, sizes
// split among threads, infinities and NaN; gradients by finite differences, and of second order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { softmaxComposite } from '../src/ops/prims/softmax.js';
import { assertClose, devices } from './helpers.js';

type Case = [string, () => fm.Tensor, number];
const cases: Case[] = [
  ['[5] dim 0', () => fm.randn([5]), 0],
  ['[3, 7] dim 1', () => fm.randn([3, 7]), 1],
  ['[3, 7] dim 0', () => fm.randn([3, 7]), 0],
  ['[2, 3, 4] dim 1', () => fm.randn([2, 3, 4]), 1],
  ['[2, 3, 4] dim -1', () => fm.randn([2, 3, 4]), -1],
  ['transposed [7, 3] dim 1', () => fm.randn([3, 7]).T, 1],
  ['transposed [7, 3] dim 0', () => fm.randn([3, 7]).T, 0],
  ['every other column, dim 1', () => fm.randn([4, 10]).index(null, fm.slice(null, null, 2)), 1],
  ['a row at an offset', () => fm.randn([5, 6]).narrow(0, 2, 2), 1],
  ['size-1 dim', () => fm.randn([4, 1]), 1],
  ['[3, 5, 300] dim 1 (blocks of 256 lanes)', () => fm.randn([3, 5, 300]).mul(10), 1],
  ['[70, 1000] dim 1 (split among threads)', () => fm.randn([70, 1000]).mul(5), 1],
  ['[1000, 70] dim 0 (split among threads)', () => fm.randn([1000, 70]).mul(5), 0],
  // Rows of at most 32 elements run 8 at a time in vector lanes: a partial last block, threads.
  ['[8195, 10] dim 1 (rows in lanes, split among threads)', () => fm.randn([8195, 10]).mul(5), 1],
  ['[517, 32] dim 1 (rows in lanes)', () => fm.randn([517, 32]).mul(5), 1],
  ['[300, 33] dim 1 (just past the lanes)', () => fm.randn([300, 33]).mul(5), 1],
];

for (const device of devices) {
  for (const dtype of ['float32', 'float64'] as const) {
    const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-14 };
    test(`fused softmax and logSoftmax match the composite (${device}, ${dtype})`, () => {
      fm.manualSeed(0);
      for (const [name, make, dim] of cases) {
        const x = make().to(dtype).to(device);
        const d = dim < 0 ? dim + x.ndim : dim;
        assertClose(fm.softmax(x, dim), softmaxComposite(x, d, false).toArray(), { ...tol, msg: `softmax ${name}` });
        assertClose(fm.logSoftmax(x, dim), softmaxComposite(x, d, true).toArray(), { ...tol, msg: `logSoftmax ${name}` });
      }
    });
  }

  test(`softmax of infinities and NaN, as the composite (${device})`, () => {
    const x = fm.tensor([[-Infinity, -Infinity, -Infinity], [Infinity, 1, 2], [NaN, 0, 1], [-Infinity, 0, 0]], { device });
    for (const dim of [1, 0]) {
      for (const log of [false, true]) {
        const got = log ? fm.logSoftmax(x, dim) : fm.softmax(x, dim);
        assertClose(got, softmaxComposite(x, dim, log).toArray(), { msg: `log=${log} dim=${dim}` });
      }
    }
    assert.deepEqual((fm.softmax(x, 1).toArray() as number[][])[3], [0, 0.5, 0.5]);
    assert.equal(fm.softmax(fm.zeros([0, 3], { device }), 1).shape.join(), '0,3');
  });

  test(`softmax and logSoftmax gradients: finite differences, second order (${device})`, () => {
    fm.manualSeed(1);
    for (const [shape, dim] of [[[3, 5], 1], [[3, 5], 0], [[2, 3, 4], 1]] as const) {
      const x = fm.randn([...shape], { dtype: 'float64', device }).requiresGrad_();
      for (const f of [fm.softmax, fm.logSoftmax]) {
        // A weighted sum, so the gradient is not the trivial one of sum(softmax) = 1.
        const w = fm.randn([...shape], { dtype: 'float64', device });
        assert.ok(fm.gradcheck((a) => f(a, dim).mul(w), [x]), `${f.name} ${shape} dim ${dim}`);
        assert.ok(fm.gradgradcheck((a) => f(a, dim).mul(w), [x]), `${f.name} ${shape} dim ${dim} (second order)`);
      }
    }
  });
}

test('the fused kernels give the same bits on 1 and 2 threads (each row is one thread\'s, whatever the split)', () => {
  const saved = fm.getNumThreads();
  try {
    fm.manualSeed(3);
    for (const [name, make, dim] of cases.filter(([name]) => name.includes('threads'))) {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = make().to(dtype);
        const run = (threads: number) => {
          fm.setNumThreads(threads);
          return [fm.softmax(x, dim).toArray(), fm.logSoftmax(x, dim).toArray()];
        };
        assert.deepEqual(run(2), run(1), `${name} ${dtype}`);
      }
    }
  } finally {
    fm.setNumThreads(saved);
  }
});

test('softmax of integers keeps the composite (a float result)', () => {
  const x = fm.tensor([1, 2, 3], { dtype: 'int64' });
  assertClose(fm.softmax(x, 0), softmaxComposite(fm.tensor([1, 2, 3]), 0, false).toArray());
});
