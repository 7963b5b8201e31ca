// fm.nn losses against PyTorch: every loss case of test/fixtures/nn.json (F's loss functions with each reduction
// and option, and the loss modules) on every device, gradcheck of cross entropy with label smoothing, and the
// errors for bad inputs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { devices, cudaSkip, expectError as expectErrorIn } from './helpers.js';
import { fx, isLoss, runModuleCase, runFunctionCase } from './nn_fixture.js';

const { nn } = fm;
const F = nn.F;
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_losses\.test\.js/);

for (const device of ['cpu', 'cuda']) {
  const skip = devices.includes(device) ? undefined : cudaSkip ?? `no ${device} backend`;
  describe(`loss functions against PyTorch (${device})`, () => {
    for (const c of fx.functions.filter((f) => isLoss(f.fn))) test(c.name, { skip }, async (t) => {
      await t.test('float64', () => runFunctionCase(c, device));
      await t.test('float32', { skip: c.f64only && 'the float64 output is no reference for float32' }, () => runFunctionCase(c, device, 'float32'));
    });
  });
  describe(`loss modules against PyTorch (${device})`, () => {
    for (const c of fx.modules.filter((m) => m.cls.endsWith('Loss'))) test(c.name, { skip }, async (t) => {
      await t.test('float64', () => runModuleCase(c, device));
      await t.test('float32', () => runModuleCase(c, device, 'float32'));
    });
  });
}

describe('loss errors name the op and say what is wrong', () => {
  const x = () => fm.randn([3, 4]);
  const ids = (...v: number[]) => fm.tensor(v, { dtype: 'int64' });
  test('shapes of elementwise losses (no silent broadcasting)', () => {
    for (const [name, f] of [['mseLoss', F.mseLoss], ['l1Loss', F.l1Loss], ['smoothL1Loss', F.smoothL1Loss], ['huberLoss', F.huberLoss], ['binaryCrossEntropy', F.binaryCrossEntropy], ['binaryCrossEntropyWithLogits', F.binaryCrossEntropyWithLogits], ['klDiv', F.klDiv]] as const) {
      expectError(() => (f as (a: fm.Tensor, b: fm.Tensor) => fm.Tensor)(x(), fm.randn([3, 1])), fm.ShapeError, name, /target size \[3, 1\] must be the same as input size \[3, 4\]/);
    }
    expectError(() => new nn.MSELoss()(x(), fm.randn([4])), fm.ShapeError, 'mseLoss', /target size \[4\]/);
  });
  test('reduction', () => {
    expectError(() => F.mseLoss(x(), x(), { reduction: 'avg' as 'mean' }), fm.ValueError, 'mseLoss', /reduction must be 'mean', 'sum', 'none', got 'avg'/);
    expectError(() => F.crossEntropy(x(), ids(0, 1, 2), { reduction: 'batchmean' as 'mean' }), fm.ValueError, 'crossEntropy', /got 'batchmean'/);
    expectError(() => F.nllLoss(x(), ids(0, 1, 2), { reduction: 'max' as 'mean' }), fm.ValueError, 'nllLoss', /got 'max'/);
    expectError(() => F.klDiv(x(), x(), { reduction: 'avg' as 'mean' }), fm.ValueError, 'klDiv', /reduction must be 'mean', 'batchmean', 'sum', 'none', got 'avg'/);
    expectError(() => F.tripletMarginLoss(x(), x(), x(), { reduction: '' as 'mean' }), fm.ValueError, 'tripletMarginLoss', /got ''/);
  });
  test('cross entropy and nll: targets, weight, label smoothing', () => {
    expectError(() => F.crossEntropy(x(), ids(0, 1)), fm.ShapeError, 'crossEntropy', /expected target of shape \[3\] for input of shape \[3, 4\], got \[2\]/);
    expectError(() => F.crossEntropy(x(), ids(0, 4, 1)), fm.IndexError, 'crossEntropy', /4/);
    expectError(() => F.nllLoss(x(), ids(0, -1, 1)), fm.IndexError, 'nllLoss', /-1/);
    expectError(() => F.crossEntropy(x(), fm.randn([3, 3])), fm.ShapeError, 'crossEntropy', /target size \[3, 3\] must be the same as input size \[3, 4\]/);
    expectError(() => F.crossEntropy(x(), ids(0, 1, 2), { labelSmoothing: 1.5 }), fm.ValueError, 'crossEntropy', /labelSmoothing must be between 0\.0 and 1\.0, got 1\.5/);
    expectError(() => F.crossEntropy(x(), ids(0, 1, 2), { weight: fm.ones([3]) }), fm.ShapeError, 'crossEntropy', /weight must be a vector of 4 values \(one per class\), got shape \[3\]/);
    expectError(() => F.nllLoss(x(), ids(0, 1, 2), { weight: fm.ones([2, 2]) }), fm.ShapeError, 'nllLoss', /weight must be a vector of 4 values/);
    expectError(() => F.nllLoss(x(), fm.tensor([0, 1, 2])), fm.DTypeError, 'nllLoss', /expected integer class indices as target, got float32/);
    expectError(() => F.crossEntropy(fm.tensor(1), ids()), fm.ShapeError, 'crossEntropy', /expected input \[C\] or \[N, C, \.\.\.\], got \[\]/);
  });
  test('pairwise losses: shapes', () => {
    expectError(() => F.marginRankingLoss(fm.ones([3]), fm.ones([3]), fm.ones([2])), fm.ShapeError, 'marginRankingLoss', /x1, x2 and y must have the same shape, got \[3\], \[3\] and \[2\]/);
    expectError(() => F.cosineEmbeddingLoss(x(), x(), fm.ones([4])), fm.ShapeError, 'cosineEmbeddingLoss', /expected x1 and x2 \[N, D\] \(or \[D\]\) and y \[N\] \(or \[\]\), got \[3, 4\], \[3, 4\] and \[4\]/);
    expectError(() => F.tripletMarginLoss(x(), x(), fm.ones([3, 5])), fm.ShapeError, 'tripletMarginLoss', /same number of dims and features, got \[3, 4\], \[3, 4\] and \[3, 5\]/);
  });
});

