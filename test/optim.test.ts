// fm.optim against PyTorch: every case of test/fixtures/optim.json (made by test/fixtures/make_optim_fixtures.py
// with torch 1.13) replayed on every device: the optimizers' trajectories in float64 (to 1e-10) and float32
// (loosely), the schedulers' learning rates and momenta, Adam's state dict (structure, and loading PyTorch's),
// LBFGS on the Rosenbrock function. Then zeroGrad, closures, addParamGroup, state dict round trips, memory, errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { backendFor } from '../src/backend/registry.js';
import { devices, cudaSkip, fixture, assertClose, expectError as expectErrorIn } from './helpers.js';

type Tensor = fm.Tensor;
const { optim } = fm;
const L = optim.lrScheduler;

function expectError(fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp): fm.FiammaError {
  return expectErrorIn(fn, cls, op, re, /optim\.test\.js/);
}
const skipOf = (device: string) => (device === 'cuda' ? cudaSkip : undefined);

// --- fixture types ------------------------------------------------------------------------------------------------

type OptName = 'SGD' | 'Adam' | 'AdamW' | 'Adamax' | 'NAdam' | 'RAdam' | 'RMSprop' | 'Adagrad' | 'Adadelta';
interface GroupSpec {
  params: number[];
  [option: string]: unknown;
}
interface OptCase {
  name: string;
  optimizer: OptName;
  options: Record<string, unknown>;
  groups: GroupSpec[] | null;
  skip: { step: number; param: number } | null;
  init: number[][][] | [number[][], number[]];
  shapes: number[][];
  steps: { grads: (number[] | null)[]; params: number[][] }[];
}
interface SchedSpec {
  cls: string;
  args: unknown[];
  opts?: Record<string, unknown>;
  children?: SchedSpec[];
}
interface SchedCase extends SchedSpec {
  name: string;
  optimizer: 'SGD' | 'Adam';
  lrs: number[][];
  momentum?: number[][];
  metrics?: number[];
  epochs?: number[];
}
interface Encoded {
  shape: number[];
  values: number[];
}
interface StateDictFx {
  options: Record<string, unknown>;
  groups: GroupSpec[];
  init: [number[][], number[]];
  firstGrads: number[][][];
  stateDict: { state: Record<string, Record<string, Encoded>>; param_groups: Record<string, unknown>[] };
  paramsAtSave: number[][];
  continued: { grads: number[][]; params: number[][] }[];
}
interface LbfgsCase {
  name: string;
  x0: number[];
  options: Record<string, unknown>;
  steps: { loss: number; params: number[]; funcEvals: number; nIter: number }[];
  finalLoss: number;
}
const fx = fixture<{ torch: string; optimizers: OptCase[]; schedulers: SchedCase[]; stateDict: StateDictFx; lbfgs: LbfgsCase[] }>('optim.json');

type OptCtor = new (params: fm.optim.Params, options?: Record<string, unknown>) => fm.optim.Optimizer;
const ctors = {
  SGD: optim.SGD, Adam: optim.Adam, AdamW: optim.AdamW, Adamax: optim.Adamax, NAdam: optim.NAdam, RAdam: optim.RAdam,
  RMSprop: optim.RMSprop, Adagrad: optim.Adagrad, Adadelta: optim.Adadelta,
} as unknown as Record<OptName, OptCtor>;

// --- replaying a case ---------------------------------------------------------------------------------------------

function makeParams(values: readonly unknown[], dtype: fm.DType, device: string): Tensor[] {
  return values.map((v) => fm.tensor(v as fm.NestedArray as number[], { dtype, device, requiresGrad: true }));
}

/** The params (or groups of them, options as the case gives them) for a case's optimizer. */
function groupsOf(specs: GroupSpec[] | null, params: Tensor[]): fm.optim.Params {
  return specs === null ? params : specs.map((g) => ({ ...g, params: g.params.map((i) => params[i]!) }));
}

function setGrads(params: Tensor[], grads: readonly (number[] | null)[], shapes: readonly number[][]): void {
  params.forEach((p, i) => {
    const g = grads[i];
    p.grad = g === null || g === undefined ? null : fm.tensor(g, { dtype: p.dtype, device: p.device }).reshape(shapes[i]!);
  });
}

/** Runs a case's optimizer over its recorded gradients; calls check(stepIndex, params) after each step. */
function replay(c: OptCase, dtype: fm.DType, device: string, check: (i: number, params: Tensor[]) => void): fm.optim.Optimizer {
  const params = makeParams(c.init, dtype, device);
  const opt = new ctors[c.optimizer](groupsOf(c.groups, params), c.options);
  c.steps.forEach((s, i) => {
    setGrads(params, s.grads, c.shapes);
    opt.step();
    check(i, params);
  });
  return opt;
}

describe(`optimizers against PyTorch ${fx.torch}`, () => {
  for (const device of devices) {
    for (const c of fx.optimizers) {
      test(`${c.optimizer}: ${c.name} (float64, ${device})`, { skip: skipOf(device) }, () => {
        replay(c, 'float64', device, (i, params) => {
          params.forEach((p, j) => assertClose(p, c.steps[i]!.params[j]!, { rtol: 1e-10, atol: 1e-12, msg: `step ${i + 1} param ${j}` }));
        });
      });
      test(`${c.optimizer}: ${c.name} (float32, ${device})`, { skip: skipOf(device) }, () => {
        replay(c, 'float32', device, (i, params) => {
          params.forEach((p, j) => assertClose(p, c.steps[i]!.params[j]!, { rtol: 1e-4, atol: 1e-5, msg: `step ${i + 1} param ${j}` }));
        });
      });
    }
  }

  test('the cases cover every optimizer and the options that change the update', () => {
    const seen = new Set(fx.optimizers.map((c) => c.optimizer));
    assert.deepEqual([...seen].sort(), Object.keys(ctors).sort());
    for (const opt of ['weightDecay', 'momentum', 'nesterov', 'amsgrad', 'maximize', 'centered', 'decoupledWeightDecay']) {
      assert.ok(fx.optimizers.some((c) => c.options[opt] !== undefined), `a case sets ${opt}`);
    }
    assert.ok(fx.optimizers.filter((c) => c.groups !== null).length >= 5, 'cases with two parameter groups');
  });
});

// --- schedulers ---------------------------------------------------------------------------------------------------

