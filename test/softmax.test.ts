// The fused softmax / logSoftmax against their composite (reductions and elementwise ops) on every
// device: dims, strided and offset views, slices wider than the kernel's 256-lane blocks, sizes
// split among threads, infinities and NaN; the fused gradient against its composite (contiguous,
// transposed and broadcast incoming gradients); gradients by finite differences, and of second order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { softmaxBackwardComposite, softmaxComposite } from '../src/ops/prims/softmax.js';
import { assertClose, devices } from './helpers.js';
import type { Backend } from '../src/backend/interface.js';

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

  for (const dtype of ['float32', 'float64'] as const) {
    const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-14 };
    test(`the fused softmax and logSoftmax gradients match their composite (${device}, ${dtype})`, () => {
      fm.manualSeed(4);
      for (const [name, make, dim] of cases) {
        const x = make().to(dtype).to(device);
        const d = dim < 0 ? dim + x.ndim : dim;
        // The incoming gradient contiguous, as a transposed view, and broadcast along the dim.
        const gs: [string, fm.Tensor][] = [['contiguous', fm.randn(x.shape, { dtype, device })]];
        if (x.ndim === 2) gs.push(['transposed', fm.randn([x.shape[1]!, x.shape[0]!], { dtype, device }).T]);
        gs.push(['broadcast', fm.randn(x.shape.map((s, i) => (i === d ? 1 : s)), { dtype, device }).expand(x.shape)]);
        for (const log of [false, true]) {
          for (const [gname, g] of gs) {
            const leaf = x.detach().requiresGrad_();
            const y = log ? fm.logSoftmax(leaf, dim) : fm.softmax(leaf, dim);
            y.backward(g);
            const want = softmaxBackwardComposite(y.detach(), g, d, log);
            assertClose(leaf.grad!, want.toArray(), { ...tol, msg: `log=${log} ${name}, g ${gname}` });
          }
        }
      }
    });
  }

  test(`the gradient runs the backend's fused kernel once where it has one (${device})`, () => {
    const x = fm.randn([6, 40], { device }).requiresGrad_();
    const be = (x as unknown as { storage: { backend: Backend } }).storage.backend;
    const fused = be.softmaxBackward;
    if (!fused) return; // a backend without it runs the composite the tests above compare with
    let calls = 0;
    be.softmaxBackward = (...args) => {
      calls++;
      fused.apply(be, args);
    };
    try {
      fm.logSoftmax(x, 1).backward(fm.randn([6, 40], { device }));
      fm.softmax(x, 0).backward(fm.randn([6, 40], { device }));
    } finally {
      be.softmaxBackward = fused;
    }
    assert.equal(calls, 2);
  });

  test(`16-bit softmax gradients: float32's of the same values, rounded (${device})`, () => {
    fm.manualSeed(5);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const x = fm.randn([64, 10], { device }).mul(3).to(dtype);
      const g = fm.randn([64, 10], { device }).to(dtype);
      // Within one unit in the last place of the 16-bit result (8 or 11 significant bits).
      const rel = dtype === 'bfloat16' ? 2 ** -7 : 2 ** -10;
      for (const log of [false, true]) {
        const leaf = x.detach().requiresGrad_();
        const y = log ? fm.logSoftmax(leaf, 1) : fm.softmax(leaf, 1);
        y.backward(g);
        assert.equal(leaf.grad!.dtype, dtype);
        const want = softmaxBackwardComposite(y.detach().float(), g.float(), 1, log).data() as Float32Array;
        (leaf.grad!.float().data() as Float32Array).forEach((v, i) => {
          assert.ok(Math.abs(v - want[i]!) <= rel * Math.abs(want[i]!) + 1e-6, `${dtype} log=${log} [${i}]: ${v} vs ${want[i]}`);
        });
      }
    }
  });

  test(`the softmax gradient of infinities and NaN, as the composite (${device})`, () => {
    const x = fm.tensor([[-Infinity, -Infinity, -Infinity], [Infinity, 1, 2], [NaN, 0, 1], [-Infinity, 0, 0]], { device });
    const g = fm.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, -1, 2]], { device });
    for (const dim of [1, 0]) {
      for (const log of [false, true]) {
        const leaf = x.detach().requiresGrad_();
        const y = log ? fm.logSoftmax(leaf, dim) : fm.softmax(leaf, dim);
        y.backward(g);
        assertClose(leaf.grad!, softmaxBackwardComposite(y.detach(), g, dim, log).toArray(), { msg: `log=${log} dim=${dim}` });
      }
    }
    // Hand-computed: y = log_softmax([0, 0]) = [-ln 2, -ln 2], g = [1, 3]: g - exp(y) sum(g) = [1 - 2, 3 - 2].
    const leaf = fm.zeros([2], { device }).requiresGrad_();
    fm.logSoftmax(leaf, 0).backward(fm.tensor([1, 3], { device }));
    assertClose(leaf.grad!, [-1, 1]);
  });

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
        const g = fm.randn(x.shape, { dtype });
        const run = (threads: number) => {
          fm.setNumThreads(threads);
          const grads = [fm.softmax, fm.logSoftmax].map((f) => {
            const leaf = x.detach().requiresGrad_();
            f(leaf, dim).backward(g);
            return leaf.grad!.toArray();
          });
          return [fm.softmax(x, dim).toArray(), fm.logSoftmax(x, dim).toArray(), ...grads];
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