describe('loss behaviours', () => {
  test('cross entropy of class indices equals nll of logSoftmax, and the probability form with one-hot targets', () => {
    const logits = fm.randn([5, 4], { dtype: 'float64' });
    const t = fm.tensor([0, 3, 1, 1, 2], { dtype: 'int64' });
    const a = F.crossEntropy(logits, t).item();
    assert.ok(Math.abs(a - F.nllLoss(logits.logSoftmax(1), t).item()) < 1e-12);
    assert.ok(Math.abs(a - F.crossEntropy(logits, F.oneHot(t, 4).to('float64')).item()) < 1e-12);
  });
  test('every target ignored: the mean is NaN (as PyTorch) but the gradient is 0', () => {
    const x = fm.randn([2, 3], { dtype: 'float64' }).requiresGrad_(true);
    const l = F.crossEntropy(x, fm.tensor([-100, -100], { dtype: 'int64' }), { labelSmoothing: 0.1 });
    assert.ok(Number.isNaN(l.item()));
    l.backward();
    assert.ok((x.grad!.toArray() as number[][]).flat().every((v) => v === 0));
  });
  test('a loss module with a weight keeps it as a buffer, moved by to() and saved in the state dict', () => {
    const m = new nn.CrossEntropyLoss({ weight: fm.tensor([1, 2, 3]) });
    assert.deepEqual(Object.keys(m.stateDict()), ['weight']);
    m.to('float64');
    assert.equal(m.buffers()[0]!.dtype, 'float64');
    const x = fm.randn([2, 3], { dtype: 'float64' });
    const t = fm.tensor([0, 2], { dtype: 'int64' });
    assert.ok(Math.abs(m(x, t).item() - F.crossEntropy(x, t, { weight: fm.tensor([1, 2, 3], { dtype: 'float64' }) }).item()) < 1e-12);
    assert.deepEqual(Object.keys(new nn.BCEWithLogitsLoss({ posWeight: fm.ones([3]) }).stateDict()), ['pos_weight']);
    assert.deepEqual(Object.keys(new nn.MSELoss().stateDict()), []);
  });
  test('binary cross entropy clamps its logs at -100 (finite at 0 and 1)', () => {
    const l = F.binaryCrossEntropy(fm.tensor([0, 1, 0.5], { dtype: 'float64' }), fm.tensor([1, 0, 1], { dtype: 'float64' }), { reduction: 'none' });
    assert.deepEqual(l.toArray(), [100, 100, Math.LN2]);
  });
});
