// fm.nn layers and the functional forms of F against PyTorch: every module and function case of
// test/fixtures/nn.json that is not a loss (see nn_fixture.ts), on every device; then dropout's statistics,
// gradcheck of functional forms, and the errors for bad arguments.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { devices, cudaSkip, expectError as expectErrorIn } from './helpers.js';
import { fx, isLoss, runModuleCase, runFunctionCase } from './nn_fixture.js';

const { nn } = fm;
const F = nn.F;
type Tensor = fm.Tensor;
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_layers\.test\.js/);

for (const device of ['cpu', 'cuda']) {
  const skip = devices.includes(device) ? undefined : cudaSkip ?? `no ${device} backend`;
  describe(`layers against PyTorch (${device})`, () => {
    for (const c of fx.modules.filter((m) => !m.cls.endsWith('Loss'))) test(c.name, { skip }, async (t) => {
      await t.test('float64', () => runModuleCase(c, device));
      await t.test('float32', () => runModuleCase(c, device, 'float32'));
    });
  });
  describe(`F against PyTorch (${device})`, () => {
    for (const c of fx.functions.filter((f) => !isLoss(f.fn))) test(c.name, { skip }, async (t) => {
      await t.test('float64', () => runFunctionCase(c, device));
      await t.test('float32', { skip: c.f64only && 'the float64 output is no reference for float32' }, () => runFunctionCase(c, device, 'float32'));
    });
  });
}

const num = (t: Tensor): number[] => Array.from(t.contiguous().data() as ArrayLike<number | bigint>, Number);
const f64 = (shape: number[], requiresGrad = true): Tensor => fm.randn(shape, { dtype: 'float64' }).requiresGrad_(requiresGrad);

describe('dropout', () => {
  test('F.dropout zeroes a fraction p and scales the rest by 1 / (1 - p); the gradient uses the same mask', () => {
    fm.manualSeed(10);
    const x = fm.ones([200000], { dtype: 'float64' }).requiresGrad_(true);
    const y = F.dropout(x, 0.3);
    const v = num(y);
    const zeros = v.filter((a) => a === 0).length / v.length;
    assert.ok(Math.abs(zeros - 0.3) < 0.005, `fraction zeroed ${zeros}`);
    assert.ok(v.every((a) => a === 0 || Math.abs(a - 1 / 0.7) < 1e-15), 'kept values are scaled by 1 / (1 - p)');
    y.sum().backward();
    assert.deepEqual(num(x.grad!), v, 'd y / d x is the scaled mask');
  });
  test('F.dropout: p = 0 and eval give the input itself; p = 1 gives zeros; a seeded generator repeats the mask', () => {
    const x = fm.randn([50]);
    assert.equal(F.dropout(x, 0), x);
    assert.equal(F.dropout(x, 0.5, false), x);
    assert.ok(num(F.dropout(x, 1)).every((a) => a === 0));
    const g = () => new fm.Generator().manualSeed(42);
    assert.deepEqual(num(F.dropout(x, 0.5, true, { generator: g() })), num(F.dropout(x, 0.5, true, { generator: g() })));
  });
  test('nn.Dropout follows train() and eval()', () => {
    fm.manualSeed(11);
    const d = new nn.Dropout(0.5);
    const x = fm.ones([1000]);
    const frac = num(d(x)).filter((a) => a === 0).length / 1000;
    assert.ok(frac > 0.4 && frac < 0.6, `train: fraction zeroed ${frac}`);
    d.eval();
    assert.equal(d(x), x, 'eval: identity');
  });
  test('Dropout2d zeroes whole channels of [N, C, H, W] (and of unbatched [C, H, W])', () => {
    fm.manualSeed(12);
    const y = new nn.Dropout2d(0.25)(fm.ones([40, 50, 3, 2]));
    const ch = y.reshape([2000, 6]).toArray() as number[][];
    assert.ok(ch.every((c) => c.every((a) => a === 0) || c.every((a) => Math.abs(a - 4 / 3) < 1e-6)), 'each channel all zero or all scaled');
    const frac = ch.filter((c) => c[0] === 0).length / 2000;
    assert.ok(Math.abs(frac - 0.25) < 0.03, `fraction of channels zeroed ${frac}`);
    const u = (F.dropout2d(fm.ones([200, 2, 2]), 0.5).reshape([200, 4]).toArray() as number[][]);
    assert.ok(u.every((c) => c.every((a) => a === c[0])), 'unbatched: whole channels');
  });
});

