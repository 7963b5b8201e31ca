// The fused optimizer kernels (Backend.adamStep / sgdStep) against the per-op updates: the same
// numbers bit for bit, for every option, in float32 and float64, over several steps; and the
// per-op path where a fused step cannot run (a non-contiguous parameter, the ts kernels).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { backendFor } from '../src/backend/registry.js';

const { optim } = fm;
type Make = (params: fm.Tensor[]) => fm.optim.Optimizer<never, never>;

/** Runs `steps` steps of the optimizer over fresh copies of the same parameters and gradients. */
function run(make: Make, dtype: 'float32' | 'float64', fused: boolean, steps = 4, layout: 'dense' | 'transposed' = 'dense'): number[][] {
  const prev = process.env['FIAMMA_OPTIM_FUSED'];
  if (fused) delete process.env['FIAMMA_OPTIM_FUSED'];
  else process.env['FIAMMA_OPTIM_FUSED'] = '0';
  try {
    const g = new fm.Generator().manualSeed(7);
    const base = [fm.randn([33, 17], { generator: g, dtype }), fm.randn([300], { generator: g, dtype })];
    const params = base.map((b) => (layout === 'transposed' && b.ndim === 2 ? b.T.contiguous().T : b.clone()).requiresGrad_());
    const opt = make(params);
    for (let s = 0; s < steps; s++) {
      opt.zeroGrad();
      // A loss whose gradient changes with the parameters, so every step differs.
      params.map((p, i) => p.mul(p).mul(i + 1).add(p.sin()).sum()).reduce((a, b) => a.add(b)).backward();
      opt.step();
    }
    return params.map((p) => p.reshape([-1]).toArray() as number[]);
  } finally {
    if (prev === undefined) delete process.env['FIAMMA_OPTIM_FUSED'];
    else process.env['FIAMMA_OPTIM_FUSED'] = prev;
  }
}

const configs: [string, Make][] = [
  ['Adam', (p) => new optim.Adam(p, { lr: 0.01 }) as never],
  ['Adam weightDecay amsgrad', (p) => new optim.Adam(p, { lr: 0.02, weightDecay: 0.1, amsgrad: true }) as never],
  ['Adam maximize betas', (p) => new optim.Adam(p, { lr: 0.01, betas: [0.5, 0.9], eps: 1e-6, maximize: true }) as never],
  ['AdamW', (p) => new optim.AdamW(p, { lr: 0.01 }) as never],
  ['AdamW amsgrad weightDecay 0.3', (p) => new optim.AdamW(p, { lr: 0.05, weightDecay: 0.3, amsgrad: true }) as never],
  ['SGD', (p) => new optim.SGD(p, { lr: 0.1 }) as never],
  ['SGD momentum', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9 }) as never],
  ['SGD momentum dampening weightDecay', (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01 }) as never],
  ['SGD nesterov maximize', (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, maximize: true }) as never],
];

for (const dtype of ['float32', 'float64'] as const) {
  test(`fused optimizer steps equal the per-op steps exactly (${dtype})`, () => {
    for (const [name, make] of configs) assert.deepEqual(run(make, dtype, true), run(make, dtype, false), name);
  });
}

test('the fused kernels run where they can, and a non-contiguous parameter takes the per-op path with the same result', () => {
  const be = backendFor(fm.Device.of('cpu'));
  if (!be.adamStep) return; // the ts kernels (FIAMMA_CPU_KERNELS=ts) have no fused steps: the per-op path ran above
  let calls = 0;
  const orig = be.adamStep.bind(be);
  be.adamStep = (...a) => { calls++; orig(...a); };
  try {
    run(configs[0]![1], 'float32', true, 2);
    assert.equal(calls, 4, 'two parameters, two steps');
    calls = 0;
    const t = run(configs[0]![1], 'float32', true, 2, 'transposed');
    assert.equal(calls, 2, 'only the contiguous parameter is fused');
    assert.deepEqual(t, run(configs[0]![1], 'float32', false, 2, 'transposed'));
  } finally {
    be.adamStep = orig;
  }
});