const lambdas: Record<string, fm.optim.lrScheduler.LrLambda> = {
  pow095: (e) => 0.95 ** e,
  inv: (e) => 1 / (1 + 0.1 * e),
  const09: () => 0.9,
  alt: (e) => (e % 2 ? 0.8 : 1.05),
};
type AnyScheduler = fm.optim.lrScheduler.LRScheduler | fm.optim.lrScheduler.ReduceLROnPlateau;
type SchedCtor = new (...args: unknown[]) => AnyScheduler;

function makeScheduler(spec: SchedSpec, opt: fm.optim.Optimizer): AnyScheduler {
  if (spec.cls === 'SequentialLR') return new L.SequentialLR(opt, spec.children!.map((c) => makeScheduler(c, opt) as fm.optim.lrScheduler.LRScheduler), spec.args[0] as number[]);
  if (spec.cls === 'ChainedScheduler') return new L.ChainedScheduler(spec.children!.map((c) => makeScheduler(c, opt) as fm.optim.lrScheduler.LRScheduler));
  const args = spec.args.map((a) => (typeof a === 'string' ? lambdas[a] : Array.isArray(a) && typeof a[0] === 'string' ? a.map((n) => lambdas[n as string]) : a));
  const Ctor = (L as unknown as Record<string, SchedCtor>)[spec.cls]!;
  return new Ctor(opt, ...args, spec.opts ?? {});
}

function schedulerOptimizer(kind: 'SGD' | 'Adam', device = 'cpu'): { opt: fm.optim.Optimizer; params: Tensor[] } {
  const params = makeParams([[[0.3, -0.2, 0.5], [-0.4, 0.1, 0.25]], [0.1, -0.3, 0.2]], 'float64', device);
  const groups = [{ params: [params[0]!], lr: 0.1 }, { params: [params[1]!], lr: 0.05 }];
  const opt = kind === 'SGD' ? new optim.SGD(groups, { lr: 0.1, momentum: 0.9 }) : new optim.Adam(groups);
  return { opt, params };
}

function momentumOf(opt: fm.optim.Optimizer, kind: 'SGD' | 'Adam'): number[] {
  return opt.paramGroups.map((g) => (kind === 'SGD' ? (g.momentum as number) : (g.betas as number[])[0]!));
}

describe(`schedulers against PyTorch ${fx.torch}`, () => {
  for (const c of fx.schedulers) {
    test(c.name, () => {
      const { opt } = schedulerOptimizer(c.optimizer);
      const sched = makeScheduler(c, opt);
      const lrs = [sched.getLastLr()];
      const moms = [momentumOf(opt, c.optimizer)];
      for (let i = 0; i < c.lrs.length - 1; i++) {
        opt.step();
        if (sched instanceof L.ReduceLROnPlateau) sched.step(c.metrics![i]!);
        else if (c.epochs) sched.step(c.epochs[i]);
        else sched.step();
        lrs.push(sched.getLastLr());
        moms.push(momentumOf(opt, c.optimizer));
      }
      lrs.forEach((lr, i) => assertClose(lr, c.lrs[i]!, { rtol: 1e-10, atol: 1e-15, msg: `lr after ${i} steps` }));
      assertClose(opt.paramGroups.map((g) => g.lr), c.lrs[c.lrs.length - 1]!, { rtol: 1e-10, atol: 1e-15, msg: 'the groups\' lr' });
      if (c.momentum) moms.forEach((m, i) => assertClose(m, c.momentum![i]!, { rtol: 1e-10, atol: 1e-15, msg: `momentum after ${i} steps` }));
    });
  }

  test('every scheduler has a case', () => {
    const covered = new Set(fx.schedulers.flatMap((c) => [c.cls, ...(c.children ?? []).map((k) => k.cls)]));
    const all = Object.keys(L).filter((k) => k !== 'LRScheduler');
    assert.deepEqual(all.filter((k) => !covered.has(k)), []);
  });

  test('schedulers set initialLr in the groups (as PyTorch sets initial_lr) and keep it across schedulers', () => {
    const { opt } = schedulerOptimizer('SGD');
    new L.ExponentialLR(opt, 0.5);
    assert.deepEqual(opt.paramGroups.map((g) => g.initialLr), [0.1, 0.05]);
    opt.paramGroups[0]!.lr = 1;
    new L.StepLR(opt, 2);
    assert.deepEqual(opt.paramGroups.map((g) => g.initialLr), [0.1, 0.05], 'a second scheduler keeps the first initialLr');
    assert.deepEqual(opt.stateDict().param_groups.map((g) => g.initial_lr), [0.1, 0.05], 'the state dict spells it initial_lr');
  });

  test('CyclicLR cycles Adam\'s beta1 as it cycles SGD\'s momentum (PyTorch 2)', () => {
    const ref = fx.schedulers.find((c) => c.name === 'CyclicLR triangular')!;
    const { opt } = schedulerOptimizer('Adam');
    const sched = new L.CyclicLR(opt, 0.01, 0.1, { stepSizeUp: 4 });
    const betas: number[][] = [momentumOf(opt, 'Adam')];
    for (let i = 0; i < 30; i++) {
      sched.step();
      betas.push(momentumOf(opt, 'Adam'));
      assert.equal((opt.paramGroups[0]!.betas as number[])[1], 0.999, 'beta2 is left alone');
    }
    betas.forEach((b, i) => assertClose(b, ref.momentum![i]!, { rtol: 1e-12, atol: 0 }));
    assertClose(sched.getLastLr(), ref.lrs[30]!, { rtol: 1e-12 });
  });

  test('a scheduler state dict round trip resumes the schedule', () => {
    for (const name of ['CosineAnnealingWarmRestarts tMult 2', 'OneCycleLR cos', 'SequentialLR three', 'ChainedScheduler', 'MultiStepLR', 'CyclicLR triangular2', 'LambdaLR per group']) {
      const c = fx.schedulers.find((s) => s.name === name)!;
      const a = schedulerOptimizer(c.optimizer);
      const sa = makeScheduler(c, a.opt) as fm.optim.lrScheduler.LRScheduler;
      for (let i = 0; i < 12; i++) sa.step();
      const sd = sa.stateDict();
      const osd = a.opt.stateDict();
      assert.ok(!('optimizer' in sd) && 'last_epoch' in sd && 'base_lrs' in sd && '_last_lr' in sd, `${name}: keys in PyTorch's names: ${Object.keys(sd).join(', ')}`);
      const b = schedulerOptimizer(c.optimizer);
      const sb = makeScheduler(c, b.opt) as fm.optim.lrScheduler.LRScheduler;
      b.opt.loadStateDict(osd);
      sb.loadStateDict(sd);
      for (let i = 12; i < 30; i++) {
        sa.step();
        sb.step();
        assert.deepEqual(sb.getLastLr(), sa.getLastLr(), `${name} step ${i + 1}`);
        assertClose(sb.getLastLr(), c.lrs[i + 1]!, { rtol: 1e-10, atol: 1e-15 });
      }
    }
  });

  test('ReduceLROnPlateau: state dict round trip and a tensor metric', () => {
    const c = fx.schedulers.find((s) => s.name === 'ReduceLROnPlateau min rel')!;
    const a = schedulerOptimizer('SGD');
    const sa = new L.ReduceLROnPlateau(a.opt, c.opts as fm.optim.lrScheduler.ReduceLROnPlateauOptions);
    for (let i = 0; i < 10; i++) sa.step(fm.tensor(c.metrics![i]!, { dtype: 'float64' }));
    const b = schedulerOptimizer('SGD');
    const sb = new L.ReduceLROnPlateau(b.opt, {});
    b.opt.loadStateDict(a.opt.stateDict());
    sb.loadStateDict(sa.stateDict());
    for (let i = 10; i < 30; i++) {
      sb.step(c.metrics![i]!);
      assertClose(sb.getLastLr(), c.lrs[i + 1]!, { rtol: 1e-10, atol: 1e-15, msg: `step ${i + 1}` });
    }
  });

  test('resuming with lastEpoch continues from the groups\' initialLr', () => {
    const c = fx.schedulers.find((s) => s.name === 'StepLR')!;
    const a = schedulerOptimizer('SGD');
    const sa = new L.StepLR(a.opt, 7, { gamma: 0.5 });
    for (let i = 0; i < 10; i++) sa.step();
    const sb = new L.StepLR(a.opt, 7, { gamma: 0.5, lastEpoch: 9 });
    assert.equal(sb.lastEpoch, 10);
    for (let i = 10; i < 30; i++) {
      sb.step();
      assertClose(sb.getLastLr(), c.lrs[i + 1]!, { rtol: 1e-12 });
    }
  });
});

