// The fused cross-entropy at class indices (Backend.crossEntropy / crossEntropyBackward, C and ts
// kernels) against the composite it replaces (log_softmax, gather, masks, reductions), which runs
// here on a cpu backend without the fused methods: values and gradients for every reduction,
// ignored rows (all of them too), infinities and NaN, class dims past the second, integer target
// dtypes, sizes split among threads; finite-difference gradients of first and second order; the
// native kernels against the ts reference; and a target out of range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import type { Backend } from '../src/backend/interface.js';
import { tsBackend } from '../src/backend/ts/index.js';
import { assertClose, expectError, withCpuBackend } from './helpers.js';

const F = fm.nn.functional;
const native = fm.zeros([1]).storage.backend as Backend;
/** A cpu backend without the fused kernels: cross-entropy on its tensors runs as the composite. */
const plain = { ...native, crossEntropy: undefined, crossEntropyBackward: undefined } as Backend;

const on = <T>(backend: Backend, f: () => T): T => withCpuBackend(backend, native, f);

type Reduction = 'none' | 'sum' | 'mean';
interface Result { loss: number[] | number; grad: number[] }

/** Loss and input gradient (of a weighted sum of the loss, so every row's share shows) on `backend`. */
function run(backend: Backend, x: number[], shape: readonly number[], target: number[], tShape: readonly number[], dtype: 'float32' | 'float64', opts: { reduction: Reduction; ignoreIndex?: number; targetDtype?: fm.DType }): Result {
  return on(backend, () => {
    const xt = fm.tensor(x, { dtype }).reshape(shape).requiresGrad_();
    const t = fm.tensor(target, { dtype: opts.targetDtype ?? 'int64' }).reshape(tShape);
    const loss = F.crossEntropy(xt, t, { reduction: opts.reduction, ignoreIndex: opts.ignoreIndex });
    const w = fm.arange(loss.numel(), { dtype }).add(1).div(loss.numel()).reshape(loss.shape);
    loss.mul(w).sum().backward();
    return { loss: loss.toArray() as number[] | number, grad: xt.grad!.flatten().toArray() as number[] };
  });
}

const same = (got: Result, exp: Result, tol: { rtol: number; atol: number }, msg: string) => {
  assertClose(fm.tensor(got.loss as number[], { dtype: 'float64' }), exp.loss as number[], { ...tol, msg: `${msg}: loss` });
  assertClose(fm.tensor(got.grad, { dtype: 'float64' }), exp.grad, { ...tol, msg: `${msg}: gradient` });
};

function randomCase(n: number, c: number, seed: number, ignoreShare = 0): { x: number[]; target: number[] } {
  fm.manualSeed(seed);
  const x = fm.randn([n * c]).mul(3).toArray() as number[];
  const target = (fm.randint(0, c, [n]).toArray() as number[]).map((v, i) => (ignoreShare > 0 && (i * 7919) % 100 < ignoreShare * 100 ? -100 : v));
  return { x, target };
}

for (const dtype of ['float32', 'float64'] as const) {
  const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-13 };
  test(`fused cross-entropy equals the composite (${dtype}): values and gradients, every reduction`, () => {
    const cases: [string, number, number, number][] = [
      ['[128, 10]', 128, 10, 0], ['[7, 1]', 7, 1, 0], ['[3, 5] with ignored rows', 3, 5, 0.4],
      ['[64, 1000] (split among threads)', 64, 1000, 0.1], ['[1000, 70] (split among threads)', 1000, 70, 0],
      // Rows of at most 32 classes run 8 at a time in vector lanes: a partial last block, threads.
      ['[8195, 32] with ignored rows (rows in lanes, split among threads)', 8195, 32, 0.1], ['[300, 33] (just past the lanes)', 300, 33, 0],
    ];
    for (const [name, n, c, ignore] of cases) {
      const { x, target } = randomCase(n, c, n + c, ignore);
      for (const reduction of ['none', 'sum', 'mean'] as const) {
        const args = [x, [n, c], target, [n], dtype, { reduction }] as const;
        same(run(native, ...args), run(plain, ...args), tol, `${name} ${reduction}`);
      }
    }
  });

  test(`fused cross-entropy on 1 and 2 threads (${dtype}): the same bits per row; the summed loss within rounding`, () => {
    const saved = fm.getNumThreads();
    try {
      for (const [name, n, c, ignore] of [['[64, 1000]', 64, 1000, 0.1], ['[1000, 70]', 1000, 70, 0], ['[8195, 32] rows in lanes', 8195, 32, 0.1]] as const) {
        const { x, target } = randomCase(n, c, n + c, ignore);
        for (const reduction of ['none', 'mean'] as const) {
          const at = (threads: number) => {
            fm.setNumThreads(threads);
            return run(native, x, [n, c], target, [n], dtype, { reduction });
          };
          const [one, two] = [at(1), at(2)];
          assert.deepEqual(two.grad, one.grad, `${name} ${reduction}: gradient`);
          // The total over rows may be summed in another order when the rows are split among threads.
          if (reduction === 'none') assert.deepEqual(two.loss, one.loss, `${name}: losses`);
          else same(two, one, tol, `${name} mean`);
        }
      }
    } finally {
      fm.setNumThreads(saved);
    }
  });

  test(`fused cross-entropy equals the composite (${dtype}): 1-D input, class dim 1 of [N, C, d1, d2], int32 and uint8 targets, a custom ignoreIndex`, () => {
    const { x, target } = randomCase(4 * 3 * 2, 5, 9);
    const t5 = target.slice(0, 24);
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      // [N, C, d1, d2] = [4, 5, 3, 2]: target [4, 3, 2].
      same(run(native, x.slice(0, 120), [4, 5, 3, 2], t5, [4, 3, 2], dtype, { reduction }), run(plain, x.slice(0, 120), [4, 5, 3, 2], t5, [4, 3, 2], dtype, { reduction }), tol, `[4, 5, 3, 2] ${reduction}`);
      same(run(native, x.slice(0, 5), [5], [3], [], dtype, { reduction }), run(plain, x.slice(0, 5), [5], [3], [], dtype, { reduction }), tol, `[5] ${reduction}`);
      for (const targetDtype of ['int32', 'uint8'] as const) {
        same(run(native, x.slice(0, 20), [4, 5], [1, 4, 0, 2], [4], dtype, { reduction, targetDtype }), run(plain, x.slice(0, 20), [4, 5], [1, 4, 0, 2], [4], dtype, { reduction, targetDtype }), tol, `${targetDtype} target ${reduction}`);
      }
      same(run(native, x.slice(0, 20), [4, 5], [1, 3, 3, 2], [4], dtype, { reduction, ignoreIndex: 3 }), run(plain, x.slice(0, 20), [4, 5], [1, 3, 3, 2], [4], dtype, { reduction, ignoreIndex: 3 }), tol, `ignoreIndex 3 ${reduction}`);
    }
  });
}

