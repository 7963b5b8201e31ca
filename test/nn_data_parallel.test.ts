// nn.DataParallel against the plain module on the whole batch: outputs, parameter and input gradients, training
// steps, batch norm, nested inputs and outputs, uneven and short batches, errors; replicate/scatter/gather on their
// own. The device lists repeat the cpu so the logic runs without a GPU; CUDA variants skip without one.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose, expectError as expectErrorIn } from './helpers.js';

const { nn } = fm;
type Tensor = fm.Tensor;
type ParallelDevice = fm.nn.parallel.ParallelDevice;
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_data_parallel\.test\.js/);
const noCuda = fm.cuda.isAvailable() ? undefined : 'no CUDA device';
// float64 everywhere: the split changes only the order of sums, so results agree to rounding.
const TOL = { rtol: 1e-9, atol: 1e-11 };
const f64 = { dtype: 'float64' } as const;
const randn = (shape: number[], device: ParallelDevice = 'cpu') => fm.randn(shape, f64).to(String(device));

/** Every tensor in a nested output, in a fixed order. */
function leaves(x: unknown): Tensor[] {
  if (x instanceof fm.Tensor) return [x];
  if (Array.isArray(x)) return x.flatMap(leaves);
  if (x !== null && typeof x === 'object') return Object.keys(x).sort().flatMap((k) => leaves((x as Record<string, unknown>)[k]));
  return [];
}
/** The same nested value with every tensor mapped through fn. */
function mapTensors(x: unknown, fn: (t: Tensor) => Tensor): unknown {
  if (x instanceof fm.Tensor) return fn(x);
  if (Array.isArray(x)) return x.map((v) => mapTensors(v, fn));
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mapTensors(v, fn)]));
  return x;
}
/** A loss with non-trivial gradients everywhere: sum of t^2 + t over every output tensor. */
function lossOf(out: unknown): Tensor {
  return leaves(out).map((t) => t.mul(t).add(t).sum()).reduce((a, b) => a.add(b));
}
/** Asserts two nested outputs have the same structure and close values (tensors compared on the cpu). */
function assertSameOutput(actual: unknown, expected: unknown, msg = 'output'): void {
  if (expected instanceof fm.Tensor) {
    assert.ok(actual instanceof fm.Tensor, `${msg} is a tensor`);
    assert.deepEqual(actual.shape, expected.shape, `${msg} shape`);
    assertClose(actual.cpu(), expected.cpu().toArray(), { ...TOL, msg });
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${msg} is an array of ${expected.length}`);
    expected.forEach((e, i) => assertSameOutput(actual[i], e, `${msg}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), `${msg} keys`);
    for (const k of Object.keys(expected)) assertSameOutput((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${msg}.${k}`);
  } else {
    assert.equal(actual, expected, msg);
  }
}

/**
 * Runs `model(...args)` plainly and through DataParallel; asserts equal outputs, parameter gradients and gradients
 * of the tensor arguments that require grad. Returns the DataParallel output.
 */
function checkParity(model: fm.nn.Module, args: unknown[], deviceIds: ParallelDevice[], opts: { dim?: number; outputDevice?: ParallelDevice } = {}): unknown {
  const inputs = args.flatMap(leaves).filter((t) => t.requiresGrad);
  model.zeroGrad();
  // The plain run sees the inputs on the module's device (to() is differentiable, so input gradients still arrive).
  const home = String(model.parameters()[0]!.device);
  const expected = (model as unknown as (...a: unknown[]) => unknown)(...(mapTensors(args, (t) => t.to(home)) as unknown[]));
  lossOf(expected).backward();
  const paramGrads = model.parameters().map((p) => p.grad!.cpu());
  const inputGrads = inputs.map((t) => t.grad!.cpu());
  model.zeroGrad();
  for (const t of inputs) t.grad = null;
  const dp = new nn.DataParallel(model, { deviceIds, ...opts });
  const out = (dp as unknown as (...a: unknown[]) => unknown)(...args);
  assertSameOutput(out, expected);
  for (const t of leaves(out)) assert.equal(String(t.device), String(dp.outputDevice), 'outputs are on outputDevice');
  lossOf(out).backward();
  model.parameters().forEach((p, i) => {
    assert.ok(p.grad !== null, `parameter ${i} has a gradient`);
    assert.equal(String(p.grad.device), String(p.device), 'gradients land on the parameters\' device');
    assertClose(p.grad.cpu(), paramGrads[i]!.toArray(), { ...TOL, msg: `grad of parameter ${i}` });
  });
  inputs.forEach((t, i) => assertClose(t.grad!.cpu(), inputGrads[i]!.toArray(), { ...TOL, msg: `grad of input ${i}` }));
  return out;
}

const mlp = () => new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 3)).to('float64');
const convNet = () => new nn.Sequential(
  new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(4 * 3 * 3, 5),
).to('float64');

/** Two tensor inputs, a number and an options object. */
class TwoInputs extends nn.Module {
  fc = new nn.Linear(3, 2).to('float64');
  override forward(a: Tensor, b: Tensor, scale: number, opts: { mode: 'add' | 'mul' }): Tensor {
    const h = this.fc(a);
    return (opts.mode === 'add' ? h.add(b) : h.mul(b)).mul(scale);
  }
}
/** An array and an object of tensors, with nested inputs ([x, {y}]). */
class NestedOut extends nn.Module {
  fc = new nn.Linear(3, 3).to('float64');
  override forward(xs: [Tensor, { y: Tensor }]): [Tensor, { sum: Tensor; prod: Tensor }] {
    const [x, { y }] = xs;
    const h = this.fc(x);
    return [h.relu(), { sum: h.add(y), prod: h.mul(y) }];
  }
}
/** Batch along dim 1: x is [features, batch]. */
class Columns extends nn.Module {
  weight = nn.Parameter(fm.randn([2, 3], f64));
  override forward(x: Tensor): Tensor {
    return this.weight.matmul(x).sigmoid();
  }
}
/** Records the shape each replica saw (the array is shared by replicas, as any plain field). */
class Recorder extends nn.Module {
  seen: number[][] = [];
  modes: boolean[] = [];
  fc = new nn.Linear(4, 2).to('float64');
  override forward(x: Tensor): Tensor {
    this.seen.push([...x.shape]);
    this.modes.push(this.training);
    return this.fc(x);
  }
}

const cpuLists: [string, ParallelDevice[]][] = [
  ["['cpu', 'cpu']", ['cpu', 'cpu']],
  ["['cpu', 'cpu', 'cpu']", ['cpu', 'cpu', 'cpu']],
  ['Device objects', [fm.Device.of('cpu'), fm.Device.of('cpu'), fm.Device.of('cpu')]],
];

describe('DataParallel matches the plain module', () => {
  for (const [name, ids] of cpuLists) {
    test(`MLP, ${name}`, () => {
      fm.manualSeed(1);
      checkParity(mlp(), [randn([6, 4]).requiresGrad_()], ids);
    });
    test(`Conv2d net, ${name}`, () => {
      fm.manualSeed(2);
      checkParity(convNet(), [randn([5, 2, 6, 6]).requiresGrad_()], ids);
    });
    test(`two inputs, a number and an options object, ${name}`, () => {
      fm.manualSeed(3);
      const m = new TwoInputs();
      checkParity(m, [randn([7, 3]).requiresGrad_(), randn([7, 2]).requiresGrad_(), 0.5, { mode: 'add' }], ids);
      checkParity(m, [randn([7, 3]), randn([7, 2]).requiresGrad_(), -2, { mode: 'mul' }], ids);
    });
    test(`nested inputs, an array and an object as output, ${name}`, () => {
      fm.manualSeed(4);
      const out = checkParity(new NestedOut(), [[randn([5, 3]).requiresGrad_(), { y: randn([5, 3]).requiresGrad_() }]], ids) as [Tensor, { sum: Tensor }];
      assert.deepEqual(out[1].sum.shape, [5, 3]);
    });
    test(`dim = 1, ${name}`, () => {
      fm.manualSeed(5);
      checkParity(new Columns(), [randn([3, 7]).requiresGrad_()], ids, { dim: 1 });
    });
  }

  test('uneven split: batch 5 on 3 devices runs chunks of 2, 2 and 1 (Tensor.chunk)', () => {
    fm.manualSeed(6);
    const m = new Recorder();
    checkParity(m, [randn([5, 4])], ['cpu', 'cpu', 'cpu']);
    assert.deepEqual(m.seen, [[5, 4], [2, 4], [2, 4], [1, 4]]); // the plain run, then the replicas
  });
  test('short batches run fewer replicas: batch 1 on 3 devices, batch 4 on 3 devices (chunks of 2)', () => {
    fm.manualSeed(7);
    const m = new Recorder();
    checkParity(m, [randn([1, 4]).requiresGrad_()], ['cpu', 'cpu', 'cpu']);
    assert.deepEqual(m.seen, [[1, 4], [1, 4]]);
    m.seen.length = 0;
    checkParity(m, [randn([4, 4])], ['cpu', 'cpu', 'cpu']);
    assert.deepEqual(m.seen, [[4, 4], [2, 4], [2, 4]]);
  });
  test('shared submodules and tied parameters stay shared in each replica', () => {
    fm.manualSeed(8);
    class Tied extends nn.Module {
      a = new nn.Linear(3, 3).to('float64');
      b = this.a;
      c = new nn.Linear(3, 3).to('float64');
      constructor() {
        super();
        this.c.weight = this.a.weight;
      }
      override forward(x: Tensor): Tensor {
        return this.c(this.b(this.a(x)).tanh());
      }
    }
    const m = new Tied();
    assert.equal(m.parameters().length, 3);
    checkParity(m, [randn([6, 3])], ['cpu', 'cpu', 'cpu']);
    const [, r1] = nn.parallel.replicate(m, ['cpu', 'cpu']);
    assert.equal(r1!.a, r1!.b);
    assert.equal(r1!.a.weight, r1!.c.weight);
  });
  test('a training loop of SGD steps through DataParallel matches plain training', () => {
    fm.manualSeed(9);
    const plain = mlp();
    const wrapped = mlp();
    wrapped.loadStateDict(plain.stateDict());
    const dp = new nn.DataParallel(wrapped, { deviceIds: ['cpu', 'cpu', 'cpu'] });
    const optA = new fm.optim.SGD(plain.parameters(), { lr: 0.1, momentum: 0.9 });
    const optB = new fm.optim.SGD(dp.parameters(), { lr: 0.1, momentum: 0.9 });
    for (let step = 0; step < 4; step++) {
      const x = randn([7, 4]);
      const y = randn([7, 3]);
      optA.zeroGrad();
      const la = nn.F.mseLoss(plain(x), y);
      la.backward();
      optA.step();
      optB.zeroGrad();
      const lb = nn.F.mseLoss(dp(x), y);
      lb.backward();
      optB.step();
      assertClose([lb.item()], [la.item()], { ...TOL, msg: `loss at step ${step}` });
    }
    const sa = plain.stateDict();
    for (const [k, v] of Object.entries(dp.stateDict())) assertClose(v, sa[k.slice('module.'.length)]!.toArray(), { ...TOL, msg: k });
  });
  test('under noGrad the output has no history', () => {
    fm.manualSeed(10);
    const m = mlp();
    const x = randn([4, 4]);
    const out = fm.noGrad(() => new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu'] })(x));
    assert.equal(out.requiresGrad, false);
    assertClose(out, m(x).toArray(), TOL);
  });
});

describe('DataParallel as a module', () => {
  test('stateDict keys carry the module. prefix, and parameters() are the module\'s own tensors', () => {
    const m = mlp();
    const dp = new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu'] });
    assert.deepEqual(Object.keys(dp.stateDict()), Object.keys(m.stateDict()).map((k) => `module.${k}`));
    assert.deepEqual(dp.parameters(), m.parameters());
    assert.deepEqual([...dp.namedParameters()].map(([k]) => k), ['module.0.weight', 'module.0.bias', 'module.2.weight', 'module.2.bias']);
    const other = new nn.DataParallel(mlp(), { deviceIds: ['cpu', 'cpu'] });
    other.loadStateDict(dp.stateDict());
    for (const [k, v] of Object.entries(other.stateDict())) assertClose(v, dp.stateDict()[k]!.toArray(), { rtol: 0, atol: 0, msg: k });
  });
  test('forwards leave no replica behind: modules, parameters and buffers of the original are unchanged', () => {
    const m = new nn.Sequential(new nn.Linear(4, 4), new nn.BatchNorm1d(4)).to('float64');
    const before = { mods: [...m.modules()], params: m.parameters(), bufs: m.buffers(), keys: Object.keys(m.stateDict()) };
    const dp = new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu', 'cpu'] });
    lossOf(dp(randn([6, 4]))).backward();
    assert.deepEqual([...m.modules()], before.mods);
    assert.deepEqual(m.parameters(), before.params);
    assert.deepEqual(m.buffers(), before.bufs);
    assert.deepEqual(Object.keys(m.stateDict()), before.keys);
    assert.deepEqual([...dp.children()], [m]);
  });
  test('hooks of the module and its submodules run in every replica, and a gradient hook sees each chunk', () => {
    const m = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU()).to('float64');
    const rows: number[] = [];
    const pre: number[] = [];
    const grads: number[] = [];
    m.registerForwardHook((_mod, _inp, out) => void rows.push((out as fm.Tensor).shape[0]!));
    (m as unknown as { 0: fm.nn.Linear })[0].registerForwardPreHook((_mod, inp) => void pre.push((inp[0] as fm.Tensor).shape[0]!));
    m.registerFullBackwardHook((_mod, _gi, go) => void grads.push(go[0]!.shape[0]!));
    const dp = new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu', 'cpu'] });
    lossOf(dp(randn([7, 4]))).backward();
    assert.deepEqual(rows, [3, 3, 1]);
    assert.deepEqual(pre, [3, 3, 1]);
    assert.deepEqual([...grads].sort(), [1, 3, 3]);
  });
  test('train()/eval() reach the module, and replicas run in its mode', () => {
    const m = new Recorder();
    const dp = new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu'] });
    dp.eval();
    assert.equal(m.training, false);
    assert.equal(m.fc.training, false);
    dp(randn([4, 4]));
    dp.train();
    assert.equal(m.fc.training, true);
    dp(randn([4, 4]));
    assert.deepEqual(m.modes, [false, false, true, true]);
  });
  test('BatchNorm in eval mode matches; in training mode replica 0 updates the running statistics (as PyTorch)', () => {
    fm.manualSeed(11);
    const make = () => new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU()).to('float64');
    const m = make();
    // Statistics worth testing: a few training batches first.
    for (let i = 0; i < 3; i++) m(randn([8, 3]).mul(2).add(1));
    m.eval();
    checkParity(m, [randn([6, 3]).requiresGrad_()], ['cpu', 'cpu', 'cpu']);
    // Training mode: each replica normalises its own chunk with its own batch statistics.
    const snapshot = Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [k, v.clone()]));
    const fresh = () => {
      const r = make();
      r.loadStateDict(snapshot);
      return r;
    };
    m.train();
    const x = randn([6, 3]);
    const out = new nn.DataParallel(m, { deviceIds: ['cpu', 'cpu', 'cpu'] })(x);
    const chunks = x.chunk(3);
    assertClose(out, fm.cat(chunks.map((c) => fresh()(c))).toArray(), TOL);
    // Only replica 0 holds the original buffers: the statistics are those of chunk 0 alone.
    const ref = fresh();
    ref(chunks[0]!);
    const bn = m.at(1) as fm.nn.BatchNorm1d;
    const refBn = ref.at(1) as fm.nn.BatchNorm1d;
    assertClose(bn.runningMean!, refBn.runningMean!.toArray(), TOL);
    assertClose(bn.runningVar!, refBn.runningVar!.toArray(), TOL);
    assert.equal(bn.numBatchesTracked!.item(), 4);
  });
  test('without devices (no deviceIds and no CUDA, or deviceIds: []) the module simply runs', { skip: fm.cuda.isAvailable() ? 'a GPU is present' : undefined }, () => {
    const m = mlp();
    const x = randn([3, 4]);
    const dp = new nn.DataParallel(m);
    assert.deepEqual(dp.deviceIds, []);
    assert.equal(dp.outputDevice, null);
    assertClose(dp(x), m(x).toArray(), TOL);
    assertClose(new nn.DataParallel(m, { deviceIds: [] })(x), m(x).toArray(), TOL);
  });
  test('one device: the module runs on inputs moved there', () => {
    fm.manualSeed(12);
    checkParity(mlp(), [randn([3, 4]).requiresGrad_()], ['cpu']);
  });
});

describe('errors', () => {
  test('parameters or buffers off deviceIds[0] are named', () => {
    const m = new nn.Sequential(new nn.Linear(2, 2));
    const dp = new nn.DataParallel(m, { deviceIds: ['cuda:0', 'cpu'] });
    expectError(() => dp(fm.randn([4, 2])), fm.DeviceError, 'DataParallel',
      /module must have its parameters and buffers on device cuda:0 \(deviceIds\[0\]\) but found parameter '0\.weight' on device cpu/);
    const bn = new nn.DataParallel(new nn.BatchNorm1d(2, { affine: false }), { deviceIds: [1, 'cpu'] });
    expectError(() => bn(fm.randn([4, 2])), fm.DeviceError, 'DataParallel', /on device cuda:1 \(deviceIds\[0\]\) but found buffer 'running_mean' on device cpu/);
    expectError(() => nn.parallel.dataParallel(m, [fm.randn([4, 2])], { deviceIds: ['cuda:0'] }), fm.DeviceError, 'dataParallel', /found parameter '0\.weight' on device cpu/);
  });
  test('bad options', () => {
    expectError(() => new nn.DataParallel(mlp(), { deviceIds: [-2] }), fm.ValueError, 'DataParallel', /non-negative integer/);
    expectError(() => new nn.DataParallel(mlp(), { deviceIds: ['cpu', 'cpu'], dim: 0.5 }), fm.ValueError, 'DataParallel', /dim must be an integer, got 0.5/);
    expectError(() => new nn.DataParallel(mlp(), { deviceIds: ['gpu'] }), fm.DeviceError, 'device', /unknown device 'gpu'/);
  });
  test('outputs that cannot be gathered', () => {
    const a = fm.ones([1]);
    expectError(() => nn.parallel.gather([a, [a]], 'cpu'), fm.ValueError, 'gather', /output is a tensor in replica 0 but not in replica 1/);
    expectError(() => nn.parallel.gather([{ k: a }, { j: a }], 'cpu'), fm.ValueError, 'gather', /all dicts must have the same number of keys: output differs in replica 1/);
    expectError(() => nn.parallel.gather([[1, a], [2, a]], 'cpu'), fm.ValueError, 'gather', /cannot gather output\[0\]: replicas returned different non-tensor values \(1, 2\)/);
  });
});

describe('replicate, scatter, gather, parallelApply', () => {
  test('scatter splits nested inputs along dim and repeats other values', () => {
    const x = fm.arange(10, f64).reshape([5, 2]);
    const parts = nn.parallel.scatter([x, { y: x.mul(10), n: 3 }, 'tag', []] as const, ['cpu', 'cpu', 'cpu']);
    assert.equal(parts.length, 3);
    assert.deepEqual(parts.map((p) => p[0].shape[0]), [2, 2, 1]);
    assertClose(parts[2]![0], [[8, 9]], TOL);
    assertClose(parts[1]![1].y, [[40, 50], [60, 70]], TOL);
    assert.deepEqual(parts.map((p) => [p[1].n, p[2], p[3]]), [[3, 'tag', []], [3, 'tag', []], [3, 'tag', []]]);
    const cols = nn.parallel.scatter(x, ['cpu', 'cpu'], 1);
    assertClose(cols[1]!, [[1], [3], [5], [7], [9]], TOL);
    // The shortest tensor decides how many pieces there are.
    assert.equal(nn.parallel.scatter([x, fm.ones([1, 2])], ['cpu', 'cpu', 'cpu']).length, 1);
  });
  test('gather joins along dim on the target and stacks scalars into a vector', () => {
    const a = fm.tensor([[1, 2]], f64);
    const b = fm.tensor([[3, 4]], f64);
    assertClose(nn.parallel.gather([a, b], 'cpu'), [[1, 2], [3, 4]], TOL);
    assertClose(nn.parallel.gather([a, b], -1, 1), [[1, 2, 3, 4]], TOL);
    const g = nn.parallel.gather([{ s: fm.tensor(1.5, f64), l: [a, null] }, { s: fm.tensor(2.5, f64), l: [b, null] }], fm.Device.of('cpu'));
    assertClose(g.s, [1.5, 2.5], TOL);
    assertClose(g.l[0]!, [[1, 2], [3, 4]], TOL);
    assert.equal(g.l[1], null);
  });
  test('replicas: replica 0 holds the original tensors, the others differentiable copies and cloned buffers', () => {
    const m = new nn.Sequential(new nn.Linear(2, 2), new nn.BatchNorm1d(2));
    m.eval();
    const [r0, r1] = nn.parallel.replicate(m, ['cpu', 'cpu']);
    assert.ok(r0 instanceof nn.Sequential && r1 instanceof nn.Sequential);
    assert.notEqual(r0, m);
    assert.equal((r0.at(0) as fm.nn.Linear).weight, (m.at(0) as fm.nn.Linear).weight);
    const w1 = (r1!.at(0) as fm.nn.Linear).weight;
    assert.notEqual(w1, (m.at(0) as fm.nn.Linear).weight);
    assert.ok(w1.gradFn !== null, 'a copy with history');
    assert.equal(r1!.parameters().length, 0, 'copies are not parameters');
    assert.equal(r1!.at(1).training, false);
    const bn = m.at(1) as fm.nn.BatchNorm1d;
    const bn1 = r1!.at(1) as fm.nn.BatchNorm1d;
    assert.notEqual(bn1.runningMean, bn.runningMean);
    assert.equal(bn1.runningMean!.requiresGrad, false);
    assert.deepEqual([...r1!.namedBuffers()].map(([k]) => k), [...m.namedBuffers()].map(([k]) => k));
    assert.deepEqual(Object.keys(r1!.stateDict()), ['1.running_mean', '1.running_var', '1.num_batches_tracked']);
    const [d1] = nn.parallel.replicate(m, ['cpu', 'cpu'], { detach: true }).slice(1);
    assert.equal((d1!.at(0) as fm.nn.Linear).weight.gradFn, null);
  });
  test('parallelApply runs each module on its inputs in order', () => {
    const m = mlp();
    const [a, b] = [randn([2, 4]), randn([3, 4])];
    const outs = nn.parallel.parallelApply([m, m], [[a], b], ['cpu', 'cpu']) as Tensor[];
    assertClose(outs[0]!, m(a).toArray(), TOL);
    assertClose(outs[1]!, m(b).toArray(), TOL);
    expectError(() => nn.parallel.parallelApply([m], [[a], [b]]), fm.ValueError, 'parallelApply', /one input per module, got 1 modules and 2 inputs/);
  });
  test('dataParallel, the function form', () => {
    fm.manualSeed(13);
    const m = mlp();
    const x = randn([5, 4]);
    assertClose(nn.parallel.dataParallel(m, [x], { deviceIds: ['cpu', 'cpu'] }), m(x).toArray(), TOL);
  });
});

describe('on CUDA', { skip: noCuda }, () => {
  const cudaLists: [string, ParallelDevice[]][] = [
    ["['cuda:0', 'cuda:0']", ['cuda:0', 'cuda:0']],
    ["['cuda:0', 'cpu'] (mixed)", ['cuda:0', 'cpu']],
    ['[0, 0, 0] (indices)', [0, 0, 0]],
  ];
  for (const [name, ids] of cudaLists) {
    test(`MLP and Conv2d net, ${name}`, () => {
      fm.manualSeed(20);
      checkParity(mlp().to('cuda:0'), [randn([5, 4], 'cuda:0').requiresGrad_()], ids);
      checkParity(convNet().to('cuda:0'), [randn([5, 2, 6, 6]).requiresGrad_()], ids);
      checkParity(new NestedOut().to('cuda:0'), [[randn([5, 3]), { y: randn([5, 3], 'cuda:0') }]], ids);
    });
  }
  test('outputDevice cpu, and a training step on cuda:0', () => {
    fm.manualSeed(21);
    checkParity(mlp().to('cuda:0'), [randn([5, 4])], ['cuda:0', 'cuda:0'], { outputDevice: 'cpu' });
    const m = mlp().to('cuda:0');
    const dp = new nn.DataParallel(m, { deviceIds: ['cuda:0', 'cpu'] });
    const opt = new fm.optim.SGD(dp.parameters(), { lr: 0.1 });
    const before = m.parameters().map((p) => p.cpu().clone());
    nn.F.mseLoss(dp(randn([6, 4], 'cuda:0')), randn([6, 3], 'cuda:0')).backward();
    opt.step();
    m.parameters().forEach((p, i) => {
      assert.equal(String(p.device), 'cuda:0');
      assertClose(p.cpu(), before[i]!.sub(p.grad!.cpu().mul(0.1)).toArray(), TOL);
    });
  });
});