describe('gradcheck of functional forms (float64)', () => {
  fm.manualSeed(20);
  const cases: [string, () => [(...xs: Tensor[]) => Tensor, Tensor[]]][] = [
    ['F.layerNorm', () => [(x, w, b) => F.layerNorm(x, [2, 3], w, b), [f64([2, 2, 3]), f64([2, 3]), f64([2, 3])]]],
    ['F.groupNorm', () => [(x, w, b) => F.groupNorm(x, 2, w, b, 1e-3), [f64([2, 4, 3]), f64([4]), f64([4])]]],
    ['F.batchNorm (training)', () => [(x, w, b) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true }), [f64([4, 3, 2]), f64([3]), f64([3])]]],
    ['F.batchNorm (eval, running stats)', () => {
      const rm = fm.randn([3], { dtype: 'float64' });
      const rv = fm.rand([3], { dtype: 'float64' }).add(0.5);
      return [(x, w) => F.batchNorm(x, rm, rv, { weight: w }), [f64([2, 3, 2]), f64([3])]];
    }],
    ['F.instanceNorm', () => [(x, w, b) => F.instanceNorm(x, { weight: w, bias: b }), [f64([2, 3, 4]), f64([3]), f64([3])]]],
    ['F.rmsNorm', () => [(x, w) => F.rmsNorm(x, [4], w), [f64([3, 4]), f64([4])]]],
    ['F.crossEntropy (labelSmoothing, weight, ignoreIndex)', () => {
      const t = fm.tensor([0, 3, -100, 2, 1], { dtype: 'int64' });
      const w = fm.tensor([0.5, 1, 2, 0.25], { dtype: 'float64' });
      return [(x) => F.crossEntropy(x, t, { labelSmoothing: 0.2, weight: w }), [f64([5, 4])]];
    }],
    ['F.crossEntropy (probabilities, labelSmoothing)', () => [(x, p) => F.crossEntropy(x, p, { labelSmoothing: 0.1 }), [f64([3, 4]), fm.rand([3, 4], { dtype: 'float64' }).requiresGrad_(true)]]],
    ['F.interpolate (bilinear)', () => [(x) => F.interpolate(x, { size: [5, 6], mode: 'bilinear' }), [f64([1, 2, 3, 4])]]],
    ['F.interpolate (bilinear, alignCorners)', () => [(x) => F.interpolate(x, { scaleFactor: 1.5, mode: 'bilinear', alignCorners: true }), [f64([1, 1, 3, 4])]]],
    ['F.pad (reflect)', () => [(x) => F.pad(x, [2, 1, 1, 2], 'reflect'), [f64([1, 2, 3, 4])]]],
    ['F.pad (circular, replicate)', () => [(x) => F.pad(F.pad(x, [2, 3], 'circular'), [1, 2], 'replicate'), [f64([2, 3])]]],
    // Repeated ids accumulate; (paddingIdx's zero gradient is by design not the finite difference: see the fixtures.)
    ['F.embedding', () => {
      const ids = fm.tensor([[0, 2], [3, 0]], { dtype: 'int64' });
      return [(w) => F.embedding(ids, w), [f64([4, 3])]];
    }],
    ['F.scaledDotProductAttention (causal)', () => [(q, k, v) => F.scaledDotProductAttention(q, k, v, { isCausal: true }), [f64([1, 3, 2]), f64([1, 3, 2]), f64([1, 3, 2])]]],
    ['F.normalize, F.cosineSimilarity', () => [(a, b) => F.cosineSimilarity(F.normalize(a, { dim: -1 }), b, 1), [f64([3, 4]), f64([3, 4])]]],
    ['F.bilinear', () => [(a, b, w) => F.bilinear(a, b, w), [f64([2, 2]), f64([2, 3]), f64([2, 2, 3])]]],
    ['F.adaptiveAvgPool2d (non-divisible)', () => [(x) => F.adaptiveAvgPool2d(x, [2, 3]), [f64([1, 1, 5, 4])]]],
  ];
  for (const [name, make] of cases) {
    test(name, () => {
      const [fn, inputs] = make();
      assert.ok(fm.gradcheck(fn, inputs));
    });
  }
});

