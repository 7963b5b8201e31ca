// MultiheadAttention and the transformer layers against PyTorch 1.13
// (test/fixtures/make_transformer_fixtures.py): outputs, attention weights and gradients, float64.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose, fixture, expectError as expectErrorIn } from './helpers.js';

const { nn } = fm;
interface Arr { shape: number[]; values: (number | string)[]; dtype: string }
interface Case {
  name: string;
  opts: Record<string, unknown>;
  call: 'mha' | 'encoderLayer' | 'decoderLayer' | 'transformer';
  state: Record<string, Arr>;
  args: Arr[];
  kwargs: Record<string, Arr>;
  flags: Record<string, boolean>;
  outs: Arr[];
  weights: number[][];
  grads: { args: (number[] | null)[] } & Record<string, number[] | (number[] | null)[]>;
}
const cases = fixture<Case[]>('transformer.json');
const t = (a: Arr, requiresGrad = false) => {
  const x = fm.tensor(a.values.map(Number), { dtype: a.dtype === 'bool' ? 'bool' : 'float64' }).reshape(a.shape);
  return requiresGrad ? x.requiresGrad_() : x;
};
const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /nn_transformer\.test\.js/);

function run(c: Case): { module: fm.nn.Module; outs: fm.Tensor[]; args: fm.Tensor[] } {
  const o = { ...c.opts, dtype: 'float64' as const } as Record<string, unknown>;
  const args = c.args.map((a) => t(a, true));
  const kw = Object.fromEntries(Object.entries(c.kwargs).map(([k, v]) => [k, t(v)]));
  let module: fm.nn.Module;
  let outs: fm.Tensor[];
  switch (c.call) {
    case 'mha': {
      const m = new nn.MultiheadAttention(o.embedDim as number, o.numHeads as number, o);
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      const [y, w] = m(args[0]!, args[1]!, args[2]!, { keyPaddingMask: kw.key_padding_mask, attnMask: kw.attn_mask, averageAttnWeights: c.flags.average_attn_weights });
      [module, outs] = [m, [y, w!]];
      break;
    }
    case 'encoderLayer': {
      const m = new nn.TransformerEncoderLayer(o.dModel as number, o.nhead as number, o);
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      [module, outs] = [m, [m(args[0]!, { srcKeyPaddingMask: kw.src_key_padding_mask })]];
      break;
    }
    case 'decoderLayer': {
      const m = new nn.TransformerDecoderLayer(o.dModel as number, o.nhead as number, o);
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      [module, outs] = [m, [m(args[0]!, args[1]!, { tgtMask: kw.tgt_mask, memoryKeyPaddingMask: kw.memory_key_padding_mask })]];
      break;
    }
    case 'transformer': {
      const m = new nn.Transformer(o);
      m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, v]) => [k, t(v)])));
      [module, outs] = [m, [m(args[0]!, args[1]!, { tgtMask: kw.tgt_mask })]];
      break;
    }
  }
  module.eval();
  return { module, outs, args };
}

describe('attention and transformers match PyTorch', () => {
  for (const c of cases) {
    test(c.name, () => {
      const { module, outs, args } = run(c);
      assert.deepEqual(Object.keys(module.stateDict()), Object.keys(c.state), 'PyTorch state-dict keys');
      outs.forEach((o, k) => {
        assert.deepEqual(o.shape, c.outs[k]!.shape);
        assertClose(o, c.outs[k]!.values.map(Number), { rtol: 1e-9, atol: 1e-11 });
      });
      outs.map((o, k) => o.mul(fm.tensor(c.weights[k]!, { dtype: 'float64' }).reshape(o.shape)).sum()).reduce((a, b) => a.add(b)).backward();
      args.forEach((a, k) => c.grads.args[k] && assertClose(a.grad!, c.grads.args[k]!, { rtol: 1e-8, atol: 1e-10 }));
      for (const [k, p] of module.namedParameters()) if (c.grads[k]) assertClose(p.grad!, c.grads[k] as number[], { rtol: 1e-8, atol: 1e-10, msg: k });
    });
  }
});

test('the subsequent mask, and equal initial weights in every stacked layer', () => {
  assert.deepEqual(nn.Transformer.generateSquareSubsequentMask(3).toArray(), [[0, -Infinity, -Infinity], [0, 0, -Infinity], [0, 0, 0]]);
  const enc = new nn.TransformerEncoder(new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 }), 3);
  const sd = enc.stateDict();
  assert.deepEqual(sd['layers.0.linear1.weight']!.toArray(), sd['layers.2.linear1.weight']!.toArray());
  assert.notEqual(enc.layers.at(0), enc.layers.at(1));
});

test('bad input raises', () => {
  expectError(() => new nn.MultiheadAttention(10, 3), fm.ValueError, 'MultiheadAttention', /embedDim \(10\) must be divisible by numHeads \(3\)/);
  const m = new nn.MultiheadAttention(8, 2);
  const x = fm.zeros([4, 2, 8]);
  expectError(() => m(fm.zeros([4, 2, 6]), x, x), fm.ShapeError, 'MultiheadAttention', /was expecting embedding dimension of 8, but got 6/);
  expectError(() => m(x, x, x, { attnMask: fm.zeros([3, 3]) }), fm.ShapeError, 'MultiheadAttention', /attnMask should have shape \[4, 4\] or \[4, 4, 4\], got \[3,3\]/);
  expectError(() => m(x, x, x, { keyPaddingMask: fm.zeros([2, 3], { dtype: 'bool' }) }), fm.ShapeError, 'MultiheadAttention', /keyPaddingMask should have shape \[2, 4\]/);
  expectError(() => new nn.TransformerEncoderLayer(8, 2, { activation: 'tanh' as 'relu' }), fm.ValueError, 'TransformerLayer', /activation should be 'relu' or 'gelu', not 'tanh'/);
});
