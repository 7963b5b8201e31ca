// The nn.Module API against PyTorch: registration order and names of nested containers (state-dict keys,
// named parameters, buffers, modules from test/fixtures/nn.json), shared modules and tied parameters, train/eval,
// apply, requiresGrad_, zeroGrad, to(), stateDict/loadStateDict and their errors, hooks (full backward hooks
// against PyTorch's), printing, the containers, nn.utils and nn.init (statistics on large tensors).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose, expectError as expectErrorIn } from './helpers.js';
import { fx, decode, expectTensor, values } from './nn_fixture.js';

const { nn } = fm;
type Tensor = fm.Tensor;
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_module\.test\.js/);
const num = (t: Tensor): number[] => Array.from(t.contiguous().data() as ArrayLike<number | bigint>, Number);

// The architectures of make_nn_fixtures.py, in Fiamma.
class Block extends nn.Module {
  conv = new nn.Conv2d(2, 4, 3, { padding: 1, bias: false });
  bn = new nn.BatchNorm2d(4);
  act = new nn.ReLU();
  declare scale: Tensor;
  declare mask: Tensor;
  constructor() {
    super();
    this.registerBuffer('scale', fm.ones([1]));
    this.registerBuffer('mask', fm.ones([2]), false);
  }
  override forward(x: Tensor): Tensor {
    return this.act(this.bn(this.conv(x))).mul(this.scale);
  }
}

class Net extends nn.Module {
  features = new nn.Sequential(new nn.Conv2d(1, 2, 3), new Block(), new nn.MaxPool2d(2), new nn.Sequential(new nn.Flatten(), new nn.Dropout(0.25)));
  heads = new nn.ModuleDict({ cls: new nn.Linear(4, 3), reg: new nn.Linear(4, 1) });
  blocks = new nn.ModuleList([new nn.LayerNorm(4), new nn.GELU(), new nn.ModuleList([new nn.Linear(4, 4)])]);
  plist = new nn.ParameterList([fm.zeros([2]), fm.zeros([3, 2])]);
  pdict = new nn.ParameterDict({ alpha: fm.zeros([1]), beta: fm.zeros([2]) });
  scale = nn.Parameter(fm.ones([1]));
  shared: fm.nn.Module;
  emb = new nn.Embedding(5, 4);
  out = new nn.Linear(4, 5, { bias: false });
  declare steps: Tensor;
  constructor() {
    super();
    this.registerBuffer('steps', fm.zeros([], { dtype: 'int64' }));
    this.shared = this.heads.get('cls')!;
    this.out.weight = this.emb.weight;
  }
  override forward(x: Tensor): Tensor {
    return this.features(x);
  }
}

/** print(model) of a model with ParameterList/Dict: PyTorch names dtypes torch.float64 / torch.DoubleTensor, Fiamma float64. */
const fiammaDtypes = (s: string): string => s.replace(/torch\.float64|torch\.DoubleTensor/g, 'float64');

function zoo(): fm.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv1d(2, 4, 3, { stride: 2, padding: 1, bias: false }),
    new nn.Conv2d(2, 4, [3, 2], { padding: 'same', dilation: [2, 1], groups: 2, paddingMode: 'circular' }),
    new nn.ConvTranspose1d(4, 2, 3, { stride: 2, outputPadding: 1 }), new nn.ConvTranspose2d(4, 2, 2, { stride: 2, padding: 1, dilation: 2 }),
    new nn.MaxPool1d(3, { stride: 2 }), new nn.MaxPool2d([2, 3], { stride: 1, padding: 1, ceilMode: true }), new nn.AvgPool1d(2),
    new nn.AvgPool2d(3, { stride: 2, padding: 1 }), new nn.AdaptiveAvgPool1d(4), new nn.AdaptiveAvgPool2d([null, 3]),
    new nn.AdaptiveMaxPool1d(2), new nn.AdaptiveMaxPool2d(1),
    new nn.BatchNorm1d(4), new nn.BatchNorm2d(4, { eps: 1e-3, momentum: null, affine: false }), new nn.LayerNorm([3, 4]),
    new nn.GroupNorm(2, 4), new nn.InstanceNorm1d(4), new nn.InstanceNorm2d(4, { affine: true, trackRunningStats: true }),
    new nn.Embedding(10, 3, { paddingIdx: 0 }), new nn.EmbeddingBag(10, 3, { mode: 'sum' }),
    new nn.Linear(3, 4), new nn.Bilinear(2, 3, 4, { bias: false }), new nn.Identity(), new nn.Flatten(), new nn.Unflatten(1, [2, 2]),
    new nn.Dropout(), new nn.Dropout2d(0.1),
    new nn.ReLU(), new nn.ReLU6(), new nn.Sigmoid(), new nn.Tanh(), new nn.SiLU(), new nn.Mish(), new nn.SELU(), new nn.LogSigmoid(), new nn.GELU(),
    new nn.LeakyReLU(), new nn.ELU(0.5), new nn.Softplus(2), new nn.Hardtanh(-2, 2), new nn.Softmax(1),
    new nn.LogSoftmax(-1), new nn.PReLU(4),
    new nn.Upsample({ scaleFactor: 2, mode: 'bilinear', alignCorners: false }), new nn.Upsample({ size: [4, 6] }), new nn.PixelShuffle(2),
    new nn.Sequential(new nn.Linear(2, 2), new nn.ModuleList([new nn.Tanh(), new nn.ModuleDict({ a: new nn.ReLU() })])),
    new nn.CrossEntropyLoss(), new nn.MSELoss(), new nn.BCEWithLogitsLoss(), new nn.TripletMarginLoss(),
  );
}