// --- state dicts --------------------------------------------------------------------------------------------------

const unsupported = ['foreach', 'capturable', 'differentiable', 'fused'];

function decode(e: Encoded, dtype: fm.DType = 'float64'): Tensor {
  return fm.tensor(e.values, { dtype }).reshape(e.shape);
}

describe('state dicts', () => {
  const s = fx.stateDict;
  const shapes = [[2, 3], [3]];

  test("Adam's state dict has PyTorch's structure, names and values", () => {
    const params = makeParams(s.init, 'float64', 'cpu');
    const opt = new optim.Adam(groupsOf(s.groups, params) as fm.optim.Params<fm.optim.AdamOptions>, s.options);
    for (const g of s.firstGrads) {
      setGrads(params, g, shapes);
      opt.step();
    }
    const sd = opt.stateDict();
    assert.deepEqual(Object.keys(sd.state), Object.keys(s.stateDict.state));
    for (const [id, entry] of Object.entries(s.stateDict.state)) {
      const ours = sd.state[Number(id)]!;
      assert.deepEqual(Object.keys(ours), Object.keys(entry), `state ${id} keys`);
      for (const [k, v] of Object.entries(entry)) {
        if (k === 'step') assert.equal(ours[k], v.values[0], 'step is a number (a 0-dim tensor in PyTorch)');
        else assertClose(ours[k] as Tensor, v.values, { rtol: 1e-10, atol: 1e-15, msg: `state ${id} ${k}` });
      }
    }
    s.stateDict.param_groups.forEach((pg, i) => {
      const expected = Object.fromEntries(Object.entries(pg).filter(([k]) => !unsupported.includes(k)));
      assert.deepEqual(sd.param_groups[i], expected, `param_groups[${i}]`);
      assert.deepEqual(Object.keys(sd.param_groups[i]!).sort(), Object.keys(expected).sort());
    });
  });

  test("loading PyTorch's state dict continues PyTorch's run", () => {
    const params = makeParams([[s.paramsAtSave[0]!.slice(0, 3), s.paramsAtSave[0]!.slice(3)], s.paramsAtSave[1]!], 'float64', 'cpu');
    const opt = new optim.Adam(groupsOf(s.groups.map((g) => ({ params: g.params })), params) as fm.optim.Params<fm.optim.AdamOptions>);
    const state = Object.fromEntries(Object.entries(s.stateDict.state).map(([id, e]) => [id, Object.fromEntries(Object.entries(e).map(([k, v]) => [k, decode(v)]))]));
    opt.loadStateDict({ state, param_groups: s.stateDict.param_groups as fm.optim.OptimizerStateDict['param_groups'] });
    assert.equal(opt.paramGroups[0]!.lr, 0.02);
    assert.deepEqual(opt.paramGroups[1]!.betas, [0.8, 0.99]);
    assert.equal(opt.paramGroups[1]!.weightDecay, 0.01);
    assert.equal(opt.state.get(params[0]!)!.step, 2, 'a step tensor loads as a number');
    for (const c of s.continued) {
      setGrads(params, c.grads, shapes);
      opt.step();
      params.forEach((p, j) => assertClose(p, c.params[j]!, { rtol: 1e-10, atol: 1e-12 }));
    }
  });

  for (const c of fx.optimizers.filter((c) => c.skip === null)) {
    test(`round trip: ${c.optimizer}: ${c.name}: save, load into a new optimizer, continue = uninterrupted`, () => {
      const params = makeParams(c.init, 'float64', 'cpu');
      const a = new ctors[c.optimizer](groupsOf(c.groups, params), c.options);
      for (const s of c.steps.slice(0, 2)) {
        setGrads(params, s.grads, c.shapes);
        a.step();
      }
      const sd = a.stateDict();
      const copies = params.map((p) => p.detach().clone().requiresGrad_());
      // A new optimizer with other options: loading restores the saved ones.
      const b = new ctors[c.optimizer](groupsOf(c.groups?.map((g) => ({ params: g.params })) ?? null, copies), { lr: 0.5 });
      b.loadStateDict(sd);
      assert.deepEqual(b.stateDict().param_groups, sd.param_groups);
      for (const s of c.steps.slice(2)) {
        setGrads(params, s.grads, c.shapes);
        setGrads(copies, s.grads, c.shapes);
        a.step();
        b.step();
        copies.forEach((p, j) => assert.deepEqual(p.toArray(), params[j]!.toArray()));
      }
    });
  }

  test("PyTorch's scalar state tensors (step, mu_product) load as numbers", () => {
    const a = fm.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.NAdam([a]);
    a.grad = fm.tensor([0.5, -1], { dtype: 'float64' });
    opt.step();
    const sd = opt.stateDict();
    const st = sd.state[0]!;
    const b = fm.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const fresh = new optim.NAdam([b]);
    fresh.loadStateDict({ ...sd, state: { 0: { ...st, step: fm.tensor(1, { dtype: 'float64' }), mu_product: fm.tensor(st.mu_product as number, { dtype: 'float64' }) } } });
    const loaded = fresh.state.get(b)!;
    assert.equal(loaded.step, 1);
    assert.equal(loaded.muProduct, st.mu_product);
    fm.noGrad(() => b.copy_(a));
    for (const p of [a, b]) p.grad = fm.tensor([0.25, 0.5], { dtype: 'float64' });
    opt.step();
    fresh.step();
    assert.deepEqual(b.toArray(), a.toArray());
  });

  test('plain SGD keeps no state (as PyTorch 2); with momentum, its buffer', () => {
    const a = fm.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([a], { lr: 0.1 });
    a.grad = fm.tensor([1, 1]);
    opt.step();
    assert.deepEqual(opt.stateDict().state, {});
    opt.paramGroups[0]!.momentum = 0.9;
    opt.step();
    assert.deepEqual(Object.keys(opt.stateDict().state[0]!), ['momentum_buffer']);
  });

  test('loadStateDict copies tensors (casting to the parameter dtype) and stateDict shares them, as in PyTorch', () => {
    const w = fm.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const a = new optim.SGD([w], { lr: 0.1, momentum: 0.9 });
    w.grad = fm.tensor([1, 1], { dtype: 'float64' });
    a.step();
    const sd = a.stateDict();
    assert.equal(sd.state[0]!.momentum_buffer, a.state.get(w)!.momentumBuffer, 'shared');
    const v = fm.tensor([3, 4], { requiresGrad: true }); // float32
    const b = new optim.SGD([v], { lr: 0.1 });
    b.loadStateDict(sd);
    const buf = b.state.get(v)!.momentumBuffer!;
    assert.notEqual(buf, a.state.get(w)!.momentumBuffer);
    assert.equal(buf.dtype, 'float32');
    assert.equal(b.paramGroups[0]!.momentum, 0.9);
    assert.equal(b.paramGroups[0]!.params[0], v);
  });
});

