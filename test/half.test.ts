// float16 and bfloat16: rounding bit for bit against PyTorch (fixtures/half.json, made by
// make_half_fixtures.py), op results against PyTorch's in those dtypes, type promotion, strided and
// in-place outputs through the float32 stand-ins (backend/reduced_float.ts), autograd across casts,
// optimizers on 16-bit parameters, modules and safetensors files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fm from '../src/index.js';
import { bfloat16BitsToFloat, floatToBfloat16Bits, floatToHalfBits, halfBitsToFloat } from '../src/half.js';
import { devices, fixture } from './helpers.js';

type Num = number | 'nan' | 'inf' | '-inf';
interface Fixture {
  convert: { values: Num[]; float16: number[]; bfloat16: number[] };
  /** Per dtype: op results, and `via_float32`, the ops PyTorch 1.13's CPU lacks in that dtype (float32 results rounded). */
  ops: Record<'float16' | 'bfloat16', Record<string, Num[]>>;
  shapes: { a: number[]; m: number[] };
}
const fx = fixture<Fixture>('half.json');
const num = (v: Num) => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);
const halfDtypes = ['float16', 'bfloat16'] as const;
const encode = { float16: floatToHalfBits, bfloat16: floatToBfloat16Bits };
const decode = { float16: halfBitsToFloat, bfloat16: bfloat16BitsToFloat };
/** The spacing of a dtype's values near v: results within one of it count as equal where PyTorch's float32 math differs from ours. */
const ulp = (dtype: 'float16' | 'bfloat16', v: number) => Math.max(2 ** Math.floor(Math.log2(Math.abs(v) || 1)) * (dtype === 'float16' ? 2 ** -10 : 2 ** -7), dtype === 'float16' ? 2 ** -24 : 1e-38);

function sameBits(got: number, want: number, msg: string): void {
  // NaN payloads aside (every NaN is one pattern here and in PyTorch's conversions), bits are equal.
  assert.equal(got, want, `${msg}: got 0x${got.toString(16)}, PyTorch 0x${want.toString(16)}`);
}

describe('rounding to float16 and bfloat16 (against PyTorch)', () => {
  for (const dtype of halfDtypes) {
    test(`${dtype}: the scalar conversion`, () => {
      fx.convert.values.forEach((v, i) => {
        // PyTorch's own NaN patterns differ between its kernels (0x7fc0 scalar, 0xffff vectorised): any NaN will do.
        if (v === 'nan') assert.ok(Number.isNaN(decode[dtype](encode[dtype](NaN))));
        else sameBits(encode[dtype](num(v)), fx.convert[dtype][i]!, `${dtype}(${v})`);
      });
    });
    test(`${dtype}: every bit pattern decodes and encodes back to itself`, () => {
      for (let h = 0; h < 65536; h++) {
        const v = decode[dtype](h);
        if (Number.isNaN(v)) continue;
        assert.equal(encode[dtype](v), h, `0x${h.toString(16)} -> ${v}`);
      }
    });
    // 20 copies: above the size where the native cpu kernels take over from the ts ones.
    for (const reps of [1, 20]) {
      test(`${dtype}: tensors of ${reps * fx.convert.values.length} values, cast from float32 and from float64`, () => {
        const values = Array.from({ length: reps }, () => fx.convert.values.map(num)).flat();
        const want = Array.from({ length: reps }, () => fx.convert[dtype]).flat();
        const f32 = fm.tensor(Float32Array.from(values));
        for (const t of [f32.to(dtype), fm.tensor(values, { dtype }), f32.double().to(dtype).float().to(dtype)]) {
          assert.equal(t.dtype, dtype);
          const got = t.data() as Float32Array;
          got.forEach((v, i) => {
            if (Number.isNaN(decode[dtype](want[i]!))) assert.ok(Number.isNaN(v), `${dtype}(NaN) read back as ${v}`);
            else sameBits(encode[dtype](v), want[i]!, `${dtype}(${values[i]})`);
          });
        }
      });
    }
  }

  test('item, toArray and printing give the stored values', () => {
    const h = fm.tensor([1 / 3, 70000, -0], { dtype: 'float16' });
    assert.deepEqual(h.toArray(), [0.333251953125, Infinity, -0]);
    assert.equal(h.select(0, 0).item(), 0.333251953125);
    assert.equal(fm.tensor(1 / 3, { dtype: 'bfloat16' }).item(), 0.333984375);
    assert.equal(String(fm.tensor([1.5, -2], { dtype: 'bfloat16' })), 'tensor([ 1.5000, -2.0000], dtype=bfloat16)');
    assert.equal(String(fm.tensor([0.1], { dtype: 'float16' })), 'tensor([0.1000], dtype=float16)');
  });
});