describe('registration and names against PyTorch', () => {
  const want = fx.models.Net!;
  test('state-dict keys: own parameters, buffers, then children; shared modules and tied parameters under every name', () => {
    assert.deepEqual(Object.keys(new Net().stateDict()), want.keys);
  });
  test('namedParameters: each tensor once (tied and shared ones under their first name)', () => {
    const m = new Net();
    assert.deepEqual([...m.namedParameters()].map(([n]) => n), want.params);
    assert.equal(m.parameters().reduce((s, p) => s + p.numel(), 0), want.numParams);
    assert.equal(m.parameters().length, want.params.length);
  });
  test('namedBuffers (the non-persistent one too), namedModules, namedChildren', () => {
    const m = new Net();
    assert.deepEqual([...m.namedBuffers()].map(([n]) => n), want.buffers);
    assert.deepEqual([...m.namedModules()].map(([n]) => n), want.modules);
    assert.deepEqual([...m.namedChildren()].map(([n]) => n), want.children);
    assert.deepEqual([...m.modules()].length, want.modules.length);
    assert.deepEqual([...m.children()].length, want.children.length);
  });
  test('recurse: false gives the own parameters and buffers only', () => {
    const m = new Net();
    assert.deepEqual([...m.namedParameters({ recurse: false })].map(([n]) => n), ['scale']);
    assert.deepEqual([...m.namedBuffers({ recurse: false })].map(([n]) => n), ['steps']);
    assert.equal(m.buffers({ recurse: false }).length, 1);
  });
  test("print(model) of nested containers (ParameterList/Dict with Fiamma's dtype names)", () => {
    assert.equal(String(new Net().to('float64')), fiammaDtypes(want.repr));
  });
  test('print(model) of a model with most layers', () => {
    // Softplus: Fiamma prints its options as Python floats (see REPR_DEVIATIONS in nn_fixture.ts).
    assert.equal(String(zoo()), fx.models.Zoo!.repr.replace('Softplus(beta=2, threshold=20)', 'Softplus(beta=2.0, threshold=20.0)'));
  });
  test('a ParameterDict of one parameter prints on one line, as PyTorch', () => {
    assert.equal(String(new nn.ParameterDict({ a: fm.zeros([3, 4]) })), 'ParameterDict(  (a): Parameter containing: [float32 of size 3x4])');
    assert.equal(String(new nn.ParameterList()), 'ParameterList()');
  });
  test('the same weights load into PyTorch-named keys: a round trip between two models', () => {
    const a = new Net();
    const b = new Net();
    const r = b.loadStateDict(a.stateDict());
    assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] });
    for (const [k, t] of Object.entries(a.stateDict())) assert.deepEqual(num(b.stateDict()[k]!), num(t), k);
    // The tie holds after loading: one tensor under both names.
    assert.equal(b.out.weight, b.emb.weight);
  });
});