// --- LBFGS --------------------------------------------------------------------------------------------------------

function rosenbrock(x: Tensor): Tensor {
  const n = x.shape[0]!;
  const head = x.narrow(0, 0, n - 1);
  const tail = x.narrow(0, 1, n - 1);
  return tail.sub(head.pow(2)).pow(2).mul(100).add(fm.sub(1, head).pow(2)).sum();
}

describe(`LBFGS on the Rosenbrock function against PyTorch ${fx.torch}`, () => {
  for (const device of devices) {
    for (const c of fx.lbfgs) {
      test(`${c.name} (${device})`, { skip: skipOf(device) }, () => {
        const x = fm.tensor(c.x0, { dtype: 'float64', device, requiresGrad: true });
        const opt = new optim.LBFGS([x], c.options as Partial<fm.optim.LBFGSOptions>);
        const closure = () => {
          opt.zeroGrad();
          const loss = rosenbrock(x);
          loss.backward();
          return loss;
        };
        for (const [i, s] of c.steps.entries()) {
          const loss = opt.step(closure)!;
          assertClose([loss.item()], [s.loss], { rtol: 1e-9, atol: 1e-12, msg: `loss of step ${i + 1}` });
          assertClose(x, s.params, { rtol: 1e-8, atol: 1e-10, msg: `x after step ${i + 1}` });
          const st = opt.state.get(x)!;
          assert.equal(st.funcEvals, s.funcEvals, `funcEvals after step ${i + 1}`);
          assert.equal(st.nIter, s.nIter, `nIter after step ${i + 1}`);
        }
        assertClose([rosenbrock(x).item()], [c.finalLoss], { rtol: 1e-7, atol: 1e-12 });
      });
    }
  }

  test('float32 LBFGS with the line search converges too', () => {
    const x = fm.tensor([-1.5, 2.0], { requiresGrad: true });
    const opt = new optim.LBFGS([x], { lineSearchFn: 'strong_wolfe' });
    for (let i = 0; i < 4; i++) {
      opt.step(() => {
        opt.zeroGrad();
        const l = rosenbrock(x);
        l.backward();
        return l;
      });
    }
    assertClose(x, [1, 1], { atol: 1e-3, rtol: 0 });
  });

  test('LBFGS state dict round trip continues identically', () => {
    const make = () => fm.tensor([-1.2, 1.0, -1.2, 1.0], { dtype: 'float64', requiresGrad: true });
    const run = (opt: fm.optim.LBFGS, x: Tensor) =>
      opt.step(() => {
        opt.zeroGrad();
        const l = rosenbrock(x);
        l.backward();
        return l;
      });
    const x = make();
    const a = new optim.LBFGS([x], { lineSearchFn: 'strong_wolfe', historySize: 3, maxIter: 5 });
    run(a, x);
    const sd = a.stateDict();
    assert.deepEqual(Object.keys(sd.state[0]!).sort(), ['H_diag', 'al', 'd', 'func_evals', 'n_iter', 'old_dirs', 'old_stps', 'prev_flat_grad', 'prev_loss', 'ro', 't']);
    const y = x.detach().clone().requiresGrad_();
    const b = new optim.LBFGS([y]);
    b.loadStateDict(sd);
    assert.equal(b.paramGroups[0]!.lineSearchFn, 'strong_wolfe');
    for (let i = 0; i < 2; i++) {
      run(a, x);
      run(b, y);
      assert.deepEqual(y.toArray(), x.toArray());
    }
  });
});