describe('errors name the op and say what is wrong', () => {
  const x4 = () => fm.randn([2, 3, 4, 4]);
  test('dropout probability', () => {
    expectError(() => new nn.Dropout(1.5), fm.ValueError, 'Dropout', /dropout probability has to be between 0 and 1, but got 1\.5/);
    expectError(() => new nn.Dropout2d(-0.1), fm.ValueError, 'Dropout2d', /between 0 and 1, but got -0\.1/);
    expectError(() => F.dropout(fm.ones([2]), NaN), fm.ValueError, 'dropout', /but got NaN/);
    expectError(() => F.dropout2d(fm.ones([2, 2, 2]), 2), fm.ValueError, 'dropout2d', /but got 2/);
  });
  test('convolution layers: groups, padding, paddingMode, channels', () => {
    expectError(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), fm.ValueError, 'Conv2d', /inChannels \(3\) must be divisible by groups \(2\)/);
    expectError(() => new nn.Conv1d(4, 3, 3, { groups: 2 }), fm.ValueError, 'Conv1d', /outChannels \(3\) must be divisible by groups \(2\)/);
    expectError(() => new nn.ConvTranspose2d(4, 4, 3, { groups: 0 }), fm.ValueError, 'ConvTranspose2d', /groups must be a positive integer, got 0/);
    expectError(() => new nn.Conv2d(3, 4, 3, { padding: 'same', stride: 2 }), fm.ValueError, 'Conv2d', /padding='same' is not supported for strided convolutions/);
    expectError(() => new nn.Conv2d(3, 4, 3, { padding: 'full' as 'same' }), fm.ValueError, 'Conv2d', /invalid padding string 'full', should be 'valid' or 'same'/);
    expectError(() => new nn.Conv1d(3, 4, 3, { paddingMode: 'mirror' as 'reflect' }), fm.ValueError, 'Conv1d', /paddingMode must be 'zeros', 'reflect', 'replicate' or 'circular', got 'mirror'/);
    expectError(() => new nn.Conv2d(2, 4, 3)(x4()), fm.ShapeError, 'conv2d', /expects 2 input channels \(with groups=1\), but the input \[2, 3, 4, 4\] has 3/);
  });
  test('linear layers: in features', () => {
    expectError(() => new nn.Linear(3, 2)(fm.ones([4, 2])), fm.ShapeError, 'linear', /input \[4, 2\] does not end with the weight's in features \(weight \[2, 3\]/);
    expectError(() => new nn.Bilinear(2, 3, 4)(fm.ones([5, 2]), fm.ones([5, 2])), fm.ShapeError, 'bilinear', /expected inputs \[\.\.\., 2\] and \[\.\.\., 3\] for weight \[4, 2, 3\], got \[5, 2\] and \[5, 2\]/);
  });
  test('normalisation layers: dims, features, groups, shapes', () => {
    expectError(() => new nn.BatchNorm1d(3)(x4()), fm.ShapeError, 'BatchNorm1d', /expected 2D or 3D input, got 4D input/);
    expectError(() => new nn.BatchNorm2d(3)(fm.ones([2, 3])), fm.ShapeError, 'BatchNorm2d', /expected 4D input, got 2D/);
    expectError(() => new nn.BatchNorm1d(3)(fm.ones([1, 3])), fm.ValueError, 'batchNorm', /expected more than 1 value per channel when training, got input size \[1, 3\]/);
    expectError(() => new nn.BatchNorm1d(4)(fm.ones([2, 3])), fm.ShapeError, 'batchNorm', /expected runningMean of shape \[3\] for input \[2, 3\] \(C = 3\), got \[4\]/);
    expectError(() => new nn.LayerNorm([4])(fm.ones([2, 3])), fm.ShapeError, 'layerNorm', /input of shape \[2, 3\] does not end with the normalized shape \[4\]/);
    expectError(() => F.layerNorm(fm.ones([2, 3]), []), fm.ValueError, 'layerNorm', /normalizedShape must name at least one dim/);
    expectError(() => new nn.RMSNorm([2, 3])(fm.ones([3, 2])), fm.ShapeError, 'rmsNorm', /does not end with the normalized shape \[2, 3\]/);
    expectError(() => new nn.GroupNorm(3, 4), fm.ValueError, 'GroupNorm', /numChannels \(4\) must be divisible by numGroups \(3\)/);
    expectError(() => F.groupNorm(fm.ones([2, 6, 3]), 4), fm.ValueError, 'groupNorm', /number of channels \(6\) to be divisible by numGroups \(4\)/);
    expectError(() => new nn.InstanceNorm1d(3)(x4()), fm.ShapeError, 'InstanceNorm1d', /expected 2D \(unbatched\) or 3D input, got 4D/);
    expectError(() => F.instanceNorm(fm.ones([2, 3])), fm.ShapeError, 'instanceNorm', /spatial dims/);
  });
  test('embeddings: paddingIdx, indices, offsets, per-sample weights', () => {
    expectError(() => new nn.Embedding(10, 3, { paddingIdx: 10 }), fm.ValueError, 'Embedding', /paddingIdx must be within numEmbeddings \(10\), got 10/);
    expectError(() => new nn.Embedding(10, 3, { paddingIdx: -11 }), fm.ValueError, 'Embedding', /got -11/);
    expectError(() => new nn.EmbeddingBag(4, 3, { paddingIdx: 4 }), fm.ValueError, 'EmbeddingBag', /paddingIdx must be within numEmbeddings \(4\)/);
    expectError(() => new nn.Embedding(4, 2)(fm.tensor([1, 4], { dtype: 'int64' })), fm.IndexError, 'embedding', /4/);
    expectError(() => new nn.Embedding(4, 2)(fm.tensor([1.0, 2.0])), fm.DTypeError, 'embedding', /expected integer indices \(int64 or int32\), got float32/);
    expectError(() => nn.Embedding.fromPretrained(fm.ones([3])), fm.ValueError, 'Embedding.fromPretrained', /must be 2-D/);
    const bag = new nn.EmbeddingBag(5, 2);
    const ids = fm.tensor([1, 2, 3], { dtype: 'int64' });
    expectError(() => bag(ids), fm.ValueError, 'EmbeddingBag', /offsets .* are required for 1-D input/);
    expectError(() => bag(ids, fm.tensor([1], { dtype: 'int64' })), fm.ValueError, 'EmbeddingBag', /offsets must start at 0/);
    expectError(() => bag(ids, fm.tensor([0, 2, 1], { dtype: 'int64' })), fm.ValueError, 'EmbeddingBag', /not decrease/);
    expectError(() => bag(ids, fm.tensor([0], { dtype: 'int64' }), fm.ones([3])), fm.ValueError, 'EmbeddingBag', /perSampleWeights is only supported for mode='sum', got mode='mean'/);
    expectError(() => new nn.EmbeddingBag(5, 2, { mode: 'sum' })(ids, fm.tensor([0], { dtype: 'int64' }), fm.ones([2])), fm.ShapeError, 'EmbeddingBag', /perSampleWeights \[2\] must have the shape of input \[3\]/);
    expectError(() => new nn.EmbeddingBag(5, 2, { mode: 'median' as 'sum' }), fm.ValueError, 'EmbeddingBag', /mode must be 'sum', 'mean' or 'max', got 'median'/);
  });
  test('F.pad, F.interpolate, pixel shuffles, pooling', () => {
    const x = fm.ones([1, 2, 3]);
    expectError(() => F.pad(x, [1, 2, 3]), fm.ValueError, 'pad', /padding length must be even and at most twice the input's dims \(3\), got 3/);
    expectError(() => F.pad(x, [1, 1, 1, 1, 1, 1, 1, 1]), fm.ValueError, 'pad', /got 8/);
    expectError(() => F.pad(x, [3, 0], 'reflect'), fm.ValueError, 'pad', /reflect padding \(3, 0\) must be less than the dim's size 3/);
    expectError(() => F.pad(x, [1, 0], 'wrap' as 'reflect'), fm.ValueError, 'pad', /mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'wrap'/);
    expectError(() => F.interpolate(x4(), { size: 3, scaleFactor: 2 }), fm.ValueError, 'interpolate', /give exactly one of size and scaleFactor/);
    expectError(() => F.interpolate(x4(), {}), fm.ValueError, 'interpolate', /exactly one/);
    expectError(() => F.interpolate(fm.ones([3, 4]), { size: 3 }), fm.ShapeError, 'interpolate', /expected input with spatial dims \[N, C, \.\.\.\], got \[3, 4\]/);
    expectError(() => F.interpolate(x4(), { size: [3, 4, 5] }), fm.ValueError, 'interpolate', /expected 2 positive sizes or scale factors/);
    expectError(() => F.interpolate(x4(), { scaleFactor: 2, mode: 'linear' }), fm.ShapeError, 'interpolate', /mode 'linear' expects 3-D input/);
    expectError(() => F.interpolate(x4(), { scaleFactor: 2, mode: 'bicubic' as 'bilinear' }), fm.ValueError, 'interpolate', /mode must be 'nearest', 'linear' or 'bilinear', got 'bicubic'/);
    expectError(() => new nn.Upsample({ scaleFactor: 2, alignCorners: true })(x4()), fm.ValueError, 'interpolate', /alignCorners only has an effect with mode 'linear' or 'bilinear'/);
    expectError(() => new nn.PixelShuffle(2)(fm.ones([1, 6, 2, 2])), fm.ValueError, 'pixelShuffle', /channels \(6\) must be divisible by upscaleFactor\^2 \(4\)/);
    expectError(() => F.pixelUnshuffle(fm.ones([1, 1, 3, 4]), 2), fm.ValueError, 'pixelUnshuffle', /height \(3\) and width \(4\) must be divisible by downscaleFactor \(2\)/);
    expectError(() => new nn.AdaptiveAvgPool2d(2)(fm.ones([4, 4])), fm.ShapeError, 'adaptiveAvgPool2d', /expected 3-D or 4-D input, got \[4, 4\]/);
    expectError(() => new nn.MaxPool2d(2, { returnIndices: true as false }), fm.ValueError, 'MaxPool2d', /returnIndices is not supported/);
    expectError(() => new nn.PReLU(3)(fm.ones([2, 4])), fm.ShapeError, 'prelu', /weight has 3 parameters, expected 1 or the number of channels \(4\)/);
    expectError(() => F.scaledDotProductAttention(fm.ones([2, 3]), fm.ones([4, 2]), fm.ones([5, 2])), fm.ShapeError, 'scaledDotProductAttention', /expected query \[\.\.\., L, E\], key \[\.\.\., S, E\] and value \[\.\.\., S, Ev\], got \[2, 3\], \[4, 2\] and \[5, 2\]/);
  });
});

describe('layer behaviours', () => {
  test("nearest's source index is computed in the input's precision, as PyTorch's (26 -> 22: float32 12, float64 13)", () => {
    const at11 = (dtype: 'float32' | 'float64') => num(F.interpolate(fm.arange(26, { dtype }).reshape([1, 1, 26]), { size: 22 }))[11];
    assert.equal(at11('float32'), 12);
    assert.equal(at11('float64'), 13);
  });
  test('Embedding.fromPretrained copies the table, frozen by default', () => {
    const w = fm.tensor([[1, 2], [3, 4], [5, 6]]);
    const e = nn.Embedding.fromPretrained(w);
    assert.ok(!e.weight.requiresGrad);
    assert.deepEqual(e(fm.tensor([2, 0], { dtype: 'int64' })).toArray(), [[5, 6], [1, 2]]);
    w.fill_(0);
    assert.deepEqual(num(e.weight), [1, 2, 3, 4, 5, 6], 'a copy');
    const t = nn.Embedding.fromPretrained(fm.ones([3, 2]), { freeze: false, paddingIdx: 1 });
    assert.ok(t.weight.requiresGrad);
    assert.equal(t.paddingIdx, 1);
    t(fm.tensor([1, 2], { dtype: 'int64' })).sum().backward();
    assert.deepEqual(num(t.weight.grad!), [0, 0, 0, 0, 1, 1]);
  });
  test('InstanceNorm and Conv take unbatched input as a batch of one', () => {
    const x = fm.randn([3, 5], { dtype: 'float64' });
    const m = new nn.InstanceNorm1d(3, { affine: true });
    assert.deepEqual(m(x).toArray(), m(x.unsqueeze(0)).squeeze(0).toArray());
    const c = new nn.Conv1d(3, 2, 2);
    assert.deepEqual(c(x.float()).shape, [2, 4]);
  });
  test('BatchNorm in eval uses the running statistics and leaves them (and num_batches_tracked) alone', () => {
    const bn = new nn.BatchNorm1d(2).to('float64');
    bn.loadStateDict({ ...bn.stateDict(), running_mean: fm.tensor([1, -1], { dtype: 'float64' }), running_var: fm.tensor([4, 0.25], { dtype: 'float64' }) });
    bn.eval();
    const y = bn(fm.tensor([[3, 0], [1, -1]], { dtype: 'float64' }));
    assertCloseNested(y, [[2 / Math.sqrt(4 + 1e-5), 1 / Math.sqrt(0.25 + 1e-5)], [0, 0]]);
    assert.deepEqual(num(bn.numBatchesTracked!), [0]);
    assert.deepEqual(num(bn.runningMean!), [1, -1]);
  });
});

function assertCloseNested(t: Tensor, expected: number[][]): void {
  const a = num(t);
  expected.flat().forEach((e, i) => assert.ok(Math.abs(a[i]! - e) < 1e-12, `[${i}] ${a[i]} vs ${e}`));
}
