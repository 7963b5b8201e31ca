// Counter-based RNG shared bit for bit by every backend: Philox4x32-10 (Salmon et al., SC'11, Random123).
// Output is a pure function of (key, counter) with no hidden state, as in PyTorch's CUDA generator,
// so the C and CUDA backends reproduce these streams exactly from the same (seed, offset).

// Multipliers and Weyl key increments as published in Random123 (philox.h: PHILOX_M4x32_0/1, PHILOX_W32_0/1).
// The W constants are the golden ratio and sqrt(3) - 1 as 32-bit fractions.
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

// 16-bit halves of the multipliers, so each partial product is < 2^32 and exact in a double.
const M0_LO = M0 & 0xffff;
const M0_HI = M0 >>> 16;
const M1_LO = M1 & 0xffff;
const M1_HI = M1 >>> 16;

const TWO_POW_32 = 4294967296;
const TWO_POW_26 = 67108864;
const TWO_POW_M24 = 1 / 16777216;
const TWO_POW_M53 = 1 / 9007199254740992;
const TWO_PI = 2 * Math.PI;

/** High 32 bits of the 64-bit product a * (bHi * 2^16 + bLo), exact (Math.imul only gives the low half). */
function mulhi32(a: number, bLo: number, bHi: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  // Carry out of bits 16..31 of the product; at most 3 * 2^16, so no overflow.
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (aHi * bHi + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox4x32-10 block: 4 counter words and 2 key words in, 4 uint32 words out (written to out[0..3]). */
export function philox4x32(
  c0: number, c1: number, c2: number, c3: number,
  k0: number, k1: number,
  out: Uint32Array,
): void {
  c0 >>>= 0; c1 >>>= 0; c2 >>>= 0; c3 >>>= 0; k0 >>>= 0; k1 >>>= 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi32(c0, M0_LO, M0_HI);
    const lo0 = Math.imul(c0, M0) >>> 0;
    const hi1 = mulhi32(c2, M1_LO, M1_HI);
    const lo1 = Math.imul(c2, M1) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    // Key schedule: bump the key by the Weyl constants between rounds (the bump after round 10 is unused).
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** Distributions fillRandom can draw from. */
export type RandomDistribution = 'uniform' | 'normal';

// Reused per call instead of allocating per element; JS is single-threaded, so sharing is safe.
const scratch = new Uint32Array(4);
const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);
const f64View = new Float64Array(1);
const u64View = new BigUint64Array(f64View.buffer);

/** Largest float32 strictly below x (x finite). Used to keep float32 uniforms out of `high`. */
export function float32Below(x: number): number {
  f32View[0] = x;
  const f = f32View[0]!;
  if (f < x) return f;
  if (f === 0) return -Math.pow(2, -149); // below +0 and -0 is the smallest negative subnormal
  // Stepping the bit pattern moves one ulp away from zero for negatives, toward zero for positives.
  u32View[0] = f > 0 ? u32View[0]! - 1 : u32View[0]! + 1;
  return f32View[0]!;
}

/** Largest float64 strictly below x (x finite). Used to keep float64 uniforms out of `high`. */
export function float64Below(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  f64View[0] = x;
  u64View[0] = x > 0 ? u64View[0]! - 1n : u64View[0]! + 1n;
  return f64View[0]!;
}

/** 53-bit uniform in [0, 1) from two words, as in Random123's u01 and numpy's random_double. */
function u53(w0: number, w1: number): number {
  return ((w0 >>> 5) * TWO_POW_26 + (w1 >>> 6)) * TWO_POW_M53;
}

/** The counters offset .. offset + n - 1 must be non-negative safe integers. */
export function checkRandomRange(offset: number, n: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`fillRandom: offset must be a non-negative safe integer, got ${offset}`);
  }
  if (!Number.isSafeInteger(offset + n)) {
    throw new RangeError(`fillRandom: offset + length exceeds 2^53 (offset ${offset}, length ${n})`);
  }
}

// ln and cos for Box-Muller as fixed sequences of IEEE operations (+, -, *, / and sqrt round
// correctly in JS and in C alike), so that the native kernel gives these bits too: V8's Math.log
// and Math.cos (fdlibm) and the C library's differ in the last bit for a few percent of inputs.
// Both are within a few ulp of the true values.
const words = new Uint32Array(f64View.buffer); // f64View's two halves (no BigInt on this path)
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // the high word's index
const LN2_HI = 0.6931471803691238; // ln 2 to 32 bits (0x1.62e42feep-1): e * LN2_HI is exact
const LN2_LO = 1.9082149292705877e-10; // ln 2 - LN2_HI
/** 1 / (2k + 1), k = 0 .. 11: the series of atanh. */
const ATANH = [1, 0.3333333333333333, 0.2, 0.14285714285714285, 0.1111111111111111, 0.09090909090909091, 0.07692307692307693, 0.06666666666666667, 0.058823529411764705, 0.05263157894736842, 0.047619047619047616, 0.043478260869565216];
/** (-1)^k / (2k)! and (-1)^k / (2k + 1)!, k = 0 .. 9: cos and sin on [-pi/4, pi/4]. */
const COS = [1, -0.5, 0.041666666666666664, -0.001388888888888889, 2.48015873015873e-05, -2.755731922398589e-07, 2.08767569878681e-09, -1.1470745597729725e-11, 4.779477332387385e-14, -1.5619206968586225e-16];
const SIN = [1, -0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-06, -2.505210838544172e-08, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15, -8.22063524662433e-18];

