// nn.init.dirac_ and sparse_ (the initialisers added after test/nn_module.test.ts's set).
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