describe('ops in float16 and bfloat16 (against PyTorch)', () => {
  for (const [device, dtype] of devices.flatMap((d) => halfDtypes.map((t) => [d, t] as const))) {
    const r = fx.ops[dtype];
    const a = fm.tensor(r.a!.map(num), { dtype, device }).view(fx.shapes.a);
    const b = fm.tensor(r.b!.map(num), { dtype, device }).view(fx.shapes.a);
    const m = fm.tensor(r.m!.map(num), { dtype, device }).view(fx.shapes.m);
    const b32 = fm.tensor(r.b32!.map(num), { device }).view(fx.shapes.a);
    const ops: Record<string, [() => fm.Tensor, boolean]> = {
      // [result, exact]: exact where PyTorch's float32 arithmetic is the same single rounding as ours.
      add: [() => a.add(b), true],
      mul: [() => a.mul(b), true],
      div: [() => a.div(b), true],
      sub_scalar: [() => a.sub(0.3), true],
      relu: [() => a.relu(), true],
      max0: [() => a.max(0).values, true],
      exp: [() => a.exp(), false],
      tanh: [() => a.tanh(), false],
      sum1: [() => a.sum(1), false],
      mean: [() => a.mean(), false],
      matmul: [() => a.matmul(m), false],
      softmax1: [() => a.softmax(1), false],
    };
    for (const [op, [run, exact]] of Object.entries(ops)) {
      const want = r[op];
      assert.ok(want, `the fixture has no ${dtype} ${op}: rerun make_half_fixtures.py`);
      test(`${device} ${dtype} ${op}`, () => {
        const got = run();
        assert.equal(got.dtype, dtype);
        assert.equal(String(got.device), String(a.device));
        const g = got.data() as Float32Array;
        want.map(num).forEach((w, i) => {
          if (exact) assert.ok(Object.is(g[i], w) || (Number.isNaN(w) && Number.isNaN(g[i]!)), `${op}[${i}]: ${g[i]} vs PyTorch ${w}`);
          else assert.ok(Math.abs(g[i]! - w) <= ulp(dtype, w), `${op}[${i}]: ${g[i]} vs PyTorch ${w}`);
        });
      });
    }
    if (r.to_f32_add) {
      test(`${device} ${dtype} + float32 promotes to float32`, () => {
        const got = a.add(b32);
        assert.equal(got.dtype, 'float32');
        assert.deepEqual(Array.from(got.data() as Float32Array), r.to_f32_add!.map(num));
      });
    }
    test(`${device} ${dtype}: batched and transposed products equal float32's of the same values, rounded`, () => {
      fm.manualSeed(2);
      const x = fm.randn([3, 17, 40], { device }).to(dtype);
      const y = fm.randn([3, 9, 40], { device }).to(dtype);
      const got = x.matmul(y.mT);
      assert.equal(got.dtype, dtype);
      const want = x.float().matmul(y.float().mT).data() as Float32Array;
      (got.data() as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= ulp(dtype, want[i]!) + 1e-6, `[${i}] ${v} vs ${want[i]}`));
      assert.deepEqual(fm.zeros([2, 0], { device, dtype }).matmul(fm.zeros([0, 3], { device, dtype })).toArray(), [[0, 0, 0], [0, 0, 0]]);
    });
  }
});