describe('module state', () => {
  test('train() and eval() reach every descendant; training is read-only state', () => {
    const m = new Net();
    assert.ok([...m.modules()].every((c) => c.training));
    assert.equal(m.eval(), m);
    assert.ok([...m.modules()].every((c) => !c.training));
    m.features.train();
    assert.ok(m.features.training && (m.features.at(1) as Block).bn.training && !m.training && !m.heads.training);
    m.train(false);
    assert.ok([...m.modules()].every((c) => !c.training));
  });
  test('apply visits children first, then the module, each once (as PyTorch)', () => {
    const seq = new nn.Sequential(new nn.Linear(2, 2), new nn.Sequential(new nn.ReLU(), new nn.Tanh()));
    const lin = seq.at(0);
    seq.addModule('again', lin);
    const names: string[] = [];
    seq.apply((m) => names.push(m.constructor.name));
    assert.deepEqual(names, ['Linear', 'ReLU', 'Tanh', 'Sequential', 'Sequential']);
  });
  test('apply to initialise weights', () => {
    const m = new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 2));
    m.apply((c) => {
      if (c instanceof nn.Linear) nn.init.constant_(c.weight, 0.5);
    });
    for (const p of [...m.namedParameters()].filter(([n]) => n.endsWith('weight'))) assert.ok(num(p[1]).every((v) => v === 0.5));
  });
  test('requiresGrad_ freezes and unfreezes every parameter', () => {
    const m = new Net();
    m.requiresGrad_(false);
    assert.ok(m.parameters().every((p) => !p.requiresGrad));
    m.heads.requiresGrad_();
    assert.deepEqual(m.parameters().filter((p) => p.requiresGrad).length, 4);
  });
  test('zeroGrad: setToNone (the default) drops the gradients; setToNone: false zeroes them in place', () => {
    const m = new nn.Linear(3, 2);
    const run = () => m(fm.ones([4, 3])).sum().backward();
    run();
    const g = m.weight.grad!;
    m.zeroGrad({ setToNone: false });
    assert.equal(m.weight.grad, g, 'the same tensor');
    assert.ok(num(g).every((v) => v === 0) && num(m.bias!.grad!).every((v) => v === 0));
    run();
    assert.deepEqual(num(m.bias!.grad!), [4, 4]);
    m.zeroGrad();
    assert.equal(m.weight.grad, null);
    assert.equal(m.bias!.grad, null);
  });
  test("to('float64') casts float parameters and buffers, keeps int buffers, ties and gradients", () => {
    const m = new Net();
    m.emb(fm.tensor([1, 2], { dtype: 'int64' })).sum().backward();
    m.to('float64');
    assert.ok(m.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad));
    const bn = (m.features.at(1) as Block).bn;
    assert.equal(bn.runningMean!.dtype, 'float64');
    assert.equal(bn.numBatchesTracked!.dtype, 'int64');
    assert.equal(m.steps.dtype, 'int64');
    assert.equal(m.out.weight, m.emb.weight, 'the tied weight is still one tensor');
    assert.equal(m.shared, m.heads.get('cls'));
    assert.equal(m.emb.weight.grad!.dtype, 'float64');
    assert.ok(nn.isParameter(m.emb.weight));
    // Forward works in float64 through the moved buffers.
    assert.equal(m(fm.randn([2, 1, 6, 6], { dtype: 'float64' })).dtype, 'float64');
  });
});

describe('stateDict and loadStateDict', () => {
  test('values are detached (keepVars keeps the parameters themselves); non-persistent buffers are left out', () => {
    const m = new Block();
    const sd = m.stateDict();
    assert.ok(!sd['conv.weight']!.requiresGrad);
    assert.ok(!('mask' in sd));
    assert.equal(m.stateDict({ keepVars: true })['conv.weight'], m.conv.weight);
  });
  test('missing and unexpected keys: strict raises, naming them; strict: false returns them', () => {
    const m = new nn.Linear(3, 2);
    const sd = m.stateDict();
    expectError(() => m.loadStateDict({ weight: sd.weight! }), fm.ValueError, 'loadStateDict', /error\(s\) in loading the state dict for Linear: missing keys: "bias"\.$/);
    expectError(() => m.loadStateDict({ ...sd, extra: fm.zeros([1]), 'x.y': fm.zeros([1]) }), fm.ValueError, 'loadStateDict', /for Linear: unexpected keys: "extra", "x\.y"\.$/);
    expectError(() => m.loadStateDict({ weight: sd.weight!, foo: fm.zeros([1]) }), fm.ValueError, 'loadStateDict', /missing keys: "bias"\. unexpected keys: "foo"\./);
    const w = fm.full([2, 3], 0.5);
    assert.deepEqual(m.loadStateDict({ weight: w, foo: fm.zeros([1]) }, { strict: false }), { missingKeys: ['bias'], unexpectedKeys: ['foo'] });
    assert.deepEqual(num(m.weight), Array(6).fill(0.5));
  });
  test('a size mismatch raises naming the key and both shapes, and loads nothing', () => {
    const m = new nn.Linear(3, 2);
    const before = num(m.weight);
    expectError(() => m.loadStateDict({ weight: fm.zeros([2, 3]), bias: fm.zeros([3]) }), fm.ShapeError, 'loadStateDict',
      /size mismatch for bias: copying a param with shape \[3\] from the state dict, the shape in the current model is \[2\]/);
    assert.deepEqual(num(m.weight), before, 'the weight was not loaded either');
    expectError(() => m.loadStateDict({ weight: fm.zeros([3, 2]) }, { strict: false }), fm.ShapeError, 'loadStateDict', /size mismatch for weight/);
  });
  test('loading copies in place (the parameters stay the same tensors, an optimizer keeps working) and casts', () => {
    const m = new nn.Linear(2, 1);
    const w = m.weight;
    m.loadStateDict({ weight: fm.tensor([[1, 2]], { dtype: 'float64' }), bias: fm.tensor([3], { dtype: 'float64' }) });
    assert.equal(m.weight, w);
    assert.equal(m.weight.dtype, 'float32');
    assert.deepEqual(num(m(fm.tensor([[1, 1]]))), [6]);
  });
  test('BatchNorm buffers (num_batches_tracked too) load and round-trip', () => {
    const a = new nn.BatchNorm1d(3);
    a(fm.randn([4, 3]));
    a(fm.randn([4, 3]));
    const b = new nn.BatchNorm1d(3);
    b.loadStateDict(a.stateDict());
    assert.deepEqual(num(b.numBatchesTracked!), [2]);
    assert.deepEqual(num(b.runningMean!), num(a.runningMean!));
  });
});

