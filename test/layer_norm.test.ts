// The fused layer norm (Backend.layerNorm / layerNormBackward, C and ts kernels) against the
// composite it replaces (mean, variance, rsqrt and elementwise ops), which runs here on a cpu
// backend without the fused methods: outputs and the gradients of x, weight and bias, with and
// without weight and bias, several normalized dims, non-contiguous input, sizes split among
// threads, a large offset; finite-difference gradients of first and second order (the backward
// in ops when a graph of it is recorded); the native kernels against the ts reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import type { Backend } from '../src/backend/interface.js';
import { tsBackend } from '../src/backend/ts/index.js';
import { assertClose, withCpuBackend } from './helpers.js';

const F = fm.nn.functional;
const native = fm.zeros([1]).storage.backend as Backend;
/** A cpu backend without the fused kernels: layer norm on its tensors runs as the composite. */
const plain = { ...native, layerNorm: undefined, layerNormBackward: undefined } as Backend;

const on = <T>(backend: Backend, f: () => T): T => withCpuBackend(backend, native, f);

interface Case { name: string; shape: number[]; norm: number[]; weight: boolean; bias: boolean; transposed?: boolean; offset?: number }
const cases: Case[] = [
  { name: '[4, 8]', shape: [4, 8], norm: [8], weight: true, bias: true },
  { name: '[4, 8] no weight, no bias', shape: [4, 8], norm: [8], weight: false, bias: false },
  { name: '[4, 8] weight only', shape: [4, 8], norm: [8], weight: true, bias: false },
  { name: '[4, 8] bias only', shape: [4, 8], norm: [8], weight: false, bias: true },
  { name: '[2, 3, 5] over [3, 5]', shape: [2, 3, 5], norm: [3, 5], weight: true, bias: true },
  { name: '[6, 1]', shape: [6, 1], norm: [1], weight: true, bias: true },
  { name: 'transposed [9, 7]', shape: [9, 7], norm: [7], weight: true, bias: true, transposed: true },
  { name: '[512, 384] (split among threads), offset 1000', shape: [512, 384], norm: [384], weight: true, bias: true, offset: 1000 },
  { name: '[3, 200] (column blocks past 64)', shape: [3, 200], norm: [200], weight: true, bias: true },
];

interface Result { y: number[]; gx: number[]; gw: number[] | null; gb: number[] | null }

/** y and the gradients of a weighted sum of y, on `backend`. */
function run(backend: Backend, c: Case, dtype: 'float32' | 'float64', seed: number): Result {
  return on(backend, () => {
    fm.manualSeed(seed);
    const base = fm.randn(c.transposed ? [...c.shape].reverse() : c.shape, { dtype }).mul(2).add(c.offset ?? 0);
    const x = (c.transposed ? base.T : base).detach().requiresGrad_();
    const w = c.weight ? fm.randn(c.norm, { dtype }).requiresGrad_() : null;
    const b = c.bias ? fm.randn(c.norm, { dtype }).requiresGrad_() : null;
    const y = F.layerNorm(x, c.norm, w, b, 1e-5);
    const r = fm.randn(y.shape, { dtype });
    y.mul(r).sum().backward();
    const flat = (t: fm.Tensor | null | undefined) => (t ? (t.flatten().toArray() as number[]) : null);
    return { y: flat(y)!, gx: flat(x.grad)!, gw: flat(w?.grad), gb: flat(b?.grad) };
  });
}

function same(got: Result, exp: Result, tol: { rtol: number; atol: number }, msg: string): void {
  for (const k of ['y', 'gx', 'gw', 'gb'] as const) {
    if (exp[k] === null) {
      assert.equal(got[k], null, `${msg}: ${k}`);
      continue;
    }
    assertClose(fm.tensor(got[k]!, { dtype: 'float64' }), exp[k], { ...tol, msg: `${msg}: ${k}` });
  }
}

for (const dtype of ['float32', 'float64'] as const) {
  test(`fused layer norm equals the composite (${dtype}): outputs and gradients of x, weight and bias`, () => {
    // float32: the composite rounds the mean, the variance and each step to float32.
    for (const c of cases) {
      const big = (c.offset ?? 0) > 0;
      const tol = dtype === 'float32' ? { rtol: big ? 2e-3 : 2e-5, atol: big ? 2e-2 : 2e-5 } : { rtol: 1e-9, atol: 1e-10 };
      same(run(native, c, dtype, 3), run(plain, c, dtype, 3), tol, `${c.name} ${dtype}`);
    }
  });
}

test('fused layer norm: native kernels against the ts reference', { skip: fm.cpuKernelsInUse() === 'native' ? undefined : 'cpu runs the ts kernels here' }, () => {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const c of cases) {
      // Sums in another order (simd lanes): with an offset of 1000, x - mean loses 3 digits.
      const big = (c.offset ?? 0) > 0;
      const tol = dtype === 'float32' ? { rtol: big ? 1e-3 : 1e-5, atol: big ? 1e-3 : 1e-5 } : { rtol: big ? 1e-9 : 1e-12, atol: big ? 1e-9 : 1e-12 };
      same(run(native, c, dtype, 4), run(tsBackend as unknown as Backend, c, dtype, 4), tol, `${c.name} ${dtype}`);
    }
  }
});

test('fused layer norm: gradients by finite differences, first and second order', () => {
  fm.manualSeed(6);
  const x = fm.randn([3, 4], { dtype: 'float64' }).requiresGrad_();
  const w = fm.randn([4], { dtype: 'float64' }).requiresGrad_();
  const b = fm.randn([4], { dtype: 'float64' }).requiresGrad_();
  const r = fm.randn([3, 4], { dtype: 'float64' });
  const f = (a: fm.Tensor, ww: fm.Tensor, bb: fm.Tensor) => F.layerNorm(a, [4], ww, bb).mul(r);
  assert.ok(fm.gradcheck(f, [x, w, b]), 'gradcheck');
  assert.ok(fm.gradgradcheck(f, [x, w, b]), 'gradgradcheck');
  assert.ok(fm.gradgradcheck((a: fm.Tensor) => F.layerNorm(a, [4]).mul(r), [x]), 'gradgradcheck without weight and bias');
});

test('nn.LayerNorm runs the fused kernels and trains like the composite', () => {
  const step = (backend: Backend) => on(backend, () => {
    fm.manualSeed(7);
    const ln = new fm.nn.LayerNorm([16]);
    const lin = new fm.nn.Linear(16, 4);
    const opt = new fm.optim.SGD([...ln.parameters(), ...lin.parameters()], { lr: 0.1 });
    const x = fm.randn([32, 16]);
    const y = fm.randint(0, 4, [32]);
    let loss = 0;
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      const l = F.crossEntropy(lin.forward(ln.forward(x)), y);
      l.backward();
      opt.step();
      loss = l.item();
    }
    return loss;
  });
  const fused = step(native);
  assert.ok(Math.abs(fused - step(plain)) < 1e-5, `loss after 5 steps: fused ${fused} vs composite ${step(plain)}`);
});