// --- the Optimizer API --------------------------------------------------------------------------------------------

describe('Optimizer API', () => {
  test('zeroGrad sets grads to null by default, or zeroes them in place', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.1 });
    w.mul(w).sum().backward();
    opt.zeroGrad();
    assert.equal(w.grad, null);
    w.mul(w).sum().backward();
    const g = w.grad!;
    opt.zeroGrad({ setToNone: false });
    assert.equal(w.grad, g, 'the same tensor');
    assert.deepEqual(g.toArray(), [0, 0]);
    assert.equal(g.requiresGrad, false);
    opt.zeroGrad({ setToNone: false }); // no grad: nothing to do
  });

  test('step(closure) evaluates the closure with grad enabled (even inside noGrad) and returns its loss', () => {
    const x = fm.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.SGD([x], { lr: 0.1 });
    let calls = 0;
    const loss = fm.noGrad(() =>
      opt.step(() => {
        calls++;
        opt.zeroGrad();
        const l = x.square().sum();
        assert.ok(fm.isGradEnabled());
        l.backward();
        return l;
      }),
    );
    assert.equal(calls, 1);
    assert.equal(loss!.item(), 5);
    assert.deepEqual(x.toArray(), [0.8, 1.6]);
    assert.equal(opt.step(), undefined);
  });

  test('step skips parameters without a gradient and leaves the graph unrecorded', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    const b = fm.tensor([3], { requiresGrad: true });
    const opt = new optim.Adam([w, b], { lr: 0.1 });
    w.grad = fm.tensor([1, -1]);
    opt.step();
    assert.deepEqual(b.toArray(), [3]);
    assert.equal(opt.state.has(b), false);
    assert.equal(opt.state.get(w)!.step, 1);
    assert.ok(w.isLeaf && w.requiresGrad && w.gradFn === null);
    assertClose(w, [0.9, 2.1], { rtol: 1e-6 });
  });

  test('paramGroups hold options in camelCase; changing a group\'s lr changes its steps', () => {
    const w = fm.tensor([1], { dtype: 'float64', requiresGrad: true });
    const b = fm.tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.SGD([{ params: [w] }, { params: b, lr: 0.5, weightDecay: 0.1 }], { lr: 0.1, momentum: 0 });
    assert.deepEqual(opt.paramGroups[1], { lr: 0.5, momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false, maximize: false, params: [b] });
    assert.equal(opt.defaults.lr, 0.1);
    opt.paramGroups[0]!.lr = 0.25;
    w.grad = fm.tensor([1], { dtype: 'float64' });
    b.grad = fm.tensor([1], { dtype: 'float64' });
    opt.step();
    assert.deepEqual(w.toArray(), [0.75]);
    assertClose(b, [1 - 0.5 * 1.1], { rtol: 1e-15 });
  });

  test('addParamGroup adds parameters with the defaults and their own options', () => {
    const w = fm.tensor([1], { dtype: 'float64', requiresGrad: true });
    const h = fm.tensor([2, 3], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.Adam([w], { lr: 0.1, betas: [0.5, 0.9] });
    opt.addParamGroup({ params: [h], lr: 0.01 });
    assert.equal(opt.paramGroups.length, 2);
    assert.deepEqual(opt.paramGroups[1]!.betas, [0.5, 0.9]);
    assert.notEqual(opt.paramGroups[1]!.betas, opt.paramGroups[0]!.betas, 'groups do not share arrays');
    h.grad = fm.tensor([1, -1], { dtype: 'float64' });
    opt.step();
    assertClose(h, [1.99, 3.01], { rtol: 1e-12 });
    const ada = new optim.Adagrad([w], { initialAccumulatorValue: 0.5 });
    ada.addParamGroup({ params: [h] });
    assert.deepEqual(ada.state.get(h)!.sum.toArray(), [0.5, 0.5], 'Adagrad makes its state at construction and in addParamGroup');
  });

  test('a user-defined optimizer needs only its defaults and updateGroup', () => {
    interface SignOptions { lr: number }
    /** signSGD: p -= lr * sign(g). */
    class SignSGD extends optim.Optimizer<SignOptions, { step: number }> {
      constructor(params: fm.optim.Params<SignOptions>, opts: Partial<SignOptions> = {}) {
        super(params, { lr: 0.01, ...opts });
      }
      protected override updateGroup(g: fm.optim.ParamGroup<SignOptions>): void {
        for (const p of g.params) {
          if (p.grad === null) continue;
          this.stateFor(p, () => ({ step: 0 })).step += 1;
          p.sub_(p.grad.sign().mul(g.lr));
        }
      }
    }
    const x = fm.tensor([1, -1, 0.5], { dtype: 'float64', requiresGrad: true });
    const opt = new SignSGD(new Set([x]), { lr: 0.25 });
    x.grad = fm.tensor([3, -0.1, 0], { dtype: 'float64' });
    opt.step();
    assert.deepEqual(x.toArray(), [0.75, -0.75, 0.5]);
    assert.deepEqual(opt.stateDict(), { state: { 0: { step: 1 } }, param_groups: [{ lr: 0.25, params: [0] }] });
    expectError(() => new SignSGD([x], { lr: -1 }), fm.ValueError, 'SignSGD', /invalid learning rate: -1/);
  });

  test('every optimizer steps in float32 on every device without changing dtype or device', () => {
    for (const device of devices) {
      if (device === 'cuda' && cudaSkip) continue;
      for (const [name, Ctor] of Object.entries(ctors)) {
        const w = fm.tensor([[1, -2], [0.5, 3]], { device, requiresGrad: true });
        const opt = new Ctor([w], { lr: 0.01 });
        for (let i = 0; i < 3; i++) {
          w.grad = w.detach().mul(2);
          opt.step();
        }
        assert.equal(w.dtype, 'float32', name);
        assert.equal(String(w.device), String(fm.tensor([0], { device }).device), name);
        const v = (w.toArray() as number[][]).flat();
        assert.ok(v.every((x, i) => Math.abs(x) < Math.abs([1, -2, 0.5, 3][i]!)), `${name} moves toward 0: ${v}`);
      }
    }
  });
});

// --- memory -------------------------------------------------------------------------------------------------------