describe('hooks', () => {
  test('a forward pre-hook can replace the input, a forward hook the output; handles remove them', () => {
    const m = new nn.Identity();
    const seen: unknown[] = [];
    const pre = m.registerForwardPreHook((_m, input) => [(input[0] as Tensor).mul(2)]);
    const post = m.registerForwardHook((mod, input, output) => {
      seen.push(mod, num(input[0] as Tensor), num(output as Tensor));
      return (output as Tensor).add(1);
    });
    assert.deepEqual(num(m(fm.tensor([1, 2]))), [3, 5]);
    assert.deepEqual(seen, [m, [2, 4], [2, 4]]);
    pre.remove();
    assert.deepEqual(num(m(fm.tensor([1, 2]))), [2, 3]);
    post.remove();
    assert.deepEqual(num(m(fm.tensor([1, 2]))), [1, 2]);
    pre.remove(); // removing twice is harmless
  });
  test('hooks returning nothing keep the input and output; several run in registration order', () => {
    const m = new nn.Linear(2, 2);
    const order: string[] = [];
    m.registerForwardPreHook(() => void order.push('pre1'));
    m.registerForwardPreHook(() => void order.push('pre2'));
    m.registerForwardHook(() => void order.push('post1'));
    m.registerForwardHook(() => void order.push('post2'));
    const x = fm.ones([1, 2]);
    assert.deepEqual(num(m(x)), num(nn.F.linear(x, m.weight, m.bias)));
    assert.deepEqual(order, ['pre1', 'pre2', 'post1', 'post2']);
  });
  test("a full backward hook sees gradInput and gradOutput as PyTorch's register_full_backward_hook", () => {
    const h = fx.hooks;
    const lin = new nn.Linear(3, 2).to('float64');
    lin.loadStateDict(Object.fromEntries(Object.entries(h.state).map(([k, e]) => [k, decode(e)])));
    let gin: (Tensor | null)[] = [];
    let gout: (Tensor | null)[] = [];
    const handle = lin.registerFullBackwardHook((_m, gi, go) => {
      gin = gi;
      gout = go;
    });
    const x = decode(h.x).requiresGrad_(true);
    const y = lin(x);
    y.mul(fm.tensor(values(h.R), { dtype: 'float64' }).reshape(y.shape)).sum().backward();
    assert.equal(gin.length, h.gradInput.length);
    assert.equal(gout.length, h.gradOutput.length);
    expectTensor(gin[0]!, h.gradInput[0]!, 'gradInput');
    expectTensor(gout[0]!, h.gradOutput[0]!, 'gradOutput');
    expectTensor(x.grad!, h.xGrad, 'x.grad');
    expectTensor(lin.weight.grad!, h.weightGrad, 'weight.grad');
    handle.remove();
    gin = [];
    lin(x).sum().backward();
    assert.deepEqual(gin, [], 'removed');
  });
  test('a full backward hook can replace gradInput; with an input that needs no grad it gets [null]', () => {
    const lin = new nn.Linear(2, 2);
    lin.registerFullBackwardHook((_m, gi) => gi.map((g) => g && g.mul(10)));
    const x = fm.ones([1, 2]).requiresGrad_(true);
    lin(x).sum().backward();
    assertClose(x.grad!, num(lin.weight.sum(0)).map((v) => 10 * v), { rtol: 1e-6 });
    const lin2 = new nn.Linear(2, 2);
    let gin: (Tensor | null)[] | undefined;
    let gout: (Tensor | null)[] | undefined;
    lin2.registerFullBackwardHook((_m, gi, go) => {
      gin = gi;
      gout = go;
    });
    lin2(fm.ones([1, 2])).sum().backward();
    assert.deepEqual(gin, [null]);
    assert.deepEqual(num(gout![0]!), [1, 1]);
    // One entry per tensor input, null where none is needed (Bilinear with x2 constant).
    const bil = new nn.Bilinear(2, 3, 1);
    bil.registerFullBackwardHook((_m, gi) => {
      gin = gi;
    });
    const x1 = fm.ones([1, 2]).requiresGrad_(true);
    bil(x1, fm.ones([1, 3])).sum().backward();
    assert.equal(gin!.length, 2);
    assert.deepEqual(num(gin![0]!), num(x1.grad!));
    assert.equal(gin![1], null);
  });
});

