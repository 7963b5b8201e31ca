// RNN, LSTM, GRU and their cells against PyTorch 1.13 (test/fixtures/make_rnn_fixtures.py): outputs,
// final states and gradients for the input, the initial state and every parameter, in float64.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose, fixture, expectError as expectErrorIn } from './helpers.js';

const { nn } = fm;
interface Arr { shape: number[]; values: number[] }
interface Case {
  kind: 'RNN' | 'LSTM' | 'GRU' | 'RNNCell' | 'LSTMCell' | 'GRUCell';
  opts: Record<string, unknown>;
  unbatched?: boolean;
  state: Record<string, Arr>;
  x: Arr;
  h0: Arr | null;
  c0: Arr | null;
  outs: Arr[];
  weights: number[][];
  grads: Record<string, number[] | null>;
  repr: string;
}
const cases = fixture<Case[]>('rnn.json');
const t = (a: Arr, requiresGrad = false) => fm.tensor(a.values, { dtype: 'float64', requiresGrad }).reshape(a.shape).detach().requiresGrad_(requiresGrad);
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_rnn\.test\.js/);

function build(c: Case): fm.nn.Module {
  const hh = c.state.weight_hh_l0 ?? c.state.weight_hh!;
  const [i, h] = [c.x.shape[c.x.shape.length - 1]!, hh.shape[1]!];
  const opts = { ...c.opts, dtype: 'float64' as const };
  switch (c.kind) {
    case 'RNN': return new nn.RNN(i, h, opts);
    case 'LSTM': return new nn.LSTM(i, h, opts);
    case 'GRU': return new nn.GRU(i, h, opts);
    case 'RNNCell': return new nn.RNNCell(i, h, opts);
    case 'LSTMCell': return new nn.LSTMCell(i, h, opts);
    case 'GRUCell': return new nn.GRUCell(i, h, opts);
  }
}

describe('recurrent layers match PyTorch', () => {
  cases.forEach((c, n) => {
    test(`${n}: ${c.kind} ${JSON.stringify(c.opts)}${c.unbatched ? ' unbatched' : ''}`, () => {
      const m = build(c);
      assert.deepEqual(Object.keys(m.stateDict()), Object.keys(c.state), 'PyTorch parameter names and order');
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      assert.equal(String(m), c.repr);
      const x = t(c.x, true);
      const h0 = c.h0 ? t(c.h0, true) : null;
      const c0 = c.c0 ? t(c.c0, true) : null;
      const lstm = c.kind === 'LSTM' || c.kind === 'LSTMCell';
      const call = m as unknown as (...a: unknown[]) => unknown;
      const r = h0 ? call(x, lstm ? [h0, c0] : h0) : call(x);
      const outs: fm.Tensor[] = c.kind === 'RNNCell' || c.kind === 'GRUCell' ? [r as fm.Tensor]
        : c.kind === 'LSTMCell' ? (r as fm.Tensor[])
        : c.kind === 'LSTM' ? [(r as [fm.Tensor, fm.Tensor[]])[0], ...(r as [fm.Tensor, fm.Tensor[]])[1]]
        : (r as fm.Tensor[]);
      outs.forEach((o, k) => {
        assert.deepEqual(o.shape, c.outs[k]!.shape);
        assertClose(o, c.outs[k]!.values, { rtol: 1e-10, atol: 1e-12 });
      });
      outs.map((o, k) => o.mul(fm.tensor(c.weights[k]!, { dtype: 'float64' }).reshape(o.shape)).sum()).reduce((a, b) => a.add(b)).backward();
      assertClose(x.grad!, c.grads.x!, { rtol: 1e-9, atol: 1e-11 });
      if (h0) assertClose(h0.grad!, c.grads.h0!, { rtol: 1e-9, atol: 1e-11 });
      if (c0) assertClose(c0.grad!, c.grads.c0!, { rtol: 1e-9, atol: 1e-11 });
      for (const [k, p] of m.namedParameters()) assertClose(p.grad!, c.grads[k]!, { rtol: 1e-9, atol: 1e-11, msg: k });
    });
  });
});

test('default initialisation is U(-1/sqrt(hidden), 1/sqrt(hidden))', () => {
  const m = new nn.LSTM(8, 16, { numLayers: 2 });
  for (const p of m.parameters()) {
    assert.ok(p.abs().amax().item() <= 0.25 + 1e-7);
    assert.ok(p.abs().amax().item() > 0.2);
  }
});

