// nn.init.dirac_ and sparse_, and Module.to keeping parameter identity (added after test/nn_module.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { expectError as expectErrorIn } from './helpers.js';

const { nn } = fm;
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_init_extra\.test\.js/);

test('dirac_ makes a convolution the identity on the channels it can', () => {
  const conv = new nn.Conv2d(3, 3, 3, { padding: 1, bias: false });
  nn.init.dirac_(conv.weight);
  const x = fm.randn([2, 3, 5, 5]);
  assert.deepEqual(conv(x).toArray(), x.toArray());
  const w = nn.init.dirac_(fm.empty([4, 2, 3, 3]), 2); // two groups of 2 output channels
  assert.equal(w.sum().item(), 4);
  assert.equal(w.index(2, 0, 1, 1).item(), 1);
  expectError(() => nn.init.dirac_(fm.empty([3, 3])), fm.ShapeError, 'dirac_', /only tensors with 3, 4, or 5 dimensions are supported, got 2/);
});

test('sparse_ zeroes ceil(sparsity * rows) of every column and draws the rest', () => {
  const w = nn.init.sparse_(fm.empty([10, 6]), 0.25, 0.01, { generator: new fm.Generator().manualSeed(0) });
  assert.deepEqual(w.eq(0).sum(0).toArray(), [3, 3, 3, 3, 3, 3]);
  assert.ok(w.abs().amax().item() < 0.06);
  expectError(() => nn.init.sparse_(fm.empty([3]), 0.5), fm.ShapeError, 'sparse_', /only tensors with 2 dimensions are supported/);
});

test('Module.to() keeps parameter identity (an optimizer built before still holds them), as PyTorch', () => {
  const m = new nn.Linear(3, 2);
  const w = m.weight;
  const opt = new fm.optim.SGD(m.parameters(), { lr: 0.1 });
  m(fm.ones([1, 3])).sum().backward();
  m.to('float64');
  assert.equal(m.weight, w);
  assert.equal(w.dtype, 'float64');
  assert.equal(w.grad!.dtype, 'float64');
  const before = w.toArray() as number[][];
  opt.step();
  const after = w.toArray() as number[][];
  assert.ok(Math.abs(after[0]![0]! - (before[0]![0]! - 0.1)) < 1e-6, 'the step updated the moved parameter');
  expectError(() => w.mul(2).set_(fm.zeros([2])), fm.AutogradError, 'set_', /only leaf tensors can be set to other memory/);
});