describe('containers', () => {
  test('Sequential runs in order; ModuleList indexes (negative from the end) and iterates', () => {
    const s = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
    assert.equal(s.length, 3);
    assert.ok(s.at(-1) instanceof nn.Linear);
    const x = fm.randn([4, 2]);
    const a = s.at(0) as fm.nn.Linear;
    const c = s.at(2) as fm.nn.Linear;
    assertClose(s(x), c(a(x).relu()).toArray());
    const l = new nn.ModuleList([new nn.ReLU()]).append(new nn.Tanh()).extend([new nn.Sigmoid()]);
    assert.deepEqual([...l].map((m) => m.constructor.name), ['ReLU', 'Tanh', 'Sigmoid']);
    assert.deepEqual(Object.keys(l.stateDict()), []);
    expectError(() => l.at(3), fm.IndexError, 'ModuleList', /index 3 is out of range for 3 modules/);
    expectError(() => l.at(-4), fm.IndexError, 'ModuleList', /index -4 is out of range/);
    expectError(() => l.append(fm.zeros([1]) as unknown as fm.nn.Module), fm.ValueError, 'ModuleList', /is not a Module/);
    expectError(() => (l as unknown as (x: Tensor) => Tensor)(x), fm.ValueError, 'ModuleList', /no forward/);
  });
  test('ModuleDict and ParameterDict keep keys in insertion order; ParameterList converts tensors to parameters', () => {
    const d = new nn.ModuleDict({ b: new nn.ReLU(), a: new nn.Tanh() });
    d.set('c', new nn.Linear(1, 1));
    assert.deepEqual(d.keys(), ['b', 'a', 'c']);
    assert.ok(d.get('c') instanceof nn.Linear);
    assert.equal(d.get('zzz'), undefined);
    assert.deepEqual(Object.keys(d.stateDict()), ['c.weight', 'c.bias']);
    const pl = new nn.ParameterList([fm.zeros([2])]);
    pl.append(fm.ones([3]));
    assert.equal(pl.length, 2);
    assert.ok([...pl].every((p) => nn.isParameter(p) && p.requiresGrad));
    const pd = new nn.ParameterDict({ w: fm.zeros([1]) });
    assert.deepEqual(pd.keys(), ['w']);
    assert.ok(nn.isParameter(pd.get('w')));
  });
  test('a Module without forward raises naming its class', () => {
    class Empty extends nn.Module {}
    expectError(() => (new Empty() as unknown as () => unknown)(), fm.ValueError, 'Empty', /must define forward/);
  });
  test('registration rejects bad names and names taken by something else', () => {
    const m = new nn.Linear(2, 2);
    expectError(() => m.addModule('a.b', new nn.ReLU()), fm.ValueError, 'addModule', /module name must be a non-empty string without '\.', got 'a\.b'/);
    expectError(() => m.addModule('', new nn.ReLU()), fm.ValueError, 'addModule', /non-empty/);
    expectError(() => m.addModule('weight', new nn.ReLU()), fm.ValueError, 'addModule', /attribute 'weight' already exists/);
    expectError(() => m.addModule('forward', new nn.ReLU()), fm.ValueError, 'addModule', /attribute 'forward' already exists/);
    expectError(() => m.registerBuffer('bias', fm.zeros([2])), fm.ValueError, 'registerBuffer', /attribute 'bias' already exists/);
    expectError(() => m.registerBuffer('buf', 3 as unknown as Tensor), fm.ValueError, 'registerBuffer', /cannot assign a number as buffer 'buf'/);
    expectError(() => m.registerParameter('training', fm.zeros([1])), fm.ValueError, 'registerParameter', /attribute 'training' already exists/);
    expectError(() => new nn.ModuleDict({ keys: new nn.ReLU() }), fm.ValueError, 'addModule', /attribute 'keys' already exists/);
    m.registerParameter('extra', fm.zeros([1]));
    m.registerBuffer('buf', null);
    m.registerBuffer('buf', fm.zeros([1])); // a buffer may be replaced
    assert.deepEqual(Object.keys(m.stateDict()), ['weight', 'bias', 'extra', 'buf']);
  });
});