describe('promotion, views and in-place ops', () => {
  test('type promotion as PyTorch', () => {
    const h = fm.ones([2], { dtype: 'float16' });
    const bf = fm.ones([2], { dtype: 'bfloat16' });
    assert.equal(fm.promoteTypes('float16', 'bfloat16'), 'float32');
    assert.equal(h.add(bf).dtype, 'float32');
    assert.equal(h.add(2.5).dtype, 'float16');
    assert.equal(h.add(fm.tensor(2.5, { dtype: 'float64' })).dtype, 'float16');
    assert.equal(fm.ones([2], { dtype: 'int64' }).add(bf).dtype, 'bfloat16');
    assert.equal(h.add(fm.ones([2], { dtype: 'float64' })).dtype, 'float64');
    assert.equal(fm.arange(3).div(fm.tensor(2, { dtype: 'float16' })).dtype, 'float16');
    assert.ok(fm.isFloating('bfloat16') && fm.isReducedFloat('float16') && !fm.isReducedFloat('float32'));
  });

  for (const dtype of halfDtypes) {
    test(`${dtype}: transposed, broadcast and strided inputs; in-place ops on views`, () => {
      const x32 = fm.randn([6, 40]);
      const x = x32.to(dtype);
      const xs = x.data() as Float32Array;
      const round = (v: number) => decode[dtype](encode[dtype](v));
      // A transposed view and a broadcast row.
      const row = fm.randn([40]).to(dtype);
      const got = x.T.add(row.unsqueeze(1)).data() as Float32Array;
      const rs = row.data() as Float32Array;
      for (let j = 0; j < 40; j++) for (let i = 0; i < 6; i++) assert.equal(got[j * 6 + i], round(xs[i * 40 + j]! + rs[j]!));
      // In place on a strided column: the rest of the storage is untouched.
      const y = x.clone();
      y.select(1, 3).mul_(2);
      const ys = y.data() as Float32Array;
      for (let i = 0; i < 240; i++) assert.equal(ys[i], i % 40 === 3 ? round(2 * xs[i]!) : xs[i], `element ${i}`);
      // In place every other element of a row (a view with gaps).
      const z = x.clone();
      z.select(0, 1).narrow(0, 0, 40).view([20, 2]).select(1, 0).add_(1);
      const zs = z.data() as Float32Array;
      for (let i = 0; i < 240; i++) assert.equal(zs[i], i >= 40 && i < 80 && i % 2 === 0 ? round(xs[i]! + 1) : xs[i]);
    });

    test(`${dtype}: a strided output is written through its view only (the storage around it keeps its bits)`, () => {
      const be = fm.zeros([1]).storage.backend;
      const base = fm.arange(12, { dtype: 'float32' }).to(dtype);
      const h = base.storage.handle;
      be.write(h, Uint16Array.of(0x7e01), 2); // a NaN with a payload, between two output elements
      const x = fm.tensor([1.5, -2, 3, 40], { dtype });
      const out = { storage: h, dtype, shape: [4], strides: [3], offset: 1 };
      be.unary('neg', out, { storage: x.storage.handle, dtype, shape: [4], strides: [1], offset: 0 }, []);
      const bits = base.storedData() as Uint16Array;
      assert.equal(bits[2], 0x7e01);
      const v = base.data() as Float32Array;
      assert.deepEqual([v[1], v[4], v[7], v[10]], [-1.5, 2, -3, -40]);
      for (const i of [0, 3, 5, 6, 8, 9, 11]) assert.equal(v[i], i);
    });

    test(`${dtype}: fold sums overlapping windows (an output visited more than once) as float32 does, rounded`, () => {
      fm.manualSeed(4);
      const cols = fm.randn([1, 2 * 3 * 3, 16]);
      const want = fm.nn.F.fold(cols.to(dtype).float(), [6, 6], [3, 3]).data() as Float32Array;
      const got = fm.nn.F.fold(cols.to(dtype), [6, 6], [3, 3]);
      assert.equal(got.dtype, dtype);
      (got.data() as Float32Array).forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= 2 * ulp(dtype, want[i]!), `[${i}] ${g} vs ${want[i]}`));
    });

    test(`${dtype}: scatterAdd with repeated indices sums in float32, rounding once (PyTorch's CPU kernel rounds after each add)`, () => {
      const base = fm.zeros([3], { dtype });
      const src = fm.tensor([0.1, 0.2, 0.3, 0.4], { dtype });
      const idx = fm.tensor([0n, 2n, 0n, 0n]);
      const out = base.scatterAdd(0, idx, src).data() as Float32Array;
      const s = src.data() as Float32Array;
      assert.equal(out[0], decode[dtype](encode[dtype](Math.fround(Math.fround(s[0]! + s[2]!) + s[3]!))));
      assert.equal(out[1], 0);
      assert.equal(out[2], s[1]);
    });

    test(`${dtype}: random numbers, argsort and where`, () => {
      fm.manualSeed(5);
      const u = fm.rand([1000], { dtype });
      assert.equal(u.dtype, dtype);
      const v = u.data() as Float32Array;
      assert.ok(v.every((e) => e >= 0 && e <= 1));
      assert.ok(Math.abs(u.float().mean().item() - 0.5) < 0.05);
      const n = fm.randn([2000], { dtype });
      assert.ok(Math.abs(n.float().std().item() - 1) < 0.1);
      const t = fm.tensor([3, -1, 2.5, 0], { dtype });
      assert.deepEqual(t.argsort().toArray(), [1, 3, 2, 0]);
      assert.deepEqual(fm.where(t.gt(0), t, fm.zeros([4], { dtype })).toArray(), [3, 0, 2.5, 0]);
    });
  }
});

