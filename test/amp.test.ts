// Mixed precision: which ops autocast runs in 16 bits and which in float32, that it is scoped to its
// function (async included) and device type, that gradients reach float32 leaves as float32, and
// GradScaler's scaling, unscaling, skipped steps, scale updates, state and errors (PyTorch's rules).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { expectError } from './helpers.js';

const raises = (fn: () => unknown, op: string, re: RegExp) => expectError(fn, fm.ValueError, op, re, /amp\.test\.[jt]s/);

const F = fm.nn.F;
const cpuBf16 = { deviceType: 'cpu', dtype: 'bfloat16' } as const;

describe('autocast', () => {
  test('matrix products, linear and convolutions run in the 16-bit dtype; softmax, norms and losses in float32', () => {
    const x = fm.randn([4, 8]);
    const w = fm.randn([3, 8], { requiresGrad: true });
    const img = fm.randn([2, 1, 6, 6]);
    const k = fm.randn([2, 1, 3, 3]);
    fm.autocast(cpuBf16, () => {
      const y = F.linear(x, w, fm.zeros([3]));
      assert.equal(y.dtype, 'bfloat16');
      assert.equal(x.matmul(w.T).dtype, 'bfloat16');
      assert.equal(fm.conv2d(img, k).dtype, 'bfloat16');
      assert.equal(fm.convTranspose2d(img, k.transpose(0, 1)).dtype, 'bfloat16');
      // PyTorch's cpu list runs softmax and the norms in 16 bits (its cuda list, in float32).
      assert.equal(y.softmax(1).dtype, 'bfloat16');
      assert.equal(y.logSoftmax(1).dtype, 'bfloat16');
      assert.equal(F.layerNorm(y, [3]).dtype, 'bfloat16');
      assert.equal(F.crossEntropy(y, fm.tensor([0n, 1n, 2n, 0n])).dtype, 'float32');
      assert.equal(F.binaryCrossEntropy(y.sigmoid(), fm.ones([4, 3])).dtype, 'float32');
      // Attention is one 16-bit op, softmax inside it included.
      const q = fm.randn([2, 5, 8]);
      assert.equal(F.scaledDotProductAttention(q, q, q, { isCausal: true }).dtype, 'bfloat16');
      assert.equal(F.mseLoss(y, fm.zeros([4, 3])).dtype, 'float32');
      // Elementwise ops keep their inputs' dtype; float64 is never cast.
      assert.equal(y.add(1).dtype, 'bfloat16');
      assert.equal(x.double().matmul(w.double().T).dtype, 'float64');
      assert.ok(fm.isAutocastEnabled('cpu'));
      assert.ok(!fm.isAutocastEnabled('cuda'));
      assert.equal(fm.getAutocastDtype('cpu'), 'bfloat16');
    });
    assert.equal(x.matmul(w.T).dtype, 'float32');
    assert.ok(!fm.isAutocastEnabled('cpu'));
  });

  test('norm layers take a 16-bit input with float32 parameters, compute in float32 and return the input\'s dtype', () => {
    fm.manualSeed(7);
    const x = fm.randn([4, 3, 5, 5]).bfloat16();
    const bn = new fm.nn.BatchNorm2d(3);
    const y = bn(x);
    assert.equal(y.dtype, 'bfloat16');
    assert.equal(bn.runningMean!.dtype, 'float32');
    const want = new fm.nn.BatchNorm2d(3)(x.float()).data() as Float32Array;
    (y.data() as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 0.01 * Math.max(1, Math.abs(want[i]!)), `[${i}] ${v} vs ${want[i]}`));
    const ln = new fm.nn.LayerNorm([5]);
    assert.equal(ln(x).dtype, 'bfloat16');
    assert.equal(new fm.nn.GroupNorm(3, 3)(x).dtype, 'bfloat16');
    assert.equal(F.rmsNorm(fm.full([2, 4], 1e-3, { dtype: 'bfloat16' }), [4]).dtype, 'bfloat16');
  });

  test('rmsNorm of a 16-bit input as PyTorch\'s rms_norm: float32 math, float32\'s eps, the weight before the rounding, the input\'s dtype', () => {
    // [3, 4]: mean square 12.5 (+ eps 2^-23), rsqrt 0.28284271; x times it 0.8485281 and 1.1313708,
    // in bfloat16 0.84765625 (217/256) and 1.1328125 (145/128). All in bfloat16 (rsqrt rounded to
    // 0.283203125 first) the first would be 0.8515625.
    const x = fm.tensor([3, 4], { dtype: 'bfloat16' });
    const y = F.rmsNorm(x, [2]);
    assert.equal(y.dtype, 'bfloat16');
    assert.deepEqual(Array.from(y.data() as Float32Array), [0.84765625, 1.1328125]);
    // A float32 weight [1, 3] multiplies in float32: 3.3941125 rounds to 3.390625 (217/64), where
    // rounding first would give 1.1328125 * 3 = 3.3984375; the result stays bfloat16.
    const yw = F.rmsNorm(x, [2], fm.tensor([1, 3]));
    assert.equal(yw.dtype, 'bfloat16');
    assert.deepEqual(Array.from(yw.data() as Float32Array), [0.84765625, 3.390625]);
    // eps is float32's (2^-23), not bfloat16's (2^-7): 1e-3 in bfloat16 is 0.00099945068, its mean
    // square 9.989e-7 is of eps's order, and the result is 0.9453125 (242/256); with 2^-7, 0.0113.
    assert.deepEqual(Array.from(F.rmsNorm(fm.full([2, 4], 1e-3, { dtype: 'bfloat16' }), [4]).data() as Float32Array), Array(8).fill(0.9453125));
  });

  test('the values are the 16-bit computation of the rounded inputs', () => {
    const a = fm.randn([5, 7]);
    const b = fm.randn([7, 3]);
    const got = fm.autocast({ deviceType: 'cpu', dtype: 'float16' }, () => a.matmul(b));
    assert.deepEqual(Array.from(got.data() as Float32Array), Array.from(a.half().matmul(b.half()).data() as Float32Array));
  });

  test('gradients reach float32 parameters as float32, close to the float32 gradients', () => {
    fm.manualSeed(3);
    const model = new fm.nn.Sequential(new fm.nn.Linear(10, 16), new fm.nn.ReLU(), new fm.nn.Linear(16, 4));
    const x = fm.randn([32, 10]);
    const y = fm.randint(0, 4, [32]);
    const loss = fm.autocast(cpuBf16, () => F.crossEntropy(model(x), y));
    assert.equal(loss.dtype, 'float32');
    loss.backward();
    const mixed = model.parameters().map((p) => p.grad!);
    model.zeroGrad();
    F.crossEntropy(model(x), y).backward();
    model.parameters().forEach((p, i) => {
      assert.equal(mixed[i]!.dtype, 'float32');
      const d = mixed[i]!.sub(p.grad!).abs().max().item();
      assert.ok(d < 0.02 * (p.grad!.abs().max().item() + 1e-3), `parameter ${i}: gradients differ by ${d}`);
    });
  });

  test('backward is never autocast: a float32 product differentiated inside autocast keeps float32 gradients', () => {
    const x = fm.randn([3, 5]);
    const w = fm.randn([5, 4], { requiresGrad: true });
    const up = fm.randn([3, 4]);
    const y = x.matmul(w);
    fm.autocast(cpuBf16, () => y.backward(up));
    assert.equal(w.grad!.dtype, 'float32');
    assert.deepEqual(Array.from(w.grad!.data() as Float32Array), Array.from(x.T.matmul(up).data() as Float32Array));
  });

  test('enabled: false turns it off inside; it nests and ends with its function, async included', async () => {
    const a = fm.randn([2, 2]);
    fm.autocast(cpuBf16, () => {
      fm.autocast({ deviceType: 'cpu', enabled: false }, () => assert.equal(a.matmul(a).dtype, 'float32'));
      fm.autocast({ deviceType: 'cpu', dtype: 'float16' }, () => assert.equal(a.matmul(a).dtype, 'float16'));
      assert.equal(a.matmul(a).dtype, 'bfloat16');
    });
    let seenOutside = '';
    const inside = fm.autocast(cpuBf16, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return a.matmul(a).dtype;
    });
    seenOutside = a.matmul(a).dtype; // runs while the async function waits
    assert.equal(await inside, 'bfloat16');
    assert.equal(seenOutside, 'float32');
    // A cuda autocast leaves cpu tensors alone.
    assert.equal(fm.autocast({ deviceType: 'cuda' }, () => a.matmul(a).dtype), 'float32');
    assert.equal(fm.getAutocastDtype('cuda'), 'float16');
  });

  test('bad arguments raise', () => {
    raises(() => fm.autocast({ deviceType: 'tpu' as 'cpu' }, () => 0), 'autocast', /autocast: deviceType must be 'cuda' or 'cpu', got 'tpu'/);
    raises(() => fm.autocast({ deviceType: 'cpu', dtype: 'float32' as 'float16' }, () => 0), 'autocast', /autocast: dtype must be 'float16' or 'bfloat16', got 'float32'/);
  });

  test('a small network trains under autocast', () => {
    fm.manualSeed(0);
    const model = new fm.nn.Sequential(new fm.nn.Linear(2, 32), new fm.nn.Tanh(), new fm.nn.Linear(32, 1));
    const opt = new fm.optim.Adam(model.parameters(), { lr: 0.02 });
    const x = fm.rand([128, 2]).mul(4).sub(2);
    const y = x.select(1, 0).mul(x.select(1, 1)).unsqueeze(1);
    let first = 0;
    let last = 0;
    for (let step = 0; step < 150; step++) {
      opt.zeroGrad();
      const loss = fm.autocast(cpuBf16, () => F.mseLoss(model(x), y));
      loss.backward();
      opt.step();
      if (step === 0) first = loss.item();
      last = loss.item();
    }
    assert.ok(last < first / 4, `loss ${first} -> ${last}`);
  });
});