test('fused cross-entropy: infinities and NaN in a row, and every row ignored, as the composite', () => {
  const x = [Infinity, 1, 2, -Infinity, -Infinity, -Infinity, NaN, 0, 1, -Infinity, 0, 0, 5, -Infinity, 3];
  // The last: the rows with inf, NaN and all -inf ignored, so every loss is finite (the composite once let
  // an ignored row's NaN through as NaN * 0).
  for (const target of [[0, 1, 2, 0, 1], [1, 0, 1, 2, 2], [-100, -100, -100, 1, 0]]) {
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      const got = run(native, x, [5, 3], target, [5], 'float64', { reduction });
      const exp = run(plain, x, [5, 3], target, [5], 'float64', { reduction });
      if (target[0] !== -100) {
        same(got, exp, { rtol: 1e-12, atol: 1e-14 }, `target ${target} ${reduction}`);
        continue;
      }
      // Ignored rows with inf or NaN: the losses agree and are finite. Their gradient differs: 0 on
      // the fused path, NaN through the composite's log_softmax backward (0 * NaN), as PyTorch's.
      assertClose(fm.tensor([got.loss].flat(), { dtype: 'float64' }), [exp.loss].flat(), { rtol: 1e-12, atol: 1e-14, msg: `target ${target} ${reduction}: loss` });
      assert.ok([got.loss].flat().every(Number.isFinite), `target ${target} ${reduction}: finite`);
      const kept = (g: number[]) => g.filter((_, i) => target[Math.floor(i / 3)] !== -100);
      assertClose(fm.tensor(kept(got.grad), { dtype: 'float64' }), kept(exp.grad), { rtol: 1e-12, atol: 1e-14, msg: `target ${target} ${reduction}: kept rows' gradient` });
      assert.deepEqual(got.grad.filter((_, i) => target[Math.floor(i / 3)] === -100), [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
  }
  // Every target ignored: 'mean' is NaN (0 / 0) with a zero gradient, as PyTorch.
  for (const backend of [native, plain]) {
    const r = run(backend, [1, 2, 3, 4], [2, 2], [-100, -100], [2], 'float64', { reduction: 'mean' });
    assert.ok(Number.isNaN(r.loss as number));
    assert.deepEqual(r.grad, [0, 0, 0, 0]);
  }
});

test('fused cross-entropy: gradients by finite differences, first and second order, every reduction', () => {
  fm.manualSeed(5);
  const x = fm.randn([4, 3], { dtype: 'float64' }).requiresGrad_();
  const t = fm.tensor([2, -100, 0, 1], { dtype: 'int64' });
  for (const reduction of ['none', 'sum', 'mean'] as const) {
    const f = (a: fm.Tensor) => F.crossEntropy(a, t, { reduction });
    assert.ok(fm.gradcheck(f, [x]), `gradcheck ${reduction}`);
    assert.ok(fm.gradgradcheck(f, [x]), `gradgradcheck ${reduction}`);
  }
});

test('fused cross-entropy: native kernels against the ts reference', { skip: fm.cpuKernelsInUse() === 'native' ? undefined : 'cpu runs the ts kernels here' }, () => {
  for (const [n, c] of [[128, 10], [33, 1000], [1000, 3]] as const) {
    const { x, target } = randomCase(n, c, 11, 0.2);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const reduction of ['none', 'mean'] as const) {
        const args = [x, [n, c], target, [n], dtype, { reduction }] as const;
        const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-13 };
        same(run(native, ...args), run(tsBackend as unknown as Backend, ...args), tol, `[${n}, ${c}] ${dtype} ${reduction}`);
      }
    }
  }
});

test('fused cross-entropy: a target out of range is an IndexError naming it, on both kernels', () => {
  for (const backend of [native, tsBackend as unknown as Backend]) {
    on(backend, () => {
      const x = fm.randn([3, 4]);
      expectError(() => F.crossEntropy(x, fm.tensor([0, 4, 1], { dtype: 'int64' })), fm.IndexError, 'crossEntropy', /target 4 is out of bounds for 4 classes \(row 1/, /cross_entropy\.test/);
      expectError(() => F.crossEntropy(x, fm.tensor([0, 1, -1], { dtype: 'int64' })), fm.IndexError, 'crossEntropy', /target -1 is out of bounds for 4 classes \(row 2/, /cross_entropy\.test/);
    });
  }
});