describe('nn.utils', () => {
  const c = fx.clip;
  test("clipGradNorm_: the total norm and the scaled gradients as PyTorch's, for norms 2, 1, inf, 3", () => {
    for (const k of c.cases) {
      const ps = c.grads.map((g) => {
        const p = nn.Parameter(fm.zeros(g.shape, { dtype: 'float64' }));
        p.grad = decode(g);
        return p;
      });
      const total = nn.utils.clipGradNorm_(ps, k.maxNorm, { normType: values([k.normType])[0] });
      assert.equal(total.dtype, 'float64');
      assertClose(total, [values([k.total])[0]], { rtol: 1e-10 });
      k.grads.forEach((g, i) => expectTensor(ps[i]!.grad!, g, `normType ${k.normType}: grad ${i}`));
    }
  });
  test('clipGradNorm_ skips parameters without gradient; errorIfNonfinite raises on an infinite norm', () => {
    const a = nn.Parameter(fm.zeros([2]));
    const b = nn.Parameter(fm.zeros([2]));
    a.grad = fm.tensor([3, 4]);
    assertClose(nn.utils.clipGradNorm_([a, b], 1), [5]);
    assertClose(a.grad!, [0.6, 0.8], { rtol: 1e-5 });
    assert.equal(b.grad, null);
    assert.deepEqual(num(nn.utils.clipGradNorm_([b], 1)), [0]);
    a.grad = fm.tensor([Infinity, 1]);
    expectError(() => nn.utils.clipGradNorm_([a], 1, { errorIfNonfinite: true }), fm.ValueError, 'clipGradNorm_', /total norm of order 2 for gradients is non-finite/);
  });
  test('clipGradValue_ clamps every gradient', () => {
    const a = nn.Parameter(fm.zeros([4]));
    a.grad = fm.tensor([-3, -0.5, 0.2, 7]);
    nn.utils.clipGradValue_([a, nn.Parameter(fm.zeros([1]))], 1);
    assert.deepEqual(num(a.grad!), [-1, -0.5, 0.20000000298023224, 1]);
  });
  test('parametersToVector and vectorToParameters round-trip in parameter order', () => {
    const m = new nn.Linear(3, 2);
    const v = nn.utils.parametersToVector(m.parameters());
    assert.deepEqual(v.shape, [8]);
    assert.deepEqual(num(v), [...num(m.weight), ...num(m.bias!)]);
    nn.utils.vectorToParameters(fm.arange(8, { dtype: 'float32' }), m.parameters());
    assert.deepEqual(num(m.weight), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(num(m.bias!), [6, 7]);
    const before = num(m.weight);
    expectError(() => nn.utils.vectorToParameters(fm.zeros([7]), m.parameters()), fm.ValueError, 'vectorToParameters', /expected a 1-D vector of 8 elements .* got shape \[7\]/);
    assert.deepEqual(num(m.weight), before, 'nothing copied');
  });
  test('padSequence: [T, B, *] by default, [B, T, *] with batchFirst, with paddingValue', () => {
    const seqs = [fm.tensor([[1, 1], [2, 2], [3, 3]]), fm.tensor([[4, 4]]), fm.tensor([[5, 5], [6, 6]])];
    const tb = nn.utils.padSequence(seqs);
    assert.deepEqual(tb.shape, [3, 3, 2]);
    assert.deepEqual(tb.toArray(), [[[1, 1], [4, 4], [5, 5]], [[2, 2], [0, 0], [6, 6]], [[3, 3], [0, 0], [0, 0]]]);
    const bt = nn.utils.padSequence(seqs, { batchFirst: true, paddingValue: -1 });
    assert.deepEqual(bt.toArray(), [[[1, 1], [2, 2], [3, 3]], [[4, 4], [-1, -1], [-1, -1]], [[5, 5], [6, 6], [-1, -1]]]);
    expectError(() => nn.utils.padSequence([]), fm.ValueError, 'padSequence', /at least one sequence/);
  });
});

/** Mean and standard deviation of a tensor's values. */
function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = num(t);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}
/** U(-b, b): values within the bound, reaching close to it, with std b / sqrt(3). */
function expectUniform(t: Tensor, b: number, what: string): void {
  const s = stats(t);
  assert.ok(s.max <= b && s.min >= -b, `${what}: values within +-${b}, got [${s.min}, ${s.max}]`);
  assert.ok(s.max > 0.95 * b && s.min < -0.95 * b, `${what}: values reach the bound ${b}, got [${s.min}, ${s.max}]`);
  assert.ok(Math.abs(s.std / (b / Math.sqrt(3)) - 1) < 0.05, `${what}: std ${s.std}, expected ${b / Math.sqrt(3)}`);
  assert.ok(Math.abs(s.mean) < 0.05 * b, `${what}: mean ${s.mean}`);
}
function expectNormal(t: Tensor, mean: number, std: number, what: string): void {
  const s = stats(t);
  assert.ok(Math.abs(s.std / std - 1) < 0.05, `${what}: std ${s.std}, expected ${std}`);
  assert.ok(Math.abs(s.mean - mean) < 0.05 * std, `${what}: mean ${s.mean}, expected ${mean}`);
}

