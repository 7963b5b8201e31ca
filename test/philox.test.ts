import { test } from 'node:test';
import assert from 'node:assert/strict';
import { philox4x32, fillRandom } from '../src/backend/ts/philox.js';

function hex(words: Uint32Array): string[] {
  return Array.from(words, (w) => w.toString(16).padStart(8, '0'));
}

function block(c: number[], k: number[]): string[] {
  const out = new Uint32Array(4);
  philox4x32(c[0]!, c[1]!, c[2]!, c[3]!, k[0]!, k[1]!, out);
  return hex(out);
}

// Known-answer vectors for philox4x32_10 from Random123's kat_vectors.
test('philox4x32-10 matches Random123 known-answer vectors', () => {
  assert.deepEqual(block([0, 0, 0, 0], [0, 0]), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  const ff = 0xffffffff;
  assert.deepEqual(block([ff, ff, ff, ff], [ff, ff]), ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
  assert.deepEqual(
    block([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
  );
});

// Straightforward BigInt transcription of Random123's philox4x32_R, as an independent check of the 32-bit tricks.
function philoxRef(c: bigint[], k: bigint[]): bigint[] {
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = c as [bigint, bigint, bigint, bigint];
  let [k0, k1] = k as [bigint, bigint];
  for (let r = 0; r < 10; r++) {
    if (r > 0) { k0 = (k0 + 0x9e3779b9n) & mask; k1 = (k1 + 0xbb67ae85n) & mask; }
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32n) ^ c3 ^ k1) & mask, p0 & mask];
  }
  return [c0, c1, c2, c3];
}

test('philox4x32 agrees with a BigInt reference on pseudo-random inputs', () => {
  const out = new Uint32Array(4);
  let x = 0x12345678;
  const next = (): number => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x; };
  for (let t = 0; t < 500; t++) {
    const c = [next(), next(), next(), next()];
    const k = [next(), next()];
    philox4x32(c[0]!, c[1]!, c[2]!, c[3]!, k[0]!, k[1]!, out);
    assert.deepEqual(Array.from(out, BigInt), philoxRef(c.map(BigInt), k.map(BigInt)));
  }
});

test('fillRandom element i is the block at counter offset + i with key = seed words', () => {
  const seed = 0x0123456789abcdefn;
  const w = new Uint32Array(4);
  const f64 = new Float64Array(3);
  const offset = 2 ** 32 - 1; // crosses the c0 -> c1 carry
  fillRandom(f64, 'uniform', seed, offset, 0, 1);
  for (let i = 0; i < 3; i++) {
    const ctr = offset + i;
    philox4x32(ctr % 2 ** 32, Math.floor(ctr / 2 ** 32), 0, 0, 0x89abcdef, 0x01234567, w);
    const u = ((w[0]! >>> 5) * 2 ** 26 + (w[1]! >>> 6)) * 2 ** -53;
    assert.equal(f64[i], u);
  }
  const f32 = new Float32Array(1);
  fillRandom(f32, 'uniform', seed, 7, 0, 1);
  philox4x32(7, 0, 0, 0, 0x89abcdef, 0x01234567, w);
  assert.equal(f32[0], (w[0]! >>> 8) * 2 ** -24);
});

test('same (seed, offset) gives identical arrays; other seeds differ', () => {
  for (const dist of ['uniform', 'normal'] as const) {
    for (const Ctor of [Float32Array, Float64Array]) {
      const a = new Ctor(1000);
      const b = new Ctor(1000);
      const c = new Ctor(1000);
      fillRandom(a, dist, 42n, 5, 0, 1);
      fillRandom(b, dist, 42n, 5, 0, 1);
      fillRandom(c, dist, 43n, 5, 0, 1);
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, c);
    }
  }
});

test('offset k gives the tail of offset 0', () => {
  for (const dist of ['uniform', 'normal'] as const) {
    for (const Ctor of [Float32Array, Float64Array]) {
      const full = new Ctor(600);
      fillRandom(full, dist, 0xdeadbeefcafef00dn, 0, -2, 3);
      for (const k of [1, 17, 256]) {
        const tail = new Ctor(600 - k);
        fillRandom(tail, dist, 0xdeadbeefcafef00dn, k, -2, 3);
        assert.deepEqual(tail, full.subarray(k));
      }
    }
  }
});

test('uniform values lie in [low, high) with the right mean', () => {
  for (const Ctor of [Float32Array, Float64Array]) {
    const out = new Ctor(100_000);
    fillRandom(out, 'uniform', 1234n, 0, -3, 5);
    let sum = 0;
    for (const v of out) {
      assert.ok(v >= -3 && v < 5, `out of range: ${v}`);
      sum += v;
    }
    assert.ok(Math.abs(sum / out.length - 1) < 0.05);
  }
});

test('normal samples have the requested mean and variance', () => {
  for (const Ctor of [Float32Array, Float64Array]) {
    const n = 100_000;
    const out = new Ctor(n);
    fillRandom(out, 'normal', 99n, 12345, 2, 3);
    let sum = 0;
    for (const v of out) { assert.ok(Number.isFinite(v)); sum += v; }
    const mean = sum / n;
    let ss = 0;
    for (const v of out) ss += (v - mean) ** 2;
    const variance = ss / (n - 1);
    // Standard errors: mean 3/sqrt(n) ~ 0.0095, variance 9*sqrt(2/n) ~ 0.04.
    assert.ok(Math.abs(mean - 2) < 0.05, `mean ${mean}`);
    assert.ok(Math.abs(variance - 9) < 0.2, `variance ${variance}`);
  }
});

test('float32 uniform never rounds up to high', () => {
  // With high - low = 2^-20 around 1 there are only 8 float32 steps, so about 1/16 of the
  // float64 values would round to high without the guard.
  const low = 1;
  const high = 1 + 2 ** -20;
  const below = 1 + 2 ** -20 - 2 ** -23;
  const out = new Float32Array(20_000);
  fillRandom(out, 'uniform', 7n, 0, low, high);
  let hitsBelow = 0;
  for (const v of out) {
    assert.ok(v >= low && v < high, `out of range: ${v}`);
    if (v === below) hitsBelow++;
  }
  assert.ok(hitsBelow > 0);
  // A high that float32 cannot represent still yields values strictly below it.
  const odd = new Float32Array(20_000);
  fillRandom(odd, 'uniform', 8n, 0, 0.1, 0.1 + 1e-8);
  for (const v of odd) assert.ok(v < 0.1 + 1e-8, `not below high: ${v}`);
});

test('rejects bad offsets and distributions', () => {
  const out = new Float32Array(4);
  assert.throws(() => fillRandom(out, 'uniform', 0n, -1, 0, 1), RangeError);
  assert.throws(() => fillRandom(out, 'uniform', 0n, 1.5, 0, 1), RangeError);
  assert.throws(() => fillRandom(out, 'bogus' as 'uniform', 0n, 0, 0, 1), RangeError);
});