/**
 * ln u for a normal u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)], then
 * ln m = 2 atanh(s), s = (m - 1) / (m + 1), as a polynomial in s^2 to 2^-60.
 */
export function logUnit(u: number): number {
  f64View[0] = u;
  const hi = words[HI]!;
  let e = ((hi >>> 20) & 0x7ff) - 1023;
  words[HI] = (hi & 0x000fffff) | 0x3ff00000;
  let m = f64View[0]!;
  if (m > 1.4142135623730951) {
    m = m * 0.5;
    e = e + 1;
  }
  const s = (m - 1) / (m + 1);
  const z = s * s;
  let p = ATANH[11]!;
  for (let k = 10; k >= 0; k--) p = p * z + ATANH[k]!;
  return e * LN2_HI + (e * LN2_LO + 2 * s * p);
}

/** cos(2 pi x) for x in [0, 1): the quarter turn q nearest x is exact, the rest r = x - q / 4 too. */
export function cosTurns(x: number): number {
  const q = Math.floor(4 * x + 0.5);
  const t = (x - q * 0.25) * TWO_PI;
  const z = t * t;
  if ((q & 1) === 0) {
    let c = COS[9]!;
    for (let k = 8; k >= 0; k--) c = c * z + COS[k]!;
    return (q & 2) === 0 ? c : -c;
  }
  let sn = SIN[9]!;
  for (let k = 8; k >= 0; k--) sn = sn * z + SIN[k]!;
  sn = t * sn;
  return (q & 2) === 0 ? -sn : sn;
}

/**
 * Fills `out` (a Float32Array or Float64Array, contiguous, n elements) with random numbers for a
 * generator state (seed: 64-bit as a bigint, offset: a non-negative integer counter base).
 * Element i uses the Philox block with counter (offset + i) split as c0 = low 32 bits, c1 = high bits, c2 = c3 = 0,
 * and key = (seed low 32 bits, seed high 32 bits).
 * uniform: value in [low, high): float32 uses 24 bits of word0: (w0 >>> 8) * 2^-24; float64 uses 53 bits from
 * word0 and word1: ((w0 >>> 5) * 2^26 + (w1 >>> 6)) * 2^-53; then low + u * (high - low) in float64. For float32
 * results the float64 value is rounded once to float32, and if that equals (or exceeds) high the largest float32
 * below high is used; float64 results get the same guard with the largest float64 below high.
 * normal: Box-Muller with u1 from word0/word1 (as the float64 uniform above but mapped to (0, 1] as 1 - u) and
 * u2 from word2/word3 (float64 uniform): mean + std * sqrt(-2 ln u1) * cos(2 pi u2), computed in float64 and
 * rounded once on store, with ln and cos from logUnit and cosTurns below (not Math.log / Math.cos: the C
 * kernels compute the same operations, so both give the same bits). One normal per element.
 * a, b = (low, high) for uniform; (mean, std) for normal. The seed is taken modulo 2^64.
 */
export function fillRandom(
  out: Float32Array | Float64Array,
  dist: RandomDistribution,
  seed: bigint,
  offset: number,
  a: number,
  b: number,
): void {
  const n = out.length;
  checkRandomRange(offset, n);
  const s = BigInt.asUintN(64, seed);
  const k0 = Number(s & 0xffffffffn);
  const k1 = Number(s >> 32n);
  // Counter (offset + i) kept as two words and carried by hand, so no per-element division.
  let c0 = offset % TWO_POW_32;
  let c1 = Math.floor(offset / TWO_POW_32);
  const w = scratch;
  const isF32 = out instanceof Float32Array;

  if (dist === 'uniform') {
    const low = a;
    const high = b;
    const span = high - low;
    if (isF32) {
      const cap = float32Below(high);
      for (let i = 0; i < n; i++) {
        philox4x32(c0, c1, 0, 0, k0, k1, w);
        if (++c0 === TWO_POW_32) { c0 = 0; c1++; }
        const v = Math.fround(low + (w[0]! >>> 8) * TWO_POW_M24 * span);
        out[i] = v >= high ? cap : v;
      }
    } else {
      const cap = float64Below(high);
      for (let i = 0; i < n; i++) {
        philox4x32(c0, c1, 0, 0, k0, k1, w);
        if (++c0 === TWO_POW_32) { c0 = 0; c1++; }
        const v = low + u53(w[0]!, w[1]!) * span;
        out[i] = v >= high ? cap : v;
      }
    }
  } else if (dist === 'normal') {
    const mean = a;
    const std = b;
    for (let i = 0; i < n; i++) {
      philox4x32(c0, c1, 0, 0, k0, k1, w);
      if (++c0 === TWO_POW_32) { c0 = 0; c1++; }
      // u1 in (0, 1] so log never sees 0.
      const u1 = 1 - u53(w[0]!, w[1]!);
      const u2 = u53(w[2]!, w[3]!);
      out[i] = mean + std * Math.sqrt(-2 * logUnit(u1)) * cosTurns(u2);
    }
  } else {
    throw new RangeError(`fillRandom: unknown distribution '${String(dist)}'`);
  }
}