describe('GradScaler', () => {
  const setup = () => {
    const w = fm.tensor([1, 2, 3], { requiresGrad: true });
    const opt = new fm.optim.SGD([w], { lr: 0.1 });
    return { w, opt };
  };

  test('scales the loss, unscales the gradients and steps', () => {
    const { w, opt } = setup();
    const scaler = new fm.amp.GradScaler({ initScale: 1024 });
    const loss = w.mul(w).sum();
    const scaled = scaler.scale(loss);
    assert.equal(scaled.item(), 14 * 1024);
    scaled.backward();
    assert.deepEqual(w.grad!.toArray(), [2048, 4096, 6144]);
    scaler.step(opt);
    assert.deepEqual(w.grad!.toArray(), [2, 4, 6]);
    assert.deepEqual(Array.from(w.data() as Float32Array), [0.8, 1.6, 2.4].map(Math.fround));
    scaler.update();
    assert.equal(scaler.getScale(), 1024);
    assert.deepEqual(scaler.scale([loss, loss]).map((t) => t.item()), [14 * 1024, 14 * 1024]);
  });

  test('skips a step whose gradients are not finite and backs off; grows after growthInterval clean steps', () => {
    const { w, opt } = setup();
    const scaler = new fm.amp.GradScaler({ initScale: 8, growthInterval: 2 });
    w.grad = fm.tensor([1, Infinity, 0]);
    assert.equal(scaler.step(opt), undefined);
    assert.deepEqual(Array.from(w.data() as Float32Array), [1, 2, 3]);
    scaler.update();
    assert.equal(scaler.getScale(), 4);
    w.grad = fm.tensor([NaN, 0, 0]);
    scaler.step(opt);
    scaler.update();
    assert.equal(scaler.getScale(), 2);
    for (let i = 0; i < 2; i++) {
      w.grad = fm.tensor([2, 2, 2]);
      scaler.step(opt);
      scaler.update();
    }
    assert.equal(scaler.getScale(), 4);
    assert.equal(scaler.stateDict()._growth_tracker, 0);
  });

  test('the scale stays a finite float32: it does not grow past float32\'s range', () => {
    const { w, opt } = setup();
    const scaler = new fm.amp.GradScaler({ initScale: 2 ** 127, growthInterval: 1 });
    w.grad = fm.ones([3]);
    scaler.step(opt);
    scaler.update();
    assert.equal(scaler.getScale(), 2 ** 127);
  });

  test('unscale_ before clipping, then step does not unscale again', () => {
    const { w, opt } = setup();
    const scaler = new fm.amp.GradScaler({ initScale: 4 });
    scaler.scale(w.sum()).backward();
    scaler.unscale_(opt);
    assert.deepEqual(w.grad!.toArray(), [1, 1, 1]);
    fm.nn.utils.clipGradNorm_([w], 0.5);
    scaler.step(opt);
    const n = 0.5 / Math.sqrt(3);
    (w.data() as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - (i + 1 - 0.1 * n)) < 1e-6));
  });

  test('calls out of order raise, as PyTorch', () => {
    const { w, opt } = setup();
    const scaler = new fm.amp.GradScaler();
    raises(() => scaler.update(), 'GradScaler.update', /no inf checks were recorded before update\(\)/);
    w.grad = fm.ones([3]);
    scaler.unscale_(opt);
    raises(() => scaler.unscale_(opt), 'GradScaler.unscale_', /unscale_\(\) has already been called on this optimizer since the last update\(\)/);
    scaler.step(opt);
    raises(() => scaler.step(opt), 'GradScaler.step', /step\(\) has already been called since the last update\(\)/);
    raises(() => scaler.unscale_(opt), 'GradScaler.unscale_', /unscale_\(\) is being called after step\(\)/);
    scaler.update();
    raises(() => scaler.step(opt, () => w.sum()), 'GradScaler.step', /a closure is not supported while the scaler is enabled/);
    w.grad = null;
    raises(() => scaler.step(opt), 'GradScaler.step', /no inf checks were recorded for this optimizer: none of its parameters has a gradient/);
    scaler.update(1);
    const h = fm.ones([2], { dtype: 'float16', requiresGrad: true });
    h.grad = fm.ones([2], { dtype: 'float16' });
    raises(() => scaler.unscale_(new fm.optim.SGD([h], { lr: 1 })), 'GradScaler.unscale_', /Attempting to unscale float16 gradients/);
    raises(() => new fm.amp.GradScaler({ growthFactor: 1 }), 'GradScaler', /growthFactor must be a finite number above 1, got 1/);
    raises(() => new fm.amp.GradScaler({ backoffFactor: 1.5 }), 'GradScaler', /backoffFactor must be between 0 and 1 \(exclusive\), got 1.5/);
    raises(() => new fm.amp.GradScaler({ growthInterval: 0.5 }), 'GradScaler', /growthInterval must be a positive integer, got 0.5/);
    raises(() => new fm.amp.GradScaler({ initScale: -1 }), 'GradScaler', /the scale must be a positive finite number, got -1/);
  });

  test('state dict round trip with PyTorch\'s keys; disabled is a pass-through', () => {
    const scaler = new fm.amp.GradScaler({ initScale: 256, growthInterval: 10 });
    scaler.update(128);
    const sd = scaler.stateDict();
    assert.deepEqual(sd, { scale: 128, growth_factor: 2, backoff_factor: 0.5, growth_interval: 10, _growth_tracker: 0 });
    const other = new fm.amp.GradScaler();
    other.loadStateDict(sd);
    assert.equal(other.getScale(), 128);
    assert.equal(other.getGrowthInterval(), 10);
    raises(() => other.loadStateDict({}), 'GradScaler.loadStateDict', /the state dict is empty/);
    raises(() => other.loadStateDict({ ...sd, _growth_tracker: -1 }), 'GradScaler.loadStateDict', /_growth_tracker must be a non-negative integer, got -1/);
    raises(() => other.loadStateDict({ ...sd, scale: 0 }), 'GradScaler.loadStateDict', /the scale must be a positive finite number, got 0/);
    const off = new fm.amp.GradScaler({ enabled: false });
    const { w, opt } = setup();
    const loss = w.sum();
    assert.equal(off.scale(loss), loss);
    assert.equal(off.getScale(), 1);
    loss.backward();
    off.step(opt);
    off.update();
    assert.deepEqual(Array.from(w.data() as Float32Array), [0.9, 1.9, 2.9].map(Math.fround));
    assert.deepEqual(off.stateDict(), {});
  });
});