describe('nn.init and default initialisation', () => {
  test("calculateGain: PyTorch's table", () => {
    for (const [name, param, gain] of fx.gains) assertClose([nn.init.calculateGain(name as fm.nn.init.Nonlinearity, param ?? undefined)], [gain], { rtol: 1e-12, msg: name });
    expectError(() => nn.init.calculateGain('swish' as fm.nn.init.Nonlinearity), fm.ValueError, 'calculateGain', /unsupported nonlinearity swish/);
  });
  test('Linear: weight U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)), bias likewise', () => {
    fm.manualSeed(1);
    const m = new nn.Linear(64, 256);
    expectUniform(m.weight, 1 / 8, 'Linear weight');
    expectUniform(new nn.Linear(16, 4000).bias!, 1 / 4, 'Linear bias');
  });
  test('Conv2d and ConvTranspose2d: bounds from fan in = in/groups * kernel (and out/groups * kernel for transposed)', () => {
    fm.manualSeed(2);
    const c = new nn.Conv2d(8, 64, 3, { groups: 2 }); // fan in 4 * 9 = 36
    expectUniform(c.weight, 1 / 6, 'Conv2d weight');
    expectUniform(new nn.Conv2d(4, 4000, [2, 2]).bias!, 1 / 4, 'Conv2d bias');
    const t = new nn.ConvTranspose2d(64, 18, 2, { groups: 2 }); // weight [64, 9, 2, 2]: fan in 9 * 4 = 36
    expectUniform(t.weight, 1 / 6, 'ConvTranspose2d weight');
  });
  test('Embedding: N(0, 1) with the padding row zero; Bilinear: U(-1/sqrt(in1), 1/sqrt(in1))', () => {
    fm.manualSeed(3);
    const e = new nn.Embedding(200, 50, { paddingIdx: 7 });
    expectNormal(e.weight, 0, 1, 'Embedding weight');
    assert.ok(num(e.weight.select(0, 7)).every((v) => v === 0));
    const eb = new nn.EmbeddingBag(10, 4, { paddingIdx: -2 });
    assert.equal(eb.paddingIdx, 8);
    assert.ok(num(eb.weight.select(0, 8)).every((v) => v === 0));
    expectUniform(new nn.Bilinear(16, 3, 500).weight, 1 / 4, 'Bilinear weight');
  });
  test('norm layers start at weight 1, bias 0, running mean 0, running var 1; PReLU at 0.25', () => {
    const bn = new nn.BatchNorm2d(3);
    assert.deepEqual([num(bn.weight!), num(bn.bias!), num(bn.runningMean!), num(bn.runningVar!), num(bn.numBatchesTracked!)], [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1], [0]]);
    assert.deepEqual(num(new nn.GroupNorm(1, 2).weight!), [1, 1]);
    assert.deepEqual(num(new nn.PReLU(2).weight), [0.25, 0.25]);
  });
  test('xavierUniform_/xavierNormal_: gain sqrt(6 / (fanIn + fanOut)) and gain sqrt(2 / (fanIn + fanOut))', () => {
    fm.manualSeed(4);
    const t = fm.empty([100, 50, 3]); // fan in 150, fan out 300
    expectUniform(nn.init.xavierUniform_(t, 2), 2 * Math.sqrt(6 / 450), 'xavierUniform_');
    expectNormal(nn.init.xavierNormal_(fm.empty([300, 200])), 0, Math.sqrt(2 / 500), 'xavierNormal_');
  });
  test('kaimingUniform_/kaimingNormal_: gain sqrt(3 / fan) and gain / sqrt(fan), with mode and nonlinearity', () => {
    fm.manualSeed(5);
    expectUniform(nn.init.kaimingUniform_(fm.empty([200, 100])), Math.SQRT2 * Math.sqrt(3 / 100), 'kaimingUniform_ default (leaky_relu, a = 0)');
    expectUniform(nn.init.kaimingUniform_(fm.empty([200, 100]), { mode: 'fan_out', nonlinearity: 'relu' }), Math.SQRT2 * Math.sqrt(3 / 200), 'kaimingUniform_ fan_out');
    expectNormal(nn.init.kaimingNormal_(fm.empty([100, 400]), { a: 0.2 }), 0, Math.sqrt(2 / 1.04) / 20, 'kaimingNormal_ a=0.2');
    expectNormal(nn.init.kaimingNormal_(fm.empty([400, 20, 2]), { mode: 'fan_out', nonlinearity: 'tanh' }), 0, (5 / 3) / Math.sqrt(800), 'kaimingNormal_ tanh fan_out');
    expectError(() => nn.init.kaimingUniform_(fm.empty([3, 3]), { mode: 'fan_avg' as 'fan_in' }), fm.ValueError, 'init', /mode must be 'fan_in' or 'fan_out'/);
    expectError(() => nn.init.kaimingUniform_(fm.empty([3])), fm.ShapeError, 'calculateFanInAndFanOut', /fewer than 2 dimensions/);
  });
  test('orthogonal_: Q^T Q = I (tall), Q Q^T = I (wide), times gain; 4-D weights flattened', () => {
    fm.manualSeed(6);
    const eye = (n: number) => fm.eye(n, { dtype: 'float64' });
    const tall = nn.init.orthogonal_(fm.empty([8, 5], { dtype: 'float64' }));
    assertClose(tall.T.matmul(tall), eye(5).toArray(), { atol: 1e-12 });
    const wide = nn.init.orthogonal_(fm.empty([3, 7], { dtype: 'float64' }), 2);
    assertClose(wide.matmul(wide.T), eye(3).mul(4).toArray(), { atol: 1e-12 });
    const conv = nn.init.orthogonal_(fm.empty([4, 2, 3, 3], { dtype: 'float64' })).reshape([4, 18]);
    assertClose(conv.matmul(conv.T), eye(4).toArray(), { atol: 1e-12 });
    expectError(() => nn.init.orthogonal_(fm.empty([3])), fm.ShapeError, 'orthogonal_', /2 or more dimensions/);
  });
  test('truncNormal_: values within [a, b] with the truncated normal mean and std', () => {
    fm.manualSeed(7);
    const t = nn.init.truncNormal_(fm.empty([200, 200]));
    const s = stats(t);
    assert.ok(s.min >= -2 && s.max <= 2 && s.min < -1.98 && s.max > 1.98, `range [${s.min}, ${s.max}]`);
    expectNormal(t, 0, 0.8796256610342398, 'truncNormal_ N(0, 1) on [-2, 2]');
    const u = nn.init.truncNormal_(fm.empty([200, 200], { dtype: 'float64' }), 1, 2, 0, 3);
    const su = stats(u);
    assert.ok(su.min >= 0 && su.max <= 3, `range [${su.min}, ${su.max}]`);
    expectNormal(u, 1.4132624361230661, 0.8313200565040956, 'truncNormal_ N(1, 4) on [0, 3]');
  });
  test('uniform_, normal_, constant_, zeros_, ones_, eye_ fill in place without recording a graph', () => {
    const p = nn.Parameter(fm.empty([2, 3]));
    assert.equal(nn.init.constant_(p, 0.25), p);
    assert.ok(num(p).every((v) => v === 0.25) && p.gradFn === null && p.requiresGrad);
    assert.ok(num(nn.init.zeros_(p)).every((v) => v === 0));
    assert.ok(num(nn.init.ones_(p)).every((v) => v === 1));
    assert.deepEqual(nn.init.eye_(p).toArray(), [[1, 0, 0], [0, 1, 0]]);
    const u = nn.init.uniform_(fm.empty([10000]), 2, 3);
    const s = stats(u);
    assert.ok(s.min >= 2 && s.max <= 3 && Math.abs(s.mean - 2.5) < 0.02);
    expectNormal(nn.init.normal_(fm.empty([10000]), 1, 0.5), 1, 0.5, 'normal_');
    expectError(() => nn.init.eye_(fm.empty([2, 2, 2])), fm.ShapeError, 'eye_', /only tensors with 2 dimensions/);
  });
});

describe('printing', () => {
  test("a custom module's extraRepr comes before its children; a one-line extraRepr with no child stays on one line", () => {
    class Scaled extends nn.Module {
      fc = new nn.Linear(2, 2);
      constructor(readonly factor: number) {
        super();
      }
      override extraRepr(): string {
        return `factor=${this.factor}`;
      }
      override forward(x: Tensor): Tensor {
        return this.fc(x).mul(this.factor);
      }
    }
    assert.equal(String(new Scaled(2)), 'Scaled(\n  factor=2\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n)');
    class Two extends nn.Module {
      override extraRepr(): string {
        return 'a=1\nb=2';
      }
    }
    assert.equal(String(new Two()), 'Two(\n  a=1\n  b=2\n)');
    assert.equal(String(new nn.Sequential()), 'Sequential()');
    assert.equal(String(new nn.Sequential(new nn.Sequential(new nn.ReLU()))), 'Sequential(\n  (0): Sequential(\n    (0): ReLU()\n  )\n)');
  });
});
