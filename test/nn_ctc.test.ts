// F.ctcLoss against PyTorch 1.13 (test/fixtures/make_ctc_fixtures.py): padded and concatenated
// targets, repeats, an empty target, shorter inputs, every reduction, the gradient, impossible alignments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose, fixture, expectError as expectErrorIn } from './helpers.js';

const F = fm.nn.F;
interface Case { form: string; blank: number; logits: number[]; targets: number[] | number[][]; inputLengths: number[]; targetLengths: number[]; losses: Record<string, (number | string)[]>; grad: number[] | null }
const fx = fixture<{ T: number; N: number; C: number; cases: Case[] }>('ctc.json');
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_ctc\.test\.js/);

for (const c of fx.cases.filter((c) => c.form !== 'impossible')) {
  test(`ctcLoss with ${c.form} targets matches PyTorch (losses and gradient)`, () => {
    const logits = fm.tensor(c.logits, { dtype: 'float64' }).reshape([fx.T, fx.N, fx.C]).requiresGrad_();
    const lp = logits.logSoftmax(2);
    const targets = fm.tensor(c.targets, { dtype: 'int64' });
    for (const reduction of ['none', 'sum', 'mean'] as const) {
      assertClose(F.ctcLoss(lp, targets, c.inputLengths, c.targetLengths, { blank: c.blank, reduction }), c.losses[reduction]!.map(Number), { rtol: 1e-10, atol: 1e-10, msg: reduction });
    }
    F.ctcLoss(lp, targets, c.inputLengths, c.targetLengths, { blank: c.blank }).backward();
    assertClose(logits.grad!, c.grad!, { rtol: 1e-8, atol: 1e-10 });
  });
}

test('an impossible alignment costs Infinity, or 0 with zeroInfinity (and no NaN gradient)', () => {
  const c = fx.cases.find((k) => k.form === 'impossible')!;
  const lp = fm.tensor(c.logits, { dtype: 'float64' }).reshape([2, 1, 3]).requiresGrad_();
  const t = fm.tensor(c.targets, { dtype: 'int64' });
  assert.equal(F.ctcLoss(lp, t, [2], [3], { reduction: 'none' }).item(), Infinity);
  const z = F.ctcLoss(lp, t, [2], [3], { reduction: 'sum', zeroInfinity: true });
  assertClose(z.reshape([1]), c.losses.zero!.map(Number));
  z.backward();
  assert.ok(lp.grad!.isfinite().all().item());
});

test('bad input raises', () => {
  const lp = fm.zeros([4, 2, 3]);
  expectError(() => F.ctcLoss(fm.zeros([4, 3]), fm.zeros([2, 1], { dtype: 'int64' }), [4, 4], [1, 1]), fm.ShapeError, 'ctcLoss', /expected logProbs of shape \[T, N, C\], got \[4, 3\]/);
  expectError(() => F.ctcLoss(lp, fm.tensor([[1], [2]], { dtype: 'int64' }), [4], [1, 1]), fm.ShapeError, 'ctcLoss', /expected 2 input and target lengths, got 1 and 2/);
  expectError(() => F.ctcLoss(lp, fm.tensor([[1], [0]], { dtype: 'int64' }), [4, 4], [1, 1]), fm.ValueError, 'ctcLoss', /target 0 must be a class in \[0, 3\) other than the blank \(0\)/);
  expectError(() => F.ctcLoss(lp, fm.tensor([[1], [2]], { dtype: 'int64' }), [5, 4], [1, 1]), fm.ValueError, 'ctcLoss', /input lengths must be in \[0, 4\], got 5/);
});

test('the CTCLoss module passes its options', () => {
  const c = fx.cases[0]!;
  const lp = fm.tensor(c.logits, { dtype: 'float64' }).reshape([fx.T, fx.N, fx.C]).logSoftmax(2);
  const loss = new fm.nn.CTCLoss({ reduction: 'sum' })(lp, fm.tensor(c.targets, { dtype: 'int64' }), c.inputLengths, c.targetLengths);
  assertClose(loss.reshape([1]), c.losses.sum!.map(Number), { rtol: 1e-10 });
});