describe('memory', () => {
  /** Runs fn with the cpu backend wrapped so that live storages are counted; returns what fn returns. */
  function counting<T>(fn: (live: () => number) => T): T {
    const cpu = fm.Device.of('cpu');
    const orig = backendFor(cpu);
    let live = 0;
    const wrapped = new Proxy(orig, {
      get(target, key) {
        const v = (target as unknown as Record<string | symbol, unknown>)[key];
        if (key === 'allocate') return (...a: unknown[]) => (live++, (v as (...x: unknown[]) => unknown).apply(target, a));
        if (key === 'free') return (...a: unknown[]) => (live--, (v as (...x: unknown[]) => unknown).apply(target, a));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    fm.registerBackend('cpu', wrapped);
    try {
      return fn(() => live);
    } finally {
      fm.registerBackend('cpu', orig);
    }
  }

  test('after the first step, each step of every optimizer leaves live storage where it was', () => {
    const options: Record<string, Record<string, unknown>> = {
      SGD: { momentum: 0.9, nesterov: true, weightDecay: 0.1 }, Adam: { amsgrad: true, weightDecay: 0.1, maximize: true },
      RMSprop: { centered: true, momentum: 0.5 }, NAdam: { weightDecay: 0.1 }, RAdam: { betas: [0.9, 0.9] },
    };
    for (const [name, Ctor] of Object.entries(ctors)) {
      counting((live) => {
        const w = fm.tensor([[1, -2], [0.5, 3]], { dtype: 'float64', requiresGrad: true });
        w.grad = fm.tensor([[0.1, 0.2], [-0.3, 0.4]], { dtype: 'float64' });
        const opt = new Ctor([w], { lr: 0.01, ...options[name] });
        opt.step();
        const before = live();
        assert.ok(before >= 3, `${name}: allocations are counted (${before} live)`);
        for (let i = 0; i < 8; i++) opt.step();
        assert.equal(live(), before, `${name}: temporaries are freed`);
      });
    }
  });

  test('state made inside a user scope outlives it', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.Adam([w]);
    w.grad = fm.tensor([1, 1]);
    fm.scope(() => opt.step());
    const s = opt.state.get(w)!;
    assert.equal(s.expAvg.isDisposed, false);
    assert.equal(s.expAvgSq.isDisposed, false);
    opt.step(); // still usable
    const x = fm.tensor([-1.5, 2], { requiresGrad: true });
    const lb = new optim.LBFGS([x], { lineSearchFn: 'strong_wolfe', maxIter: 3 });
    const closure = () => {
      lb.zeroGrad();
      const l = rosenbrock(x);
      l.backward();
      return l;
    };
    fm.scope(() => lb.step(closure));
    lb.step(closure);
    assert.equal(lb.state.get(x)!.oldDirs!.every((t) => !t.isDisposed), true);
  });
});

// --- errors -------------------------------------------------------------------------------------------------------

describe('errors', () => {
  const w = () => fm.tensor([1, 2], { requiresGrad: true });

  test('bad parameter lists', () => {
    const p = w();
    expectError(() => new optim.SGD(p as unknown as Tensor[]), fm.ValueError, 'SGD', /params should be an array of Tensors or of param groups, but got a Tensor/);
    expectError(() => new optim.SGD([]), fm.ValueError, 'SGD', /empty parameter list/);
    expectError(() => new optim.Adam([p, 3 as unknown as Tensor]), fm.ValueError, 'Adam', /can only optimize Tensors, but params\[1\] is number 3/);
    expectError(() => new optim.Adam([p.mul(2)]), fm.ValueError, 'Adam', /can't optimize a non-leaf Tensor/);
    expectError(() => new optim.Adam([p, p]), fm.ValueError, 'Adam', /params\[0\] and params\[1\] are the same tensor/);
    expectError(() => new optim.SGD([{ params: [p] }, { params: [p] }]), fm.ValueError, 'SGD', /appear in more than one parameter group/);
    expectError(() => new optim.SGD([{ params: 5 as unknown as Tensor }]), fm.ValueError, 'SGD', /params must be a Tensor or an array of Tensors, got number 5/);
    const opt = new optim.SGD([p]);
    expectError(() => opt.addParamGroup({ params: [p] }), fm.ValueError, 'SGD.addParamGroup', /more than one parameter group/);
    expectError(() => opt.addParamGroup(p as unknown as fm.optim.ParamGroupInput<fm.optim.SGDOptions>), fm.ValueError, 'SGD.addParamGroup', /must be an object with params/);
    expectError(() => opt.addParamGroup({ params: [w()], lr: -1 }), fm.ValueError, 'SGD.addParamGroup', /invalid learning rate: -1/);
    expectError(() => new optim.Adam([{ params: [w()], betas: [0.9, 1] }]), fm.ValueError, 'Adam', /invalid beta parameter at index 1: 1 \(expected a number in \[0, 1\)\)/);
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['SGD', () => new optim.SGD([w()], { lr: -0.1 }), /invalid learning rate: -0.1/],
    ['SGD', () => new optim.SGD([w()], { momentum: -1 }), /invalid momentum value: -1/],
    ['SGD', () => new optim.SGD([w()], { weightDecay: -1 }), /invalid weightDecay value: -1/],
    ['SGD', () => new optim.SGD([w()], { nesterov: true }), /Nesterov momentum requires a momentum > 0 and zero dampening/],
    ['SGD', () => new optim.SGD([w()], { nesterov: true, momentum: 0.9, dampening: 0.1 }), /requires a momentum > 0 and zero dampening \(got momentum 0.9, dampening 0.1\)/],
    ['Adam', () => new optim.Adam([w()], { lr: NaN }), /invalid learning rate: NaN/],
    ['Adam', () => new optim.Adam([w()], { eps: -1 }), /invalid epsilon value: -1/],
    ['Adam', () => new optim.Adam([w()], { betas: [1, 0.999] }), /invalid beta parameter at index 0: 1/],
    ['Adam', () => new optim.Adam([w()], { betas: [0.9, -0.1] }), /invalid beta parameter at index 1: -0.1/],
    ['Adam', () => new optim.Adam([w()], { betas: [0.9] as unknown as [number, number] }), /invalid betas: 0.9 \(expected a pair/],
    ['Adam', () => new optim.Adam([w()], { weightDecay: -0.5 }), /invalid weightDecay value: -0.5/],
    ['AdamW', () => new optim.AdamW([w()], { betas: [0.9, 1.5] }), /invalid beta parameter at index 1: 1.5/],
    ['Adamax', () => new optim.Adamax([w()], { eps: -1e-8 }), /invalid epsilon value/],
    ['NAdam', () => new optim.NAdam([w()], { momentumDecay: -1 }), /invalid momentumDecay value: -1/],
    ['RAdam', () => new optim.RAdam([w()], { lr: -1 }), /invalid learning rate/],
    ['RMSprop', () => new optim.RMSprop([w()], { alpha: -0.9 }), /invalid alpha value: -0.9/],
    ['RMSprop', () => new optim.RMSprop([w()], { momentum: -0.9 }), /invalid momentum value/],
    ['RMSprop', () => new optim.RMSprop([w()], { eps: -1 }), /invalid epsilon value/],
    ['RMSprop', () => new optim.RMSprop([w()], { weightDecay: -1 }), /invalid weightDecay value/],
    ['Adagrad', () => new optim.Adagrad([w()], { lrDecay: -1 }), /invalid lrDecay value: -1/],
    ['Adagrad', () => new optim.Adagrad([w()], { initialAccumulatorValue: -1 }), /invalid initialAccumulatorValue value: -1/],
    ['Adagrad', () => new optim.Adagrad([w()], { eps: -1 }), /invalid epsilon value/],
    ['Adagrad', () => new optim.Adagrad([w()], { weightDecay: -1 }), /invalid weightDecay value/],
    ['Adadelta', () => new optim.Adadelta([w()], { rho: 1.1 }), /invalid rho value: 1.1 \(expected a number in \[0, 1\]\)/],
    ['Adadelta', () => new optim.Adadelta([w()], { eps: -1 }), /invalid epsilon value/],
    ['Adadelta', () => new optim.Adadelta([w()], { weightDecay: -1 }), /invalid weightDecay value/],
    ['LBFGS', () => new optim.LBFGS([{ params: [w()] }, { params: [w()] }]), /doesn't support per-parameter options/],
    ['LBFGS', () => new optim.LBFGS([w()], { lineSearchFn: 'armijo' as 'strong_wolfe' }), /invalid lineSearchFn: "armijo" \(expected one of null, "strong_wolfe"\)/],
    ['LBFGS', () => new optim.LBFGS([w()], { maxIter: 0 }), /expected maxIter to be an integer >= 1, got 0/],
    ['LBFGS', () => new optim.LBFGS([w()], { historySize: 2.5 }), /expected historySize to be an integer >= 1, got 2.5/],
    ['LBFGS', () => new optim.LBFGS([w()], { toleranceGrad: -1 }), /invalid toleranceGrad value/],
  ];
  test('bad options of each optimizer', () => {
    for (const [op, fn, re] of bad) expectError(fn, fm.ValueError, op, re);
  });

  test('a gradient of the wrong shape or device', () => {
    const x = w();
    const opt = new optim.Adam([{ params: [w()] }, { params: [x] }]);
    x.grad = fm.tensor([1, 2, 3]);
    expectError(() => opt.step(), fm.ShapeError, 'Adam.step', /the gradient of paramGroups\[1\]\.params\[0\] has shape \[3\], but the parameter has shape \[2\]/);
    const y = fm.tensor([1, 2], { requiresGrad: true });
    const lb = new optim.LBFGS([y]);
    expectError(() => lb.step(() => ((y.grad = fm.tensor([1])), fm.tensor(0))), fm.ShapeError, 'LBFGS.step', /has shape \[1\], but the parameter has shape \[2\]/);
    if (devices.includes('cuda')) {
      x.grad = fm.tensor([1, 2], { device: 'cuda' });
      expectError(() => opt.step(), fm.DeviceError, 'Adam.step', /is on cuda:0, but the parameter is on cpu/);
    }
  });

  test('LBFGS: one group, a closure, a loss', () => {
    const x = w();
    const opt = new optim.LBFGS([x]);
    expectError(() => opt.addParamGroup({ params: [w()] }), fm.ValueError, 'LBFGS.addParamGroup', /doesn't support per-parameter options/);
    expectError(() => opt.step(), fm.ValueError, 'LBFGS.step', /LBFGS needs a closure/);
    expectError(() => opt.step(() => 'loss'), fm.ValueError, 'LBFGS.step', /the closure must return the loss as a Tensor or a number, got string loss/);
    const sgd = new optim.SGD([w()]);
    expectError(() => sgd.step(async () => fm.tensor(1)), fm.ValueError, 'SGD.step', /the closure returned a Promise: step needs a synchronous closure/);
  });

  test('loadStateDict checks the groups and the state', () => {
    const [a, b] = [w(), w()];
    const opt = new optim.Adam([{ params: [a] }, { params: [b] }]);
    a.grad = fm.tensor([1, 1]);
    opt.step();
    const sd = opt.stateDict();
    const one = new optim.Adam([a, b]);
    expectError(() => one.loadStateDict(sd), fm.ValueError, 'Adam.loadStateDict', /loaded state dict has 2 parameter group\(s\), but the optimizer has 1/);
    const sizes = new optim.Adam([{ params: [a, b] }, { params: [w()] }]);
    expectError(() => sizes.loadStateDict(sd), fm.ValueError, 'Adam.loadStateDict', /parameter group 0 has 1 parameter\(s\), but the optimizer's group 0 has 2/);
    expectError(() => opt.loadStateDict({ state: {} } as fm.optim.OptimizerStateDict), fm.ValueError, 'Adam.loadStateDict', /expected a state dict \{ state, param_groups \}/);
    expectError(() => opt.loadStateDict({ ...sd, state: { 7: {} } }), fm.ValueError, 'Adam.loadStateDict', /an entry for parameter 7, which no parameter group lists/);
    expectError(() => opt.loadStateDict({ ...sd, param_groups: [sd.param_groups[0]!, { lr: 1 } as never] }), fm.ValueError, 'Adam.loadStateDict', /param_groups\[1\] of the loaded state dict has no params list/);
  });

  test('scheduler errors', () => {
    const sgd = () => schedulerOptimizer('SGD').opt;
    const cases: [string, () => unknown, RegExp][] = [
      ['StepLR', () => new L.StepLR({} as fm.optim.Optimizer, 3), /an object \(Object\) is not an Optimizer/],
      ['StepLR', () => new L.StepLR(sgd(), 0), /expected stepSize to be an integer >= 1, got 0/],
      ['StepLR', () => new L.StepLR(sgd(), 3, { lastEpoch: 4 }), /initialLr is not set in paramGroups\[0\]: resuming \(lastEpoch 4\)/],
      ['MultiStepLR', () => new L.MultiStepLR(sgd(), 3 as unknown as number[]), /milestones must be an array of epochs/],
      ['ConstantLR', () => new L.ConstantLR(sgd(), { factor: 1.5 }), /invalid factor \(a multiplicative factor\): 1.5/],
      ['LinearLR', () => new L.LinearLR(sgd(), { startFactor: 0 }), /invalid startFactor: 0 \(expected a multiplicative factor in \(0, 1\]\)/],
      ['LinearLR', () => new L.LinearLR(sgd(), { endFactor: 2 }), /invalid endFactor/],
      ['PolynomialLR', () => new L.PolynomialLR(sgd(), { totalIters: 0 }), /expected totalIters to be an integer >= 1/],
      ['CosineAnnealingLR', () => new L.CosineAnnealingLR(sgd(), 0), /expected tMax > 0, got 0/],
      ['CosineAnnealingWarmRestarts', () => new L.CosineAnnealingWarmRestarts(sgd(), 0), /expected t0 to be an integer >= 1, got 0/],
      ['CosineAnnealingWarmRestarts', () => new L.CosineAnnealingWarmRestarts(sgd(), 3, { tMult: 1.5 }), /expected tMult to be an integer >= 1, got 1.5/],
      ['CosineAnnealingWarmRestarts.step', () => new L.CosineAnnealingWarmRestarts(sgd(), 3).step(-1), /expected a non-negative epoch, got -1/],
      ['LambdaLR', () => new L.LambdaLR(sgd(), [() => 1]), /expected 2 lrLambdas \(one per parameter group\), but got 1/],
      ['MultiplicativeLR', () => new L.MultiplicativeLR(sgd(), 0.9 as unknown as fm.optim.lrScheduler.LrLambda), /lrLambda must be a function or an array of functions, got number/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), 0.1), /define either totalSteps OR \(epochs AND stepsPerEpoch\)/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), 0.1, { totalSteps: -5 }), /expected totalSteps to be an integer >= 1, got -5/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), 0.1, { epochs: 2, stepsPerEpoch: 0 }), /expected stepsPerEpoch to be an integer >= 1/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), 0.1, { totalSteps: 10, pctStart: 1.5 }), /expected pctStart between 0 and 1, got 1.5/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), 0.1, { totalSteps: 10, annealStrategy: 'exp' as 'cos' }), /invalid annealStrategy: "exp"/],
      ['OneCycleLR', () => new L.OneCycleLR(sgd(), [0.1, 0.2, 0.3], { totalSteps: 10 }), /expected 2 values for maxLr \(one per parameter group\), got 3/],
      ['OneCycleLR', () => new L.OneCycleLR(new optim.Adagrad([w()]), 0.1, { totalSteps: 10 }), /optimizer must support momentum or beta1 with the cycleMomentum option enabled \(Adagrad has neither\)/],
      ['CyclicLR', () => new L.CyclicLR(sgd(), 0.01, 0.1, { mode: 'square' as 'triangular' }), /invalid mode: "square"/],
      ['CyclicLR', () => new L.CyclicLR(sgd(), 0.01, 0.1, { stepSizeUp: 0 }), /expected stepSizeUp and stepSizeDown > 0/],
      ['CyclicLR', () => new L.CyclicLR(new optim.Adadelta([w()]), 0.01, 0.1), /optimizer must support momentum or beta1/],
      ['ReduceLROnPlateau', () => new L.ReduceLROnPlateau(sgd(), { factor: 1 }), /factor should be < 1.0, got 1/],
      ['ReduceLROnPlateau', () => new L.ReduceLROnPlateau(sgd(), { mode: 'avg' as 'min' }), /invalid mode: "avg"/],
      ['ReduceLROnPlateau', () => new L.ReduceLROnPlateau(sgd(), { thresholdMode: 'pct' as 'rel' }), /invalid thresholdMode: "pct"/],
      ['ReduceLROnPlateau', () => new L.ReduceLROnPlateau(sgd(), { minLr: [0.1] }), /expected 2 values for minLr/],
      ['ReduceLROnPlateau', () => new L.ReduceLROnPlateau(null as unknown as fm.optim.Optimizer), /null is not an Optimizer/],
      ['ReduceLROnPlateau.step', () => new L.ReduceLROnPlateau(sgd()).step('low' as unknown as number), /expected the metric as a number or a one-element Tensor, got string low/],
      ['ChainedScheduler', () => new L.ChainedScheduler([]), /expects at least one scheduler/],
      ['ChainedScheduler', () => new L.ChainedScheduler([new L.StepLR(sgd(), 2), new L.StepLR(sgd(), 2)]), /same optimizer, but schedulers\[1\] has another one/],
    ];
    for (const [op, fn, re] of cases) expectError(fn, fm.ValueError, op, re);
    const opt = sgd();
    const a = new L.StepLR(opt, 2);
    expectError(() => new L.SequentialLR(opt, [a, new L.StepLR(opt, 3)], []), fm.ValueError, 'SequentialLR', /one milestone fewer than schedulers, but got 2 schedulers and 0 milestones/);
    expectError(() => new L.SequentialLR(opt, [a, new L.StepLR(sgd(), 3)], [2]), fm.ValueError, 'SequentialLR', /same optimizer, but schedulers\[1\] has another one/);
    expectError(() => new L.SequentialLR(opt, [new L.ReduceLROnPlateau(opt) as never], []), fm.ValueError, 'SequentialLR', /schedulers\[0\] is not an LRScheduler/);
    expectError(() => a.loadStateDict({ gamma: 0.5, warmup: 3 }), fm.ValueError, 'StepLR.loadStateDict', /unknown key 'warmup' in the state dict: this StepLR has no field warmup/);
    expectError(() => a.loadStateDict(null as never), fm.ValueError, 'StepLR.loadStateDict', /expected a scheduler state dict \(an object\), got null/);
    const one = new L.OneCycleLR(sgd(), 0.1, { totalSteps: 3 });
    for (let i = 0; i < 3; i++) one.step();
    expectError(() => one.step(), fm.ValueError, 'OneCycleLR.step', /tried to step 5 times; the specified number of total steps is 3/);
  });
});