test('dropout between layers is active in training only', () => {
  fm.manualSeed(0);
  const m = new nn.GRU(4, 8, { numLayers: 2, dropout: 0.5 });
  const x = fm.randn([5, 3, 4]);
  m.eval();
  const a = m(x)[0];
  assertClose(m(x)[0], a.toArray() as number[][][]);
  m.train();
  assert.ok(m(x)[0].sub(a).abs().amax().item() > 1e-3);
});

test('bad input raises', () => {
  const m = new nn.LSTM(3, 4);
  expectError(() => m(fm.zeros([5, 2, 7])), fm.ShapeError, 'LSTM', /input\.size\(-1\) must be equal to inputSize\. Expected 3, got 7/);
  expectError(() => m(fm.zeros([5])), fm.ShapeError, 'LSTM', /expected a 2-D \(unbatched\) or 3-D \(batched\) input/);
  expectError(() => m(fm.zeros([5, 2, 3]), [fm.zeros([1, 3, 4]), fm.zeros([1, 2, 4])]), fm.ShapeError, 'LSTM', /expected hidden size \[1,2,4\], got \[1,3,4\]/);
  expectError(() => new nn.RNN(3, 0), fm.ValueError, 'RNN', /hiddenSize must be a positive integer, got 0/);
  expectError(() => new nn.GRU(3, 4, { dropout: 2 }), fm.ValueError, 'GRU', /dropout should be a number in range \[0, 1\], got 2/);
  expectError(() => new nn.GRUCell(3, 4)(fm.zeros([2, 5])), fm.ShapeError, 'GRUCell', /expected input of shape \[B, 3\] or \[3\], got \[2,5\]/);
});

interface PackedCase { kind: 'RNN' | 'LSTM' | 'GRU'; opts: Record<string, unknown>; lengths: number[]; state: Record<string, Arr>; x: Arr; outs: Arr[]; weights: number[][]; grads: Record<string, number[]>; batchSizes: number[] }

describe('packed sequences through recurrent layers match PyTorch', () => {
  for (const c of fixture<PackedCase[]>('rnn_packed.json')) {
    test(`${c.kind} ${JSON.stringify(c.opts)} lengths ${c.lengths}`, () => {
      const h = c.state.weight_hh_l0!.shape[1]!;
      const Ctor = { RNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU }[c.kind];
      const m = new Ctor(3, h, { ...c.opts, dtype: 'float64' });
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      const x = t(c.x, true);
      const packed = nn.utils.rnn.packPaddedSequence(x, c.lengths, { enforceSorted: false });
      assert.deepEqual(packed.batchSizes, c.batchSizes);
      const [out, state] = (m.forward as (p: fm.nn.PackedSequence) => [fm.nn.PackedSequence, fm.Tensor | fm.Tensor[]])(packed);
      const [padded, lens] = nn.utils.rnn.padPackedSequence(out);
      assert.deepEqual(lens, c.lengths);
      const outs = [padded, ...(Array.isArray(state) ? state : [state])];
      outs.forEach((o, k) => assertClose(o, c.outs[k]!.values, { rtol: 1e-10, atol: 1e-12 }));
      outs.map((o, k) => o.mul(fm.tensor(c.weights[k]!, { dtype: 'float64' }).reshape(o.shape)).sum()).reduce((a, b) => a.add(b)).backward();
      assertClose(x.grad!, c.grads.x!, { rtol: 1e-9, atol: 1e-11 });
      for (const [k, p] of m.namedParameters()) assertClose(p.grad!, c.grads[k]!, { rtol: 1e-9, atol: 1e-11, msg: k });
    });
  }
  test('packing errors', () => {
    expectError(() => nn.utils.rnn.packPaddedSequence(fm.zeros([4, 2, 3]), [2, 3]), fm.ValueError, 'packPaddedSequence', /lengths must be sorted in decreasing order when enforceSorted is true, got \[2, 3\]/);
    expectError(() => nn.utils.rnn.packPaddedSequence(fm.zeros([4, 2, 3]), [5, 3]), fm.ValueError, 'packPaddedSequence', /lengths must be integers in \[1, 4\], got \[5, 3\]/);
    const seqs = [fm.ones([3, 2]), fm.ones([1, 2])];
    const [p, l] = nn.utils.rnn.padPackedSequence(nn.utils.rnn.packSequence(seqs), { batchFirst: true });
    assert.deepEqual(l, [3, 1]);
    assert.deepEqual(p.shape, [2, 3, 2]);
  });
});
