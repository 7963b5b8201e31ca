// float16 and bfloat16 bit patterns to and from numbers, rounding as PyTorch's c10::Half and
// c10::BFloat16 do (to nearest, ties to even; NaN to one quiet pattern). Storage of these dtypes
// holds the bits (Uint16Array); every kernel computes in float32.

import type { ReducedFloat } from './dtype.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The float16 bits nearest to `v` (first rounded to float32, as a double reaches c10::Half).
 * Overflow gives infinity; NaN gives sign | 0x7e00, as c10's fp16_ieee_from_fp32_value.
 */
export function floatToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 112; // the float16 exponent field: float32's bias 127, float16's 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // A float16 subnormal m * 2^-24: the 24-bit significand, shifted right by 14 - e.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (rem > halfway || (rem === halfway && (h & 1) !== 0) ? h + 1 : h);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa moves into the exponent, up to infinity: still the right rounding.
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0) ? h + 1 : h);
}

/** Every float16 value by bit pattern (256 KB, built once): decoding is one load. */
const halfValues = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  halfValues[h] = exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant ? NaN : sign * Infinity) : sign * (1024 + mant) * 2 ** (exp - 25);
}

/** The value of float16 bits `h`. */
export function halfBitsToFloat(h: number): number {
  return halfValues[h]!;
}

/** The bfloat16 bits nearest to `v` (via float32, as c10::BFloat16's round_to_nearest_even); NaN gives 0x7fc0. */
export function floatToBfloat16Bits(v: number): number {
  f32[0] = v;
  if (v !== v) return 0x7fc0;
  const x = u32[0]!;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of bfloat16 bits `b`: the top half of a float32. */
export function bfloat16BitsToFloat(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}


/** The value of one element's bits in `dtype` (a scalar read: item()). */
export function reducedBitsToFloat(bits: number, dtype: ReducedFloat): number {
  return dtype === 'float16' ? halfBitsToFloat(bits) : bfloat16BitsToFloat(bits);
}

/** Bits of `values` in `dtype`. */
export function toReducedBits(values: ArrayLike<number | bigint>, dtype: ReducedFloat): Uint16Array {
  const enc = dtype === 'float16' ? floatToHalfBits : floatToBfloat16Bits;
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = enc(Number(values[i]));
  return out;
}

/** The values of `bits` in `dtype`, exactly, as float32. */
export function fromReducedBits(bits: Uint16Array, dtype: ReducedFloat): Float32Array {
  const out = new Float32Array(bits.length);
  if (dtype === 'float16') {
    for (let i = 0; i < bits.length; i++) out[i] = halfValues[bits[i]!]!;
  } else {
    const o = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) o[i] = bits[i]! << 16;
  }
  return out;
}