describe('autograd, modules and optimizers in 16 bits', () => {
  test('gradients flow through casts in each leaf\'s own dtype', () => {
    const w = fm.tensor([0.5, -1.25, 3], { requiresGrad: true });
    const h = w.half();
    h.mul(h).sum().backward();
    assert.equal(w.grad!.dtype, 'float32');
    assert.deepEqual(w.grad!.toArray(), [1, -2.5, 6]);
    const leaf = fm.tensor([1.5, 2], { dtype: 'bfloat16', requiresGrad: true });
    leaf.exp().sum().backward();
    assert.equal(leaf.grad!.dtype, 'bfloat16');
    const e = fm.tensor([1.5, 2]).exp().data() as Float32Array;
    (leaf.grad!.data() as Float32Array).forEach((g, i) => assert.ok(Math.abs(g - e[i]!) <= ulp('bfloat16', e[i]!) * 2));
  });

  for (const dtype of halfDtypes) {
    test(`${dtype}: a Linear model trains with SGD and Adam; results stay within rounding of float32's`, () => {
      for (const make of [(p: fm.Tensor[]) => new fm.optim.SGD(p, { lr: 0.1, momentum: 0.9 }), (p: fm.Tensor[]) => new fm.optim.Adam(p, { lr: 0.01 })]) {
        fm.manualSeed(1);
        const model = new fm.nn.Linear(8, 4);
        const ref = new fm.nn.Linear(8, 4);
        ref.loadStateDict(model.stateDict());
        model.to(dtype);
        assert.equal(model.weight.dtype, dtype);
        const opt = make(model.parameters());
        const optRef = make(ref.parameters());
        const x = fm.randn([16, 8]);
        const y = fm.randn([16, 4]);
        for (let step = 0; step < 3; step++) {
          opt.zeroGrad();
          fm.nn.F.mseLoss(model(x.to(dtype)).float(), y).backward();
          opt.step();
          optRef.zeroGrad();
          fm.nn.F.mseLoss(ref(x), y).backward();
          optRef.step();
        }
        assert.equal(model.weight.grad!.dtype, dtype);
        const got = model.weight.data() as Float32Array;
        (ref.weight.data() as Float32Array).forEach((w, i) => assert.ok(Math.abs(got[i]! - w) < (dtype === 'float16' ? 5e-3 : 3e-2), `${opt.constructor.name} weight[${i}]: ${got[i]} vs float32 ${w}`));
      }
    });
  }

  test('Module.half / bfloat16 / float / double cast floating parameters and buffers only', () => {
    const bn = new fm.nn.BatchNorm1d(3);
    bn.half();
    assert.equal(bn.weight!.dtype, 'float16');
    assert.equal(bn.runningMean!.dtype, 'float16');
    assert.equal((bn as unknown as { numBatchesTracked: fm.Tensor }).numBatchesTracked.dtype, 'int64');
    bn.bfloat16();
    assert.equal(bn.weight!.dtype, 'bfloat16');
    bn.float();
    assert.equal(bn.weight!.dtype, 'float32');
    bn.double();
    assert.equal(bn.weight!.dtype, 'float64');
  });

  test('safetensors: float16 and bfloat16 save as F16 / BF16 and load bit for bit', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-half-'));
    const file = path.join(dir, 'h.safetensors');
    const h = fm.tensor([1 / 3, -0, 65504, Infinity], { dtype: 'float16' });
    const b = fm.tensor([1e-40, 3e38, -2.5], { dtype: 'bfloat16' });
    fm.save({ h, b }, file);
    const bytes = fs.readFileSync(file);
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string }>;
    assert.equal(header.h!.dtype, 'F16');
    assert.equal(header.b!.dtype, 'BF16');
    const back = fm.load(file);
    assert.equal(back.h!.dtype, 'float16');
    assert.equal(back.b!.dtype, 'bfloat16');
    assert.deepEqual(Array.from(back.h!.data() as Float32Array), Array.from(h.data() as Float32Array));
    assert.deepEqual(Array.from(back.b!.data() as Float32Array), Array.from(b.data() as Float32Array));
    fs.rmSync(dir, { recursive: true });
  });
});
