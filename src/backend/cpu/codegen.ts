// C source of the cpu backend's generated kernels: every elementwise op of the expression table
// (../../ops/elementwise.ts) for every dtype it takes, casts, fills, where, reductions, scans and
// gather/scatter. Loops are strided; contiguous ones are flat, vectorisable and split among
// OpenMP threads when large enough to pay for it.
import { isFloating, type DType } from '../../dtype.js';
import { unaryOps, binaryOps } from '../../ops/elementwise.js';
import { scalarMathC } from '../../ops/scalar_math.js';
import type { ReduceOpName, ScanOpName } from '../interface.js';

/** The C element type of each dtype. */
export const ctype: Record<DType, string> = {
  float16: 'uint16_t', bfloat16: 'uint16_t', float32: 'float', float64: 'double', int32: 'int32_t', int64: 'int64_t', uint8: 'uint8_t', bool: 'uint8_t',
};
/** Short dtype tags used in kernel names (`fm_u_exp_f32`). */
export const tag: Record<DType, string> = { float16: 'f16', bfloat16: 'bf16', float32: 'f32', float64: 'f64', int32: 'i32', int64: 'i64', uint8: 'u8', bool: 'b8' };
const allTypes: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];
const floatTypes: DType[] = ['float32', 'float64'];

/** Expression value (a double) to a `d` element, with the ts backend's conversions (JS typed-array stores). */
export function store(d: DType, v: string): string {
  switch (d) {
    case 'float32': return `(float)(${v})`;
    case 'float64': return `(double)(${v})`;
    case 'int32': return `fm_i32(${v})`;
    case 'int64': return `fm_i64(${v})`;
    case 'uint8': return `fm_u8(${v})`;
    case 'bool': return `(uint8_t)((${v}) != 0)`;
    case 'float16': return `fm_f2h((float)(${v}))`;
    case 'bfloat16': return `fm_f2bf((float)(${v}))`;
  }
}

/**
 * Vectorised libm: glibc's libmvec has SIMD versions of the math functions, which GCC calls from
 * the contiguous (omp simd) loops once they are declared so (as glibc's headers only do under
 * -ffast-math). exp of 1M floats went from 3.5 ms to a fraction of that. libmvec's functions are
 * accurate to 4 ulp (libm's scalar ones to 1): strided loops, which stay scalar, may differ in
 * the last bits of a float64 result. FIAMMA_CPU_LIBMVEC is defined by the build when it links
 * libmvec (glibc on x86-64); 2.35 added all but exp, log, sin, cos and pow.
 */
const simdFunctions22 = ['exp', 'log', 'sin', 'cos'];
const simdFunctions35 = ['acos', 'asin', 'atan', 'cosh', 'sinh', 'tan', 'tanh', 'erf', 'exp2', 'expm1', 'log10', 'log1p', 'log2'];
const declare = (names: string[]) => names.map((f) => `#pragma omp declare simd notinbranch\ndouble ${f}(double);`).join('\n');
const vectorMathDecls = `#if defined(FIAMMA_CPU_LIBMVEC) && defined(__GLIBC__) && defined(__x86_64__)
${declare(simdFunctions22)}
#pragma omp declare simd notinbranch
double pow(double, double);
#pragma omp declare simd notinbranch
float expf(float);
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)
${declare(simdFunctions35)}
#pragma omp declare simd notinbranch
double atan2(double, double);
#pragma omp declare simd notinbranch
float tanhf(float);
#endif
#endif`;

/**
 * float32 kernels computed in float lanes (16 per AVX-512 vector; the expressions are written in
 * double, which halves the lanes and adds two conversions per element). Exact: +, -, *, / and
 * sqrt of floats rounded once in float equal the double result rounded to float (53 >= 2 * 24 + 2
 * bits), and selects and comparisons are exact, so these are bit for bit the double expressions.
 * Within an ulp or two (libm's float functions, as PyTorch computes them): exp, sigmoid, silu, tanh.
 */
const float32Unary: Partial<Record<string, string>> = {
  exp: 'expf(x)', neg: '-x', abs: 'x < 0 ? -x : x', square: 'x * x', sqrt: 'sqrtf(x)', reciprocal: '1 / x',
  relu: 'x < 0 ? 0 : x', relu6: 'x <= 0 ? 0 : (x >= 6 ? 6 : x)',
  // sigmoid and silu: one exp of -|x| (never overflowing), either branch of the stable form from it.
  sigmoid: '(x >= 0 ? 1 : ex) / (1 + ex)', silu: 'x * (x >= 0 ? 1 : ex) / (1 + ex)', tanh: 'tanhf(x)',
};
const float32Binary = new Set(['add', 'sub', 'mul', 'div', 'thresholdBackward', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge']);

/**
 * float16 / bfloat16 bits to and from float, as src/half.ts (and c10::Half / c10::BFloat16) round:
 * to nearest, ties to even; NaN to one pattern. Plain integer code, so any C compiler builds it
 * and the results equal the ts backend's bit for bit. Over bit casts fm_f32_bits / fm_bits_f32 and
 * a qualifier FM_HD that each target (C here, CUDA in ../cuda/codegen.ts) defines.
 */
export const halfConversionsCore = `
FM_HD uint16_t fm_f2h(float f) {
  const uint32_t x = fm_f32_bits(f), sign = (x >> 16) & 0x8000, mant = x & 0x7fffff;
  const int32_t e = (int32_t)((x >> 23) & 0xff) - 112;
  if (e == 143) return (uint16_t)(sign | (mant ? 0x7e00 : 0x7c00));
  if (e >= 31) return (uint16_t)(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    const uint32_t m = mant | 0x800000, shift = (uint32_t)(14 - e), h = m >> shift, rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    return (uint16_t)(sign | (rem > halfway || (rem == halfway && (h & 1)) ? h + 1 : h));
  }
  const uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
  return (uint16_t)(sign | (rem > 0x1000 || (rem == 0x1000 && (h & 1)) ? h + 1 : h));
}
FM_HD float fm_h2f(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return mant ? fm_bits_f32(0x7fc00000) : fm_bits_f32(sign | 0x7f800000);
  if (exp == 0) { const float f = (float)mant * 5.9604644775390625e-8f; return sign ? -f : f; }
  return fm_bits_f32(sign | ((exp + 112) << 23) | ((uint32_t)mant << 13));
}
FM_HD uint16_t fm_f2bf(float f) {
  const uint32_t x = fm_f32_bits(f);
  return f != f ? 0x7fc0 : (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}
FM_HD float fm_bf2f(uint16_t b) { return fm_bits_f32((uint32_t)b << 16); }
`;
/** The conversions for the C kernels. */
const halfConversionsC = `
static inline uint32_t fm_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float fm_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
#define FM_HD static inline
${halfConversionsCore}`;

/**
 * Globals of the kernel library, defined in one compilation unit (compile.ts splits the source;
 * the others get onceDeclarations): the thread count, and the bytes an elementwise op must touch
 * before its contiguous output is written with non-temporal stores (see loop(); the backend sets
 * it to the last-level cache's size, and it is off until then).
 */
export const onceDefinitions = `int fm_threads = 1;
void fm_set_threads(int n) { fm_threads = n > 0 ? n : 1; }
int64_t fm_stream_min = INT64_MAX;
void fm_set_stream_min(int64_t bytes) { fm_stream_min = bytes > 0 ? bytes : INT64_MAX; }`;
export const onceDeclarations = 'extern int fm_threads;\nextern int64_t fm_stream_min;';

const prelude = `
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
${vectorMathDecls}
${scalarMathC}
${halfConversionsC}
${onceDefinitions}
#if defined(__x86_64__)
#include <immintrin.h>
#define FM_STREAM 1
/* Copies \`bytes\` (a multiple of 64) from src to 64-byte-aligned dst with non-temporal stores,
   which write memory without first reading each line into the caches. */
static inline void fm_stream_copy(void* dst, const void* src, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
#if defined(__AVX512F__)
    _mm512_stream_si512((__m512i*)((char*)dst + o), _mm512_loadu_si512((const char*)src + o));
#elif defined(__AVX__)
    _mm256_stream_si256((__m256i*)((char*)dst + o), _mm256_loadu_si256((const __m256i*)((const char*)src + o)));
    _mm256_stream_si256((__m256i*)((char*)dst + o + 32), _mm256_loadu_si256((const __m256i*)((const char*)src + o + 32)));
#else
    for (int q = 0; q < 64; q += 16) _mm_stream_si128((__m128i*)((char*)dst + o + q), _mm_loadu_si128((const __m128i*)((const char*)src + o + q)));
#endif
  }
}
#else
#define FM_STREAM 0
#endif
/* A contiguous float32 sum: blocks of 256 summed in two vectors of float lanes (8 values each,
   then the two added: 16 values a lane), each lane's sum then added into vectors of doubles. Faster than converting every value
   to a double (fewer conversions, twice the lanes), and only each lane's few float additions round
   in float. */
static double fm_sum_f32(const float* restrict x, int64_t n) {
  typedef float vf __attribute__((vector_size(64)));
  typedef double vd __attribute__((vector_size(64)));
  vd d0 = {0}, d1 = {0};
  int64_t i = 0;
  for (; i + 256 <= n; i += 256) {
    vf a = {0}, b = {0};
    for (int64_t j = 0; j < 256; j += 32) {
      vf u, v;
      memcpy(&u, x + i + j, sizeof u);
      memcpy(&v, x + i + j + 16, sizeof v);
      a += u;
      b += v;
    }
    a += b;
    for (int l = 0; l < 8; l++) { d0[l] += a[l]; d1[l] += a[8 + l]; }
  }
  d0 += d1;
  double acc = 0;
  for (int l = 0; l < 8; l++) acc += d0[l];
  for (; i < n; i++) acc += x[i];
  return acc;
}
/* Work below this many elements stays on one thread: waking threads costs microseconds. */
#define FM_PAR_MIN 65536
/* Runs CALL over [lo, hi) slices of [0, total): split among the threads when the work is large.
   NOTE: a parallel region costs about a microsecond even when its if() clause is false, so the
   small case is a plain branch. */
#define FM_PARALLEL(total, work, CALL) \\
  if ((work) >= FM_PAR_MIN && fm_threads > 1 && (total) > 1) { \\
    _Pragma("omp parallel num_threads(fm_threads)") { \\
      const int64_t nt_ = omp_get_num_threads(), t_ = omp_get_thread_num(); \\
      const int64_t lo = (total) * t_ / nt_, hi = (total) * (t_ + 1) / nt_; CALL; } \\
  } else { const int64_t lo = 0, hi = (total); CALL; }
/* JS typed-array stores: Int32Array and Uint8Array wrap modulo 2^32 / 2^8, NaN and Inf give 0. */
static inline int32_t fm_i32(double v) {
  if (v > -2147483649.0 && v < 2147483648.0) return (int32_t)v;
  if (!isfinite(v)) return 0;
  double t = fmod(trunc(v), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return (int32_t)(uint32_t)t;
}
static inline uint8_t fm_u8(double v) {
  if (v > -1.0 && v < 256.0) return (uint8_t)v;
  if (!isfinite(v)) return 0;
  double t = fmod(trunc(v), 256.0);
  if (t < 0) t += 256.0;
  return (uint8_t)t;
}
#define FM_SEL(SFX, T, U) static inline T fm_sel_##SFX(uint8_t c, T a, T b) { \\
  U ua, ub, m = (U)0 - (U)(c != 0); memcpy(&ua, &a, sizeof a); memcpy(&ub, &b, sizeof b); \\
  ua = (ua & m) | (ub & ~m); memcpy(&a, &ua, sizeof a); return a; }
FM_SEL(f32, float, uint32_t) FM_SEL(f64, double, uint64_t) FM_SEL(i32, int32_t, uint32_t)
FM_SEL(i64, int64_t, uint64_t) FM_SEL(u8, uint8_t, uint8_t) FM_SEL(b8, uint8_t, uint8_t)
/* An odometer over nd (<= 16) dims of shape sh carrying three offsets (strides s0, s1, s2):
   started at flat position e by division once, then stepped by additions. */
#define FM_ODO_START(nd, sh, e, s0, s1, s2, o0, o1, o2, idx) { int64_t rem_ = (e); o0 = o1 = o2 = 0; \\
  for (int d_ = (nd) - 1; d_ >= 0; d_--) { idx[d_] = rem_ % (sh)[d_]; rem_ /= (sh)[d_]; \\
    o0 += idx[d_] * (s0)[d_]; o1 += idx[d_] * (s1)[d_]; o2 += idx[d_] * (s2)[d_]; } }
#define FM_ODO_NEXT(nd, sh, s0, s1, s2, o0, o1, o2, idx) for (int d_ = (nd) - 1; d_ >= 0; d_--) { \\
  o0 += (s0)[d_]; o1 += (s1)[d_]; o2 += (s2)[d_]; if (++idx[d_] < (sh)[d_]) break; idx[d_] = 0; \\
  o0 -= (int64_t)(s0)[d_] * (sh)[d_]; o1 -= (int64_t)(s1)[d_] * (sh)[d_]; o2 -= (int64_t)(s2)[d_] * (sh)[d_]; }
/* One Philox4x32-10 block (Random123's multipliers and Weyl key steps), as ts/philox.ts computes it. */
static inline void fm_philox(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; r++) {
    const uint64_t p0 = (uint64_t)c[0] * 0xD2511F53u, p1 = (uint64_t)c[2] * 0xCD9E8D57u;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0; c[1] = (uint32_t)p1; c[2] = n2; c[3] = (uint32_t)p0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
}
/* ln u (u normal, in (0, 1]) and cos(2 pi x) (x in [0, 1)) as ts/philox.ts's logUnit and cosTurns
   compute them, operation for operation, with no multiply-add contracted (GCC's attribute,
   clang's pragma). */
__attribute__((optimize("fp-contract=off")))
static inline double fm_log_unit(double u) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  static const double A[12] = {1, 0.3333333333333333, 0.2, 0.14285714285714285, 0.1111111111111111, 0.09090909090909091, 0.07692307692307693, 0.06666666666666667, 0.058823529411764705, 0.05263157894736842, 0.047619047619047616, 0.043478260869565216};
  uint64_t b;
  memcpy(&b, &u, sizeof b);
  int64_t e = (int64_t)((b >> 52) & 0x7ff) - 1023;
  b = (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  double m;
  memcpy(&m, &b, sizeof m);
  if (m > 1.4142135623730951) { m = m * 0.5; e = e + 1; }
  const double s = (m - 1) / (m + 1), z = s * s;
  double p = A[11];
  for (int k = 10; k >= 0; k--) p = p * z + A[k];
  return (double)e * 0.6931471803691238 + ((double)e * 1.9082149292705877e-10 + 2 * s * p);
}
__attribute__((optimize("fp-contract=off")))
static inline double fm_cos_turns(double x) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  static const double C[10] = {1, -0.5, 0.041666666666666664, -0.001388888888888889, 2.48015873015873e-05, -2.755731922398589e-07, 2.08767569878681e-09, -1.1470745597729725e-11, 4.779477332387385e-14, -1.5619206968586225e-16};
  static const double S[10] = {1, -0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-06, -2.505210838544172e-08, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15, -8.22063524662433e-18};
  const double qd = floor(4 * x + 0.5);
  const int64_t q = (int64_t)qd;
  const double t = (x - qd * 0.25) * 6.283185307179586, z = t * t;
  if ((q & 1) == 0) {
    double c = C[9];
    for (int k = 8; k >= 0; k--) c = c * z + C[k];
    return (q & 2) == 0 ? c : -c;
  }
  double sn = S[9];
  for (int k = 8; k >= 0; k--) sn = sn * z + S[k];
  sn = t * sn;
  return (q & 2) == 0 ? -sn : sn;
}
/* Row sums in the element type over contiguous x with 256 bytes of partial sums (four AVX-512
   vectors): a single vector accumulator made each row's sum a chain of dependent adds, 4 cycles
   each (layer norm's rows of 384 floats). fm_rowsum: sum x; fm_rowdev2: sum (x - mu)^2. */
#define FM_FOLD(acc, W) for (int l = 0; l < (W); l++) acc[l] += acc[l + (W)];
#define FM_ROWSUMS(T, SFX) \\
static inline T fm_lanesum_##SFX(T* acc) { \\
  enum { A = 256 / sizeof(T) }; /* halves folded with constant bounds: each fold is vector adds */ \\
  FM_FOLD(acc, A / 2) FM_FOLD(acc, A / 4) FM_FOLD(acc, A / 8) FM_FOLD(acc, A / 16) FM_FOLD(acc, A / 32) FM_FOLD(acc, A / 64) \\
  return acc[0]; } \\
static inline T fm_rowsum_##SFX(const T* restrict x, int64_t n) { \\
  enum { A = 256 / sizeof(T) }; T acc[A] = {0}; T s = 0; int64_t j = 0; \\
  for (; j + A <= n; j += A) { _Pragma("omp simd") for (int l = 0; l < A; l++) acc[l] += x[j + l]; } \\
  _Pragma("omp simd reduction(+:s)") for (int64_t q = j; q < n; q++) s += x[q]; \\
  return s + fm_lanesum_##SFX(acc); } \\
static inline T fm_rowdev2_##SFX(const T* restrict x, int64_t n, T mu) { \\
  enum { A = 256 / sizeof(T) }; T acc[A] = {0}; T s = 0; int64_t j = 0; \\
  for (; j + A <= n; j += A) { _Pragma("omp simd") for (int l = 0; l < A; l++) { const T e = x[j + l] - mu; acc[l] += e * e; } } \\
  _Pragma("omp simd reduction(+:s)") for (int64_t q = j; q < n; q++) { const T e = x[q] - mu; s += e * e; } \\
  return s + fm_lanesum_##SFX(acc); }
FM_ROWSUMS(float, f32)
FM_ROWSUMS(double, f64)
/* Short rows (a classifier's 10 classes) in vector lanes: per row, a max and a sum of exp took
   about 100 ns, the vector exp covering a fraction of a row and the rest scalar calls. Here R <= 8
   rows of a contiguous [*, c] x (rows xs0 apart) sit in 8 double lanes, so each column is one
   vector exp: e[j * 8 + l] = exp(x[l, j] - m[l]) and s[l] its row's sum, with m[l] the row's max
   (NaN if any element is; an infinite max counts as 0, as the composite). Lanes past R read
   zeros; their sums are not used. */
#define FM_LANE_ROWS 8
#define FM_SHORT_ROW 32
#define FM_ROWS_LSE(T, SFX) \\
static void fm_rows_lse_##SFX(const T* restrict x, int64_t xs0, int64_t c, int R, double* restrict e, double* restrict m, double* restrict s) { \\
  int nan_[FM_LANE_ROWS]; \\
  for (int l = 0; l < FM_LANE_ROWS; l++) { m[l] = -INFINITY; nan_[l] = 0; s[l] = 0; } \\
  for (int64_t j = 0; j < c; j++) for (int l = 0; l < FM_LANE_ROWS; l++) e[j * FM_LANE_ROWS + l] = l < R ? (double)x[l * xs0 + j] : 0; \\
  for (int64_t j = 0; j < c; j++) { \\
    _Pragma("omp simd") for (int l = 0; l < FM_LANE_ROWS; l++) { const double v = e[j * FM_LANE_ROWS + l]; m[l] = v > m[l] ? v : m[l]; nan_[l] |= v != v; } } \\
  for (int l = 0; l < FM_LANE_ROWS; l++) m[l] = nan_[l] ? NAN : isinf(m[l]) ? 0 : m[l]; \\
  for (int64_t j = 0; j < c; j++) { \\
    _Pragma("omp simd") for (int l = 0; l < FM_LANE_ROWS; l++) { const double v = exp(e[j * FM_LANE_ROWS + l] - m[l]); e[j * FM_LANE_ROWS + l] = v; s[l] += v; } } \\
}
FM_ROWS_LSE(float, f32)
FM_ROWS_LSE(double, f64)
static inline int64_t fm_i64(double v) {
  return (isfinite(v) && fabs(v) < 9223372036854775808.0) ? (int64_t)v : INT64_MIN;
}
`;

/**
 * A strided loop over k operands. meta = [nd, shape[nd], strides of operand 0[nd], ...]; pointers
 * already moved to their offsets. \`body\` writes the output only as P0[i0] and reads inputs as
 * P1[i1], ...; it uses i0 for nothing else (the streamed path points P0 at a buffer and i0 into it).
 */
function loop(types: readonly DType[], body: string): string {
  const k = types.length;
  const ks = [...Array(k).keys()];
  const out = ctype[types[0]!];
  const bytes = types.map((d) => `sizeof(${ctype[d]})`).join(' + ');
  const strides = ks.map((i) => `const int32_t* s${i} = meta + 1 + ${i + 1} * nd;`).join(' ');
  return `
  const int nd = meta[0];
  const int32_t* sh = meta + 1;
  ${strides}
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= sh[d];
  if (n == 0) return;
  if (nd == 0 || (nd == 1 && ${ks.map((i) => `s${i}[0] == 1`).join(' && ')})) {
#if FM_STREAM
    if (n * (int64_t)(${bytes}) >= fm_stream_min${ks.slice(1).map((i) => ` && (const void*)P0 != (const void*)P${i}`).join('')}) {
      /* The op's operands together overflow the last-level cache (so the output would not stay
         cached for the next op either), and the output is not also an input (in place, its lines
         were just read: nothing to save, and streaming would evict them): each thread computes blocks of its slice
         into a buffer in L1, then streams them to the output with non-temporal stores, which
         skip reading the output's lines first (add of 4M floats on 2 threads here, in C: 1.06-1.25
         -> 0.79-0.82 ms; below the cache's size plain stores were faster, 8 MB of output by
         10-18%). Blocks of 512 bytes keep loads and stores interleaved (4 KiB ones: 0.81-0.93 ms). */
      #define FM_STREAMED { enum { SB = 512 / sizeof(${out}) }; ${out} sbuf[SB] __attribute__((aligned(64))); int64_t j = lo; \\
        for (; j < hi && ((uintptr_t)(P0 + j) & 63); j++) { ${ks.map((i) => `const int64_t i${i} = j;`).join(' ')} ${body} } \\
        for (; j + SB <= hi; j += SB) { \\
          { ${out}* const P0 = sbuf; \\
            _Pragma("omp simd") for (int64_t jj = 0; jj < SB; jj++) { const int64_t i0 = jj; ${ks.slice(1).map((i) => `const int64_t i${i} = j + jj;`).join(' ')} ${body} } } \\
          fm_stream_copy(P0 + j, sbuf, sizeof sbuf); } \\
        _mm_sfence(); \\
        for (; j < hi; j++) { ${ks.map((i) => `const int64_t i${i} = j;`).join(' ')} ${body} } }
      FM_PARALLEL(n, n, FM_STREAMED)
      #undef FM_STREAMED
      return;
    }
#endif
    /* NOTE: a parallel region costs about a microsecond even when its if() is false: branch instead. */
    if (n >= FM_PAR_MIN && fm_threads > 1) {
      #pragma omp parallel for simd num_threads(fm_threads) schedule(static)
      for (int64_t j = 0; j < n; j++) { ${ks.map((i) => `const int64_t i${i} = j;`).join(' ')} ${body} }
    } else {
      #pragma omp simd
      for (int64_t j = 0; j < n; j++) { ${ks.map((i) => `const int64_t i${i} = j;`).join(' ')} ${body} }
    }
    return;
  }
  const int64_t inner = sh[nd - 1];
  ${ks.map((i) => `const int64_t t${i} = s${i}[nd - 1];`).join(' ')}
  /* Threads take equal slices of the elements (not of the rows: there may be one long row); the
     row start offsets follow an odometer over the outer dims, set up by division once. */
  #define FM_ELEMS int64_t oidx[16]${ks.map((i) => `, b${i} = 0`).join('')}; { int64_t rem = lo / inner; \\
      for (int d = nd - 2; d >= 0; d--) { oidx[d] = rem % sh[d]; rem /= sh[d]; ${ks.map((i) => `b${i} += oidx[d] * s${i}[d];`).join(' ')} } } \\
    for (int64_t e = lo, j0 = lo % inner; e < hi; j0 = 0) { \\
    const int64_t j1 = inner - j0 < hi - e ? inner : j0 + (hi - e); \\
    ${innerVariants(k, body)} \\
    e += j1 - j0; \\
    for (int d = nd - 2; d >= 0; d--) { ${ks.map((i) => `b${i} += s${i}[d];`).join(' ')} if (++oidx[d] < sh[d]) break; oidx[d] = 0; ${ks.map((i) => `b${i} -= (int64_t)s${i}[d] * sh[d];`).join(' ')} } }
  FM_PARALLEL(n, n, FM_ELEMS)
  #undef FM_ELEMS`;
}

/**
 * The inner loop of a strided row, versioned on the inner strides: with the output contiguous and
 * each input contiguous or broadcast (stride 0), the strides are constants the compiler vectorises
 * (bias adds and masks over a view are of this kind); otherwise the general strided loop.
 */
function innerVariants(k: number, body: string): string {
  const general = `for (int64_t j = j0; j < j1; j++) { ${[...Array(k).keys()].map((i) => `const int64_t i${i} = b${i} + j * t${i};`).join(' ')} ${body} }`;
  if (k === 1) return general;
  const variants: string[] = [];
  for (let mask = 0; mask < 1 << (k - 1); mask++) {
    const st = [1, ...[...Array(k - 1).keys()].map((i) => (mask >> i) & 1)];
    const cond = st.map((v, i) => `t${i} == ${v}`).join(' && ');
    const idx = st.map((v, i) => `const int64_t i${i} = ${v ? `b${i} + j` : `b${i}`};`).join(' ');
    variants.push(`if (${cond}) { for (int64_t j = j0; j < j1; j++) { ${idx} ${body} } }`);
  }
  return `${variants.join(' else ')} else { ${general} }`;
}

/** Kernel parameters; the output is not restrict: in-place ops pass it as an input too (same elements). */
function params(k: number, types: readonly DType[]): string {
  return types.map((d, i) => (i === 0 ? `${ctype[d]}* P0` : `const ${ctype[d]}* P${i}`)).slice(0, k).join(', ');
}

function kernel(name: string, types: readonly DType[], body: string, extra = ''): string {
  return `void ${name}(const int32_t* meta, ${params(types.length, types)}${extra}) {${loop(types, body)}\n}\n`;
}

const load = (i: number) => `(double)P${i}[i${i}]`;

function unaryKernels(): string[] {
  const out: string[] = [];
  for (const [op, def] of Object.entries(unaryOps)) {
    for (const d of def.dtype === 'float' ? floatTypes : allTypes) {
      const o = def.dtype === 'bool' ? 'bool' : d;
      // float32Unary's ops in float lanes: twice the lanes of the double version.
      const f32 = d === 'float32' ? float32Unary[op] : undefined;
      const pre = op === 'sigmoid' || op === 'silu' ? ' const float ex = expf(-fabsf(x));' : '';
      const body = f32 !== undefined ? `const float x = P1[i1];${pre} P0[i0] = ${f32};` : `const double x = ${load(1)}; P0[i0] = ${store(o, def.expr)};`;
      out.push(kernel(`fm_u_${op}_${tag[d]}`, [o, d], body, ', const double* restrict p')
        .replace('{\n  const int nd', '{\n  const double p0 = p[0], p1 = p[1], p2 = p[2]; (void)p0; (void)p1; (void)p2;\n  const int nd'));
    }
  }
  return out;
}

function binaryKernels(): string[] {
  const out: string[] = [];
  for (const [op, def] of Object.entries(binaryOps)) {
    for (const d of def.dtype === 'float' ? floatTypes : allTypes) {
      const o = def.dtype === 'bool' ? 'bool' : d;
      const body = d === 'float32' && float32Binary.has(op)
        ? `const float x = P1[i1], y = P2[i2]; P0[i0] = ${o === 'bool' ? store(o, def.expr) : def.expr};`
        : `const double x = ${load(1)}, y = ${load(2)}; P0[i0] = ${store(o, def.expr)};`;
      out.push(kernel(`fm_b_${op}_${tag[d]}`, [o, d, d], body));
    }
  }
  return out;
}

function copyKernels(): string[] {
  const out: string[] = [];
  for (const o of allTypes) {
    for (const i of allTypes) {
      // Same type: a plain element copy (int64 keeps all its bits).
      const body = o === i || (o === 'bool' && i === 'bool') ? 'P0[i0] = P1[i1];' : `P0[i0] = ${store(o, load(1))};`;
      out.push(kernel(`fm_copy_${tag[o]}_${tag[i]}`, [o, i], body));
    }
    out.push(kernel(`fm_fill_${tag[o]}`, [o], `P0[i0] = ${store(o, 'v')};`, ', double v'));
    out.push(accumulateKernel(o));
    // A bitwise select: a data-dependent branch would mispredict half the time on random masks,
    // and compilers branch on float selects in strided (non-vectorised) loops.
    out.push(kernel(`fm_where_${tag[o]}`, [o, 'bool', o, o], `P0[i0] = fm_sel_${tag[o]}(P1[i1], P2[i2], P3[i3]);`));
  }
  // float16 / bfloat16 to and from float32 and themselves; other pairs go through float32
  // (backend/reduced_float.ts).
  for (const [h, widen] of [['float16', 'fm_h2f'], ['bfloat16', 'fm_bf2f']] as const) {
    out.push(kernel(`fm_copy_${tag[h]}_${tag[h]}`, [h, h], 'P0[i0] = P1[i1];'));
    out.push(kernel(`fm_copy_f32_${tag[h]}`, ['float32', h], `P0[i0] = ${widen}(P1[i1]);`));
    out.push(kernel(`fm_copy_${tag[h]}_f32`, [h, 'float32'], `P0[i0] = ${store(h, 'P1[i1]')};`));
  }
  return out;
}

/**
 * out[i] += src[i] over two views of one shape, in order on one thread: the output is a window
 * view whose elements may repeat (col2im sums overlapping windows), so no two threads may share it.
 * Rows of the last dim run as plain loops (vectorised when both are contiguous there): within a
 * row the output elements are distinct, or all one element (stride 0) summed in order.
 */
function accumulateKernel(d: DType): string {
  const t = ctype[d];
  const add = (o: string, x: string) => (d === 'bool' ? `P0[${o}] = P0[${o}] | P1[${x}];` : `P0[${o}] += P1[${x}];`);
  // With disjoint set, the slices along dim 0 write disjoint elements and run on separate threads.
  return `void fm_accumulate_${tag[d]}(const int32_t* meta, ${t}* P0, const ${t}* restrict P1, int disjoint) {
  const int nd = meta[0];
  const int32_t *sh = meta + 1, *s0 = sh + nd, *s1 = s0 + nd;
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= sh[d];
  if (n == 0) return;
  const int64_t inner = sh[nd - 1], t0 = s0[nd - 1], t1 = s1[nd - 1];
  if (nd == 1) {
    for (int64_t j = 0; j < inner; j++) { ${add('j * t0', 'j * t1')} }
    return;
  }
  const int64_t rows = n / inner, per = rows / sh[0];
  #define FM_ROWS int64_t idx[16], o, x, unused_; FM_ODO_START(nd - 1, sh, lo * per, s0, s1, s0, o, x, unused_, idx) \
    for (int64_t r = lo * per; r < hi * per; r++) { \
      if (t0 == 1 && t1 == 1) { for (int64_t j = 0; j < inner; j++) { ${add('o + j', 'x + j')} } } \
      else { for (int64_t j = 0; j < inner; j++) { ${add('o + j * t0', 'x + j * t1')} } } \
      FM_ODO_NEXT(nd - 1, sh, s0, s1, s0, o, x, unused_, idx) }
  if (disjoint) { FM_PARALLEL(sh[0], n, FM_ROWS) } else { const int64_t lo = 0, hi = sh[0]; FM_ROWS }
  #undef FM_ROWS
}
`;
}

// Reductions: accumulator init, the update for value v at reduced position r, and the result.
// NOTE: the steps are branch-free (bitwise selects): on random data a compare-and-branch
// mispredicts about half the time, which cost 3x on small windows (max pooling).
const reducers: Record<ReduceOpName, { init: string; step: string; result: string }> = {
  sum: { init: 'double acc = 0;', step: 'acc += v;', result: 'acc' },
  prod: { init: 'double acc = 1;', step: 'acc *= v;', result: 'acc' },
  // Once acc is NaN no comparison replaces it, so NaN propagates as in PyTorch.
  max: { init: 'double acc = -INFINITY;', step: 'acc = fm_sel_f64((v > acc) | (v != v), v, acc);', result: 'acc' },
  min: { init: 'double acc = INFINITY;', step: 'acc = fm_sel_f64((v < acc) | (v != v), v, acc);', result: 'acc' },
  // The first maximum wins; NaN counts as the maximum (PyTorch).
  argmax: { init: 'double acc = -INFINITY; int64_t arg = 0;', step: '{ const int c = ((v > acc) | (v != v)) & (acc == acc); acc = fm_sel_f64(c, v, acc); arg = c ? r : arg; }', result: 'arg' },
  argmin: { init: 'double acc = INFINITY; int64_t arg = 0;', step: '{ const int c = ((v < acc) | (v != v)) & (acc == acc); acc = fm_sel_f64(c, v, acc); arg = c ? r : arg; }', result: 'arg' },
  all: { init: 'double acc = 1;', step: 'acc = fm_sel_f64(v == 0, 0, acc);', result: 'acc' },
  any: { init: 'double acc = 0;', step: 'acc = fm_sel_f64(v != 0, 1, acc);', result: 'acc' },
};

/** The dtype each reduction writes for input dtype d (as the registry's rules). */
export function reduceOutType(op: ReduceOpName, d: DType): DType {
  if (op === 'argmax' || op === 'argmin') return 'int64';
  if (op === 'all' || op === 'any') return 'bool';
  if (op === 'sum' || op === 'prod') return isFloating(d) ? d : 'int64';
  return d;
}

/**
 * meta = [nk, kept shape, kept x strides, kept out strides, nr, reduced shape, reduced x strides].
 * Each output reduces its block sequentially (the same order as the ts backend); many outputs are
 * split among threads.
 */
function reduceKernels(): string[] {
  const out: string[] = [];
  for (const [op, r0] of Object.entries(reducers) as [ReduceOpName, (typeof reducers)[ReduceOpName]][]) {
    for (const d of allTypes) {
      const o = reduceOutType(op, d);
      // Integer sums and products accumulate exactly in 64-bit two's complement (as PyTorch's):
      // unsigned arithmetic wraps where signed overflow would be undefined.
      const exact = (op === 'sum' || op === 'prod') && o === 'int64';
      const r = exact ? { init: `uint64_t acc = ${op === 'sum' ? 0 : 1};`, step: `acc ${op === 'sum' ? '+=' : '*='} (uint64_t)(int64_t)v;`, result: '(int64_t)acc' } : r0;
      // Contiguous sums may reassociate (as PyTorch's vectorised sums do): simd partial sums.
      // Contiguous max/min vectorise too, with NaN tracked apart (OpenMP's max ignores it).
      const simdExtreme = (cmp: string, red: string) =>
        `if (st == 1) { double m_ = acc; int nan_ = 0; _Pragma("omp simd reduction(${red}:m_) reduction(|:nan_)") for (int64_t r = 0; r < nred; r++) { const double v = (double)P1[xb + r]; m_ = v ${cmp} m_ ? v : m_; nan_ |= v != v; } acc = nan_ ? NAN : m_; } else `;
      const flat = op === 'sum' && !exact
        ? (d === 'float32' ? 'if (st == 1) acc += fm_sum_f32(P1 + xb, nred); else ' : 'if (st == 1) { _Pragma("omp simd reduction(+:acc)") for (int64_t r = 0; r < nred; r++) acc += (double)P1[xb + r]; } else ')
        : op === 'max' ? simdExtreme('>', 'max') : op === 'min' ? simdExtreme('<', 'min') : '';
      const load = exact ? (at: string) => `const ${ctype[d]} v = P1[${at}];` : (at: string) => `const double v = (double)P1[${at}];`;
      out.push(`void fm_r_${op}_${tag[d]}(const int32_t* meta, ${ctype[o]}* restrict P0, const ${ctype[d]}* restrict P1) {
  const int nk = meta[0];
  const int32_t *ksh = meta + 1, *kxs = ksh + nk, *kos = kxs + nk;
  const int nr = meta[1 + 3 * nk];
  const int32_t *rsh = meta + 2 + 3 * nk, *rxs = rsh + nr;
  int64_t nout = 1, nred = 1;
  for (int d = 0; d < nk; d++) nout *= ksh[d];
  for (int d = 0; d < nr; d++) nred *= rsh[d];
  #define FM_OUTPUTS int64_t kidx[16], xb, ob, unused_; FM_ODO_START(nk, ksh, lo, kxs, kos, kxs, xb, ob, unused_, kidx) \
  for (int64_t e = lo; e < hi; e++) { \
    ${r.init} \
    if (nr <= 1) { \
      const int64_t st = nr == 1 ? rxs[0] : 0; \
      ${flat}for (int64_t r = 0; r < nred; r++) { ${load('xb + r * st')} ${r.step} } \
    } else ${op === 'sum' && !exact ? `if (rxs[nr - 1] == 1) { \
      /* Reduced dims whose last is contiguous (a channel's sum over [N, C, H, W] -> [C]): simd partial \
         sums of each contiguous run, added in order (a sum may reassociate, as the flat case does). */ \
      const int64_t run = rsh[nr - 1]; int64_t idx[16] = {0}, xo = xb; \
      for (int64_t r = 0; r < nred; r += run) { \
        ${d === 'float32' ? 'acc += fm_sum_f32(P1 + xo, run); \\' : `double part = 0; \\
        _Pragma("omp simd reduction(+:part)") for (int64_t j = 0; j < run; j++) part += (double)P1[xo + j]; \\
        acc += part; \\`}
        for (int d = nr - 2; d >= 0; d--) { xo += rxs[d]; if (++idx[d] < rsh[d]) break; idx[d] = 0; xo -= (int64_t)rxs[d] * rsh[d]; } \
      } \
    } else ` : ''}{ \
      int64_t idx[16] = {0}, xo = xb; \
      for (int64_t r = 0; r < nred; r++) { \
        ${load('xo')} ${r.step} \
        for (int d = nr - 1; d >= 0; d--) { xo += rxs[d]; if (++idx[d] < rsh[d]) break; idx[d] = 0; xo -= (int64_t)rxs[d] * rsh[d]; } \
      } \
    } \
    P0[ob] = ${exact ? r.result : store(o, r.result)}; \
    FM_ODO_NEXT(nk, ksh, kxs, kos, kxs, xb, ob, unused_, kidx) }
  ${op === 'sum' && !exact ? `/* A sum over other dims than the last, kept last dim contiguous (a bias gradient, [N, C] -> [C]):
     neighbouring outputs accumulate in vector lanes, each still adding its values in order, so
     the results are those of the loop below, bit for bit. */
  if (nr == 1 && nk >= 1 && kxs[nk - 1] == 1 && kos[nk - 1] == 1 && rxs[0] != 1) {
    const int64_t inner = ksh[nk - 1], nouter = nout / inner, st = rxs[0];
    #define FM_BLOCKS int64_t kidx[16], xb, ob, unused_; FM_ODO_START(nk - 1, ksh, lo, kxs, kos, kxs, xb, ob, unused_, kidx) \\
    for (int64_t e = lo; e < hi; e++) { \\
      for (int64_t i0 = 0; i0 < inner; i0 += 256) { \\
        const int64_t w = inner - i0 < 256 ? inner - i0 : 256; \\
        double acc[256]; \\
        for (int64_t i = 0; i < w; i++) acc[i] = 0; \\
        for (int64_t r = 0; r < nred; r++) { const ${ctype[d]}* row = P1 + xb + i0 + r * st; _Pragma("omp simd") for (int64_t i = 0; i < w; i++) acc[i] += (double)row[i]; } \\
        for (int64_t i = 0; i < w; i++) P0[ob + i0 + i] = ${store(o, 'acc[i]')}; \\
      } \\
      FM_ODO_NEXT(nk - 1, ksh, kxs, kos, kxs, xb, ob, unused_, kidx) }
    FM_PARALLEL(nouter, nout * nred, FM_BLOCKS)
    #undef FM_BLOCKS
    return;
  }
  /* One long contiguous sum: its halves go to separate threads (the order of a sum is free). */
  if (nout == 1 && nr == 1 && rxs[0] == 1 && nred >= FM_PAR_MIN && fm_threads > 1) {
    ${d === 'float32' ? `/* Each thread a slice; the slices' sums added in thread order. */
    double parts[256];
    const int nt = fm_threads < 256 ? fm_threads : 256;
    int used = 1;
    _Pragma("omp parallel num_threads(nt)")
    {
      const int64_t k = omp_get_num_threads(), t = omp_get_thread_num();
      parts[t] = fm_sum_f32(P1 + nred * t / k, nred * (t + 1) / k - nred * t / k);
      if (t == 0) used = (int)k;
    }
    double acc = 0;
    for (int t = 0; t < used; t++) acc += parts[t];` : `double acc = 0;
    _Pragma("omp parallel for simd num_threads(fm_threads) reduction(+:acc) schedule(static)")
    for (int64_t r = 0; r < nred; r++) acc += (double)P1[r];`}
    P0[0] = ${store(o, 'acc')};
    return;
  }` : ''}
  FM_PARALLEL(nout, nout * nred, FM_OUTPUTS)
  #undef FM_OUTPUTS
}
`);
    }
  }
  return out;
}

/**
 * Fused softmax / log-softmax (the ts backend's softmax.ts is the reference): per slice along the
 * dim, the max, the sum of exp(x - max) in doubles, then the outputs; contiguous slices run as
 * simd loops (vectorised exp through libmvec). Same meta as the scans.
 */
function softmaxKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    return `/* Rows [lo, hi) of n <= FM_SHORT_ROW contiguous elements (rows rx apart; outputs ro apart), 8 at a time in lanes. */
static void fm_softmax_short_rows_${tag[d]}(int64_t lo, int64_t hi, int64_t n, const ${t}* restrict x, int64_t rx, ${t}* restrict y, int64_t ro, int log_) {
  double e[FM_LANE_ROWS * FM_SHORT_ROW], m[FM_LANE_ROWS], s[FM_LANE_ROWS];
  for (int64_t i = lo; i < hi; i += FM_LANE_ROWS) {
    const int R = hi - i < FM_LANE_ROWS ? (int)(hi - i) : FM_LANE_ROWS;
    fm_rows_lse_${tag[d]}(x + i * rx, rx, n, R, e, m, s);
    if (log_) {
      double shift[FM_LANE_ROWS];
      _Pragma("omp simd") for (int l = 0; l < FM_LANE_ROWS; l++) shift[l] = m[l] + log(s[l]);
      for (int l = 0; l < R; l++) for (int64_t j = 0; j < n; j++) y[(i + l) * ro + j] = (${t})((double)x[(i + l) * rx + j] - shift[l]);
    } else
      for (int l = 0; l < R; l++) for (int64_t j = 0; j < n; j++) y[(i + l) * ro + j] = (${t})(e[j * FM_LANE_ROWS + l] / s[l]);
  }
}
void fm_softmax_${tag[d]}(const int32_t* meta, ${t}* restrict P0, const ${t}* restrict P1, int64_t n, int64_t xs, int64_t os, int log_) {
  const int nk = meta[0];
  const int32_t *ksh = meta + 1, *kxs = ksh + nk, *kos = kxs + nk;
  int64_t nout = 1;
  for (int d = 0; d < nk; d++) nout *= ksh[d];
  if (nk >= 1 && kxs[nk - 1] == 1 && kos[nk - 1] == 1 && xs != 1) {
    /* A dim other than the last: neighbouring slices lie side by side, so blocks of them run in
       vector lanes (reading rows of x contiguously) rather than one strided slice at a time. */
    const int64_t inner = ksh[nk - 1], nouter = nout / inner;
    #define FM_BLOCKS int64_t kidx[16], xb, ob, unused_; FM_ODO_START(nk - 1, ksh, lo, kxs, kos, kxs, xb, ob, unused_, kidx) \\
    for (int64_t e = lo; e < hi; e++) { \\
      for (int64_t i0 = 0; i0 < inner; i0 += 256) { \\
        const int64_t w = inner - i0 < 256 ? inner - i0 : 256; \\
        const ${t}* x = P1 + xb + i0; ${t}* y = P0 + ob + i0; \\
        double m[256], s[256]; int nan_[256]; \\
        for (int64_t i = 0; i < w; i++) { m[i] = -INFINITY; nan_[i] = 0; s[i] = 0; } \\
        for (int64_t j = 0; j < n; j++) { const ${t}* r = x + j * xs; _Pragma("omp simd") for (int64_t i = 0; i < w; i++) { const double v = r[i]; m[i] = v > m[i] ? v : m[i]; nan_[i] |= v != v; } } \\
        for (int64_t i = 0; i < w; i++) m[i] = nan_[i] ? NAN : isinf(m[i]) ? 0 : m[i]; \\
        for (int64_t j = 0; j < n; j++) { const ${t}* r = x + j * xs; ${t}* q = y + j * os; _Pragma("omp simd") for (int64_t i = 0; i < w; i++) { const double v = exp(r[i] - m[i]); s[i] += v; if (!log_) q[i] = (${t})v; } } \\
        if (log_) { for (int64_t i = 0; i < w; i++) s[i] = m[i] + log(s[i]); for (int64_t j = 0; j < n; j++) { const ${t}* r = x + j * xs; ${t}* q = y + j * os; _Pragma("omp simd") for (int64_t i = 0; i < w; i++) q[i] = (${t})(r[i] - s[i]); } } \\
        else { for (int64_t i = 0; i < w; i++) s[i] = 1 / s[i]; for (int64_t j = 0; j < n; j++) { ${t}* q = y + j * os; _Pragma("omp simd") for (int64_t i = 0; i < w; i++) q[i] = (${t})(q[i] * s[i]); } } \\
      } \\
      FM_ODO_NEXT(nk - 1, ksh, kxs, kos, kxs, xb, ob, unused_, kidx) }
    FM_PARALLEL(nouter, nout * n, FM_BLOCKS)
    #undef FM_BLOCKS
    return;
  }
  if (nk == 1 && xs == 1 && os == 1 && n <= FM_SHORT_ROW) {
    FM_PARALLEL(nout, nout * n, fm_softmax_short_rows_${tag[d]}(lo, hi, n, P1, kxs[0], P0, kos[0], log_))
    return;
  }
  #define FM_SLICES int64_t kidx[16], xb, ob, unused_; FM_ODO_START(nk, ksh, lo, kxs, kos, kxs, xb, ob, unused_, kidx) \\
  for (int64_t e = lo; e < hi; e++) { \\
    const ${t}* x = P1 + xb; ${t}* y = P0 + ob; \\
    double m = -INFINITY; int nan_ = 0; \\
    if (xs == 1) { _Pragma("omp simd reduction(max:m) reduction(|:nan_)") for (int64_t j = 0; j < n; j++) { const double v = x[j]; m = v > m ? v : m; nan_ |= v != v; } } \\
    else for (int64_t j = 0; j < n; j++) { const double v = x[j * xs]; m = v > m ? v : m; nan_ |= v != v; } \\
    m = nan_ ? NAN : isinf(m) ? 0 : m; /* as the composite: no inf - inf */ \\
    double s = 0; \\
    if (xs == 1 && os == 1) { \\
      ${d === 'float32'
        // float32 in float lanes (16 per AVX-512 vector, libmvec's expf): twice the doubles' rate.
        ? `const float mf = (float)m; float sf = 0; \\
      if (log_) { _Pragma("omp simd reduction(+:sf)") for (int64_t j = 0; j < n; j++) sf += expf(x[j] - mf); } \\
      else { _Pragma("omp simd reduction(+:sf)") for (int64_t j = 0; j < n; j++) { const float v = expf(x[j] - mf); y[j] = v; sf += v; } } \\
      s = sf;`
        : `if (log_) { _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < n; j++) s += exp(x[j] - m); } \\
      else { _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < n; j++) { const double v = exp(x[j] - m); y[j] = v; s += v; } }`} \\
      if (log_) { \\
        const ${t} shift = (${t})(m + log(s)); \\
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) y[j] = x[j] - shift; \\
      } else { \\
        const ${t} inv = (${t})(1 / s); \\
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) y[j] *= inv; \\
      } \\
    } else { \\
      for (int64_t j = 0; j < n; j++) s += exp((double)x[j * xs] - m); \\
      if (log_) { const double shift = m + log(s); for (int64_t j = 0; j < n; j++) y[j * os] = (${t})((double)x[j * xs] - shift); } \\
      else for (int64_t j = 0; j < n; j++) y[j * os] = (${t})(exp((double)x[j * xs] - m) / s); \\
    } \\
    FM_ODO_NEXT(nk, ksh, kxs, kos, kxs, xb, ob, unused_, kidx) }
  FM_PARALLEL(nout, nout * n, FM_SLICES)
  #undef FM_SLICES
}
/* The gradient of softmax (log-softmax when log_) from its output y and the incoming gradient g, as
   the ts backend's softmaxBackward (contiguous slices add in simd order): per slice, sum(g) (or
   sum(g y)) in doubles, then gx = g - exp(y) sum(g) (or y (g - sum(g y))). Meta: the kept dims,
   then the strides of gx, y and g. */
void fm_softmax_backward_${tag[d]}(const int32_t* meta, ${t}* restrict P0, const ${t}* restrict P1, const ${t}* restrict P2, int64_t n, int64_t os, int64_t ys, int64_t gs, int log_) {
  const int nk = meta[0];
  const int32_t *ksh = meta + 1, *kos = ksh + nk, *kys = kos + nk, *kgs = kys + nk;
  int64_t nout = 1;
  for (int d = 0; d < nk; d++) nout *= ksh[d];
  #define FM_SLICES int64_t kidx[16], ob, yb, gb; FM_ODO_START(nk, ksh, lo, kos, kys, kgs, ob, yb, gb, kidx) \\
  for (int64_t e = lo; e < hi; e++) { \\
    ${t}* gx = P0 + ob; const ${t}* y = P1 + yb; const ${t}* g = P2 + gb; double s = 0; \\
    if (os == 1 && ys == 1 && gs == 1) { \\
      if (log_) { \\
        _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < n; j++) s += g[j]; \\
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) gx[j] = (${t})((double)g[j] - exp((double)y[j]) * s); \\
      } else { \\
        _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < n; j++) s += (double)g[j] * y[j]; \\
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) gx[j] = (${t})((double)y[j] * ((double)g[j] - s)); \\
      } \\
    } else if (log_) { \\
      for (int64_t j = 0; j < n; j++) s += g[j * gs]; \\
      for (int64_t j = 0; j < n; j++) gx[j * os] = (${t})((double)g[j * gs] - exp((double)y[j * ys]) * s); \\
    } else { \\
      for (int64_t j = 0; j < n; j++) s += (double)g[j * gs] * y[j * ys]; \\
      for (int64_t j = 0; j < n; j++) gx[j * os] = (${t})((double)y[j * ys] * ((double)g[j * gs] - s)); \\
    } \\
    FM_ODO_NEXT(nk, ksh, kos, kys, kgs, ob, yb, gb, kidx) }
  FM_PARALLEL(nout, nout * n, FM_SLICES)
  #undef FM_SLICES
}
`;
  });
}

/**
 * Fused optimizer steps (backend interface adamStep / sgdStep) over contiguous arrays. Each line is
 * one operation of the per-op update in optim/ (scalars rounded to the dtype first, as scalar
 * operands are), and fp-contract is off so that no multiply-add is fused: the results are those
 * of the per-op path, bit for bit. h holds the hyper-parameters (see interface.ts).
 */
function optimizerKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    const sqrt = d === 'float32' ? 'sqrtf' : 'sqrt';
    return `/* Elements [lo, hi) of an Adam / AdamW step: a function of its own (restrict pointers, loop
   invariants hoisted) that GCC vectorises (the build's -fno-math-errno and -fno-trapping-math
   let it; scalar, [256, 784] took 375 us). No fused multiply-adds: the ts reference's roundings. */
__attribute__((optimize("fp-contract=off")))
static void fm_adam_range_${tag[d]}(int64_t lo, int64_t hi, ${t}* restrict p, const ${t}* restrict g, ${t}* restrict m, ${t}* restrict v,
    ${t}* restrict vmax, ${t} decay, ${t} wd, ${t} b1, ${t} c1, ${t} b2, ${t} c2, ${t} eps, ${t} step, ${t} bc2, int decoupled, int maximize, int ams) {
  /* Two loops, with and without amsgrad: a store under a condition (vmax) keeps a loop scalar. */
#define FM_ADAM_BODY(AMS) \
    ${t} gi = maximize ? -g[i] : g[i]; ${t} pi = p[i]; \
    if (decoupled) pi = pi * decay; \
    else if (wd != 0) { ${t} w = pi * wd; gi = w + gi; } \
    ${t} mi = m[i] * b1; ${t} gm = gi * c1; mi = mi + gm; \
    ${t} vi = v[i] * b2; ${t} gg = gi * gi; gg = gg * c2; vi = vi + gg; \
    ${t} second = vi; \
    if (AMS) { const ${t} mx = vmax[i]; second = (mx != mx || vi != vi) ? (${t})NAN : (vi > mx ? vi : mx); vmax[i] = second; } \
    ${t} den = ${sqrt}(second); den = den / bc2; den = den + eps; \
    ${t} u = mi / den; u = u * step; pi = pi + u; \
    p[i] = pi; m[i] = mi; v[i] = vi;
  if (ams) for (int64_t i = lo; i < hi; i++) { FM_ADAM_BODY(1) }
  else for (int64_t i = lo; i < hi; i++) { FM_ADAM_BODY(0) }
#undef FM_ADAM_BODY
}
void fm_adam_${tag[d]}(int64_t n, ${t}* restrict p, const ${t}* restrict g, ${t}* restrict m, ${t}* restrict v, ${t}* restrict vmax, const double* h) {
  /* h = [lr, beta1, beta2, eps, weightDecay, decoupled, maximize, amsgrad, stepSize, bc2Sqrt] */
  const ${t} decay = (${t})(1 - h[0] * h[4]), wd = (${t})h[4], b1 = (${t})h[1], c1 = (${t})(1 - h[1]);
  const ${t} b2 = (${t})h[2], c2 = (${t})(1 - h[2]), eps = (${t})h[3], step = (${t})(-h[8]), bc2 = (${t})h[9];
  const int decoupled = h[5] != 0, maximize = h[6] != 0, ams = h[7] != 0;
  FM_PARALLEL(n, n * 8, fm_adam_range_${tag[d]}(lo, hi, p, g, m, v, vmax, decay, wd, b1, c1, b2, c2, eps, step, bc2, decoupled, maximize, ams))
}
__attribute__((optimize("fp-contract=off")))
void fm_sgd_${tag[d]}(int64_t n, ${t}* restrict p, const ${t}* restrict g, ${t}* restrict buf, const double* h) {
  /* h = [lr, momentum, dampening, weightDecay, nesterov, maximize, first] */
  const ${t} lr = (${t})(-h[0]), mom = (${t})h[1], keep = (${t})(1 - h[2]), wd = (${t})h[3];
  const int nesterov = h[4] != 0, maximize = h[5] != 0, first = h[6] != 0, momentum = h[1] != 0, damp = h[2] != 0;
  FM_PARALLEL(n, n * 4, _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) {
    ${t} di = maximize ? -g[i] : g[i]; ${t} pi = p[i];
    if (wd != 0) { ${t} w = pi * wd; di = w + di; }
    if (momentum) {
      ${t} b;
      if (first) b = di;
      else { b = buf[i] * mom; ${t} dd = damp ? di * keep : di; b = b + dd; }
      buf[i] = b;
      if (nesterov) { ${t} bm = b * mom; di = bm + di; } else di = b;
    }
    ${t} u = di * lr; p[i] = pi + u;
  })
}
`;
  });
}

/**
 * Fused cross-entropy at class indices (the ts backend's cross_entropy.ts is the reference): each
 * row's max and sum of exp(x - max) in doubles (simd, through libmvec, for contiguous rows), the
 * target's log-probability rounded to the dtype and negated, as -log_softmax(x).gather(target)
 * gives it; then the kept rows summed in order. Targets are checked first, so a bad one leaves the
 * outputs unwritten. The backward writes s_i (softmax(x[i]) - onehot) in one pass per row. Rows
 * split among threads.
 */
function crossEntropyKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    // A row's max (NaN if any; an infinite max counts as 0, as log_softmax) and log of the sum of exp.
    const lse = `double m = -INFINITY; int nan_ = 0;
    if (xs1 == 1) { _Pragma("omp simd reduction(max:m) reduction(|:nan_)") for (int64_t j = 0; j < c; j++) { const double v = row[j]; m = v > m ? v : m; nan_ |= v != v; } }
    else for (int64_t j = 0; j < c; j++) { const double v = row[j * xs1]; m = v > m ? v : m; nan_ |= v != v; }
    m = nan_ ? NAN : isinf(m) ? 0 : m;
    double s = 0;
    if (xs1 == 1) { _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < c; j++) s += exp(row[j] - m); }
    else for (int64_t j = 0; j < c; j++) s += exp((double)row[j * xs1] - m);
    const double shift = m + log(s);`;
    return `/* Rows [lo, hi) of the forward with short contiguous rows, 8 at a time in lanes (fm_rows_lse). */
static void fm_xent_short_rows_${tag[d]}(int64_t lo, int64_t hi, int64_t c, const ${t}* restrict x, int64_t xs0,
    const int64_t* restrict target, int64_t ts0, ${t}* restrict rows, int64_t rs0, int64_t ignore) {
  double e[FM_LANE_ROWS * FM_SHORT_ROW], m[FM_LANE_ROWS], s[FM_LANE_ROWS], shift[FM_LANE_ROWS];
  for (int64_t i = lo; i < hi; i += FM_LANE_ROWS) {
    const int R = hi - i < FM_LANE_ROWS ? (int)(hi - i) : FM_LANE_ROWS;
    fm_rows_lse_${tag[d]}(x + i * xs0, xs0, c, R, e, m, s);
    _Pragma("omp simd") for (int l = 0; l < FM_LANE_ROWS; l++) shift[l] = m[l] + log(s[l]);
    for (int l = 0; l < R; l++) {
      const int64_t k = target[(i + l) * ts0];
      rows[(i + l) * rs0] = k == ignore ? 0 : -(${t})((double)x[(i + l) * xs0 + k] - shift[l]);
    }
  }
}
/* Rows [lo, hi) of the backward with short contiguous rows, as the forward's. */
static void fm_xent_backward_short_rows_${tag[d]}(int64_t lo, int64_t hi, int64_t c, const ${t}* restrict x, int64_t xs0,
    const int64_t* restrict target, int64_t ts0, const ${t}* restrict g, int64_t gs0, ${t}* restrict gx, int64_t gxs0,
    int64_t ignore, int reduction, int64_t kept) {
  double e[FM_LANE_ROWS * FM_SHORT_ROW], m[FM_LANE_ROWS], s[FM_LANE_ROWS];
  for (int64_t i = lo; i < hi; i += FM_LANE_ROWS) {
    const int R = hi - i < FM_LANE_ROWS ? (int)(hi - i) : FM_LANE_ROWS;
    fm_rows_lse_${tag[d]}(x + i * xs0, xs0, c, R, e, m, s);
    for (int l = 0; l < R; l++) {
      const int64_t k = target[(i + l) * ts0];
      ${t}* o = gx + (i + l) * gxs0;
      if (k == ignore) { for (int64_t j = 0; j < c; j++) o[j] = 0; continue; }
      const double scale = reduction == 0 ? (double)g[(i + l) * gs0] : reduction == 1 ? (double)g[0] : (double)g[0] / (double)kept;
      const double f = scale / s[l];
      for (int64_t j = 0; j < c; j++) o[j] = (${t})(f * e[j * FM_LANE_ROWS + l]);
      o[k] = (${t})(scale * (e[k * FM_LANE_ROWS + l] / s[l] - 1));
    }
  }
}
int64_t fm_xent_${tag[d]}(int64_t n, int64_t c, const ${t}* restrict x, int64_t xs0, int64_t xs1,
    const int64_t* restrict target, int64_t ts0, ${t}* restrict rows, int64_t rs0, ${t}* out, int64_t ignore, int reduction) {
  for (int64_t i = 0; i < n; i++) {
    const int64_t k = target[i * ts0];
    if (k != ignore && (k < 0 || k >= c)) return i;
  }
  if (xs1 == 1 && c <= FM_SHORT_ROW) {
    FM_PARALLEL(n, n * c, fm_xent_short_rows_${tag[d]}(lo, hi, c, x, xs0, target, ts0, rows, rs0, ignore))
  } else FM_PARALLEL(n, n * c, for (int64_t i = lo; i < hi; i++) {
    const int64_t k = target[i * ts0];
    if (k == ignore) { rows[i * rs0] = 0; continue; }
    const ${t}* row = x + i * xs0;
    ${lse}
    const ${t} lp = (${t})((double)row[k * xs1] - shift);
    rows[i * rs0] = -lp;
  })
  if (reduction) {
    double total = 0; int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) if (target[i * ts0] != ignore) { total += rows[i * rs0]; kept++; }
    out[0] = (${t})total;
    if (reduction == 2) out[0] = (${t})((double)out[0] / (double)kept);
  }
  return -1;
}
void fm_xent_backward_${tag[d]}(int64_t n, int64_t c, const ${t}* restrict x, int64_t xs0, int64_t xs1,
    const int64_t* restrict target, int64_t ts0, const ${t}* restrict g, int64_t gs0, ${t}* restrict gx, int64_t gxs0, int64_t gxs1,
    int64_t ignore, int reduction) {
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) kept += target[i * ts0] != ignore;
  if (xs1 == 1 && gxs1 == 1 && c <= FM_SHORT_ROW) {
    FM_PARALLEL(n, n * c, fm_xent_backward_short_rows_${tag[d]}(lo, hi, c, x, xs0, target, ts0, g, gs0, gx, gxs0, ignore, reduction, kept))
    return;
  }
  FM_PARALLEL(n, n * c, for (int64_t i = lo; i < hi; i++) {
    const int64_t k = target[i * ts0];
    ${t}* o = gx + i * gxs0;
    if (k == ignore) { for (int64_t j = 0; j < c; j++) o[j * gxs1] = 0; continue; }
    const double scale = reduction == 0 ? (double)g[i * gs0] : reduction == 1 ? (double)g[0] : (double)g[0] / (double)kept;
    const ${t}* row = x + i * xs0;
    if (xs1 == 1 && gxs1 == 1 && c <= 256) {
      /* A short contiguous row: its exps kept on the stack, so exp runs once per element. */
      double m = -INFINITY; double s = 0; double e[256]; int nan_ = 0; /* no commas: a macro argument */
      _Pragma("omp simd reduction(max:m) reduction(|:nan_)") for (int64_t j = 0; j < c; j++) { const double v = row[j]; m = v > m ? v : m; nan_ |= v != v; }
      m = nan_ ? NAN : isinf(m) ? 0 : m;
      _Pragma("omp simd reduction(+:s)") for (int64_t j = 0; j < c; j++) { e[j] = exp(row[j] - m); s += e[j]; }
      const double f = scale / s;
      _Pragma("omp simd") for (int64_t j = 0; j < c; j++) o[j] = (${t})(f * e[j]);
      o[k] = (${t})(scale * (e[k] / s - 1));
      continue;
    }
    ${lse}
    {
      for (int64_t j = 0; j < c; j++) o[j * gxs1] = (${t})(scale * exp((double)row[j * xs1] - shift));
      o[k * gxs1] = (${t})(scale * (exp((double)row[k * xs1] - shift) - 1));
    }
  })
}
`;
  });
}

/**
 * Fused layer normalisation over the last dim of rows [M, N] (the ts backend's layer_norm.ts is the
 * reference): per row, the mean and the variance (two passes, simd in the element type where
 * contiguous, else in doubles), then the outputs; rows split among threads. The backward is one pass too (see below). Null
 * weight / bias pointers mean none.
 */
function layerNormKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    return `/* Rows [lo, hi) of the forward: a function of its own so that its loops see restrict pointers
   (inside the OpenMP region GCC left them scalar: [2048, 384] took 335 us). */
static void fm_layernorm_rows_${tag[d]}(int64_t lo, int64_t hi, int64_t n, const ${t}* restrict x, int64_t xs0, int64_t xs1,
    const ${t}* restrict w, int64_t ws, const ${t}* restrict b, int64_t bs, ${t}* restrict y, int64_t ys0, int64_t ys1,
    ${t}* restrict mean, int64_t ms, ${t}* restrict rstd, int64_t rs, double eps) {
  const int flat = xs1 == 1 && ys1 == 1 && (!w || ws == 1) && (!b || bs == 1);
  for (int64_t i = lo; i < hi; i++) {
    const ${t}* restrict row = x + i * xs0; ${t}* restrict out = y + i * ys0;
    if (flat) {
      /* In the element type, its vectors' lanes summing in parallel (doubles for float32 cost
         twice the time: a conversion per element and half the lanes). */
      const ${t} mu = fm_rowsum_${tag[d]}(row, n) / n;
      const ${t} q = fm_rowdev2_${tag[d]}(row, n, mu);
      const ${t} r = (${t})(1 / sqrt((double)q / n + eps));
      mean[i * ms] = mu; rstd[i * rs] = r;
      if (w && b) { _Pragma("omp simd") for (int64_t j = 0; j < n; j++) out[j] = (row[j] - mu) * r * w[j] + b[j]; }
      else if (w) { _Pragma("omp simd") for (int64_t j = 0; j < n; j++) out[j] = (row[j] - mu) * r * w[j]; }
      else if (b) { _Pragma("omp simd") for (int64_t j = 0; j < n; j++) out[j] = (row[j] - mu) * r + b[j]; }
      else { _Pragma("omp simd") for (int64_t j = 0; j < n; j++) out[j] = (row[j] - mu) * r; }
      continue;
    }
    double s = 0, q = 0;
    for (int64_t j = 0; j < n; j++) s += row[j * xs1];
    const double mu = s / n;
    for (int64_t j = 0; j < n; j++) { const double e = row[j * xs1] - mu; q += e * e; }
    const double r = 1 / sqrt(q / n + eps);
    mean[i * ms] = (${t})mu; rstd[i * rs] = (${t})r;
    {
      for (int64_t j = 0; j < n; j++) {
        double v = (row[j * xs1] - mu) * r;
        if (w) v *= w[j * ws];
        if (b) v += b[j * bs];
        out[j * ys1] = (${t})v;
      }
    }
  }
}
void fm_layernorm_${tag[d]}(int64_t m, int64_t n, const ${t}* restrict x, int64_t xs0, int64_t xs1,
    const ${t}* restrict w, int64_t ws, const ${t}* restrict b, int64_t bs, ${t}* restrict y, int64_t ys0, int64_t ys1,
    ${t}* restrict mean, int64_t ms, ${t}* restrict rstd, int64_t rs, double eps) {
  FM_PARALLEL(m, m * n, fm_layernorm_rows_${tag[d]}(lo, hi, n, x, xs0, xs1, w, ws, b, bs, y, ys0, ys1, mean, ms, rstd, rs, eps))
}
/* Rows [lo, hi) of the backward: gx, and the rows' shares of the column sums added into aw / ab
   (doubles, one set per thread). A function of its own so that its loops see restrict pointers. */
__attribute__((optimize("fp-contract=off"))) /* g w - mean(g w) is 0 for a row of one: no fused rounding */
static void fm_layernorm_backward_rows_${tag[d]}(int64_t lo, int64_t hi, int64_t n, const ${t}* restrict g, int64_t gs0, int64_t gs1,
    const ${t}* restrict x, int64_t xs0, int64_t xs1, const ${t}* restrict mean, int64_t ms, const ${t}* restrict rstd, int64_t rs,
    const ${t}* restrict w, int64_t ws, ${t}* restrict gx, int64_t gxs0, int64_t gxs1, double* restrict aw, double* restrict ab,
    ${t}* restrict fw, ${t}* restrict fb) {
  const int flat = gs1 == 1 && xs1 == 1 && gxs1 == 1 && (!w || ws == 1);
  /* Contiguous rows add their column shares into fw / fb (the element type, zeroed), which go
     into the doubles every 32 rows: a conversion per element per row cost a third of the time. */
  int pending = 0;
  for (int64_t i = lo; i < hi; i++) {
    const ${t}* gr = g + i * gs0; const ${t}* xr = x + i * xs0; ${t}* o = gx + i * gxs0;
    const double mu = mean[i * ms], r = rstd[i * rs];
    double c1 = 0, c2 = 0;
    if (flat) {
      /* The row's sums and gx in the element type (as the forward); the column sums in doubles. */
      const ${t} mt = mean[i * ms], rt = rstd[i * rs];
      ${t} d1 = 0, d2 = 0;
      if (w) {
        _Pragma("omp simd reduction(+:d1, d2)") for (int64_t j = 0; j < n; j++) { const ${t} h = gr[j] * w[j]; d1 += h; d2 += h * ((xr[j] - mt) * rt); }
      } else {
        _Pragma("omp simd reduction(+:d1, d2)") for (int64_t j = 0; j < n; j++) { const ${t} h = gr[j]; d1 += h; d2 += h * ((xr[j] - mt) * rt); }
      }
      d1 /= n; d2 /= n;
      _Pragma("omp simd") for (int64_t j = 0; j < n; j++) {
        const ${t} xh = (xr[j] - mt) * rt, gv = gr[j];
        o[j] = rt * (gv * (w ? w[j] : 1) - d1 - xh * d2);
        fw[j] += gv * xh; fb[j] += gv;
      }
      if (++pending == 32 || i == hi - 1) {
        for (int64_t j = 0; j < n; j++) { aw[j] += fw[j]; ab[j] += fb[j]; fw[j] = 0; fb[j] = 0; }
        pending = 0;
      }
    } else {
      for (int64_t j = 0; j < n; j++) { const double h = (double)gr[j * gs1] * (w ? w[j * ws] : 1); c1 += h; c2 += h * ((xr[j * xs1] - mu) * r); }
      c1 /= n; c2 /= n;
      for (int64_t j = 0; j < n; j++) {
        const double xh = (xr[j * xs1] - mu) * r, gv = gr[j * gs1];
        o[j * gxs1] = (${t})(r * (gv * (w ? w[j * ws] : 1) - c1 - xh * c2));
        aw[j] += gv * xh; ab[j] += gv;
      }
    }
  }
}
/* The backward in one pass over g and x: threads take equal shares of the rows, each summing its
   rows' column shares into its own buffers, added in thread order at the end (a separate pass
   over the columns read g and x a second time). */
int fm_layernorm_backward_${tag[d]}(int64_t m, int64_t n, const ${t}* restrict g, int64_t gs0, int64_t gs1,
    const ${t}* restrict x, int64_t xs0, int64_t xs1, const ${t}* restrict mean, int64_t ms, const ${t}* restrict rstd, int64_t rs,
    const ${t}* restrict w, int64_t ws, ${t}* restrict gx, int64_t gxs0, int64_t gxs1, ${t}* restrict gw, int64_t gws, ${t}* restrict gb, int64_t gbs) {
  /* Threads, fewer where their column buffers (2 n doubles and 2 n elements each) would pass 64 MiB in all. */
  int nt = m * n >= FM_PAR_MIN && fm_threads > 1 && m > 1 ? (m < fm_threads ? (int)m : fm_threads) : 1;
  while (nt > 1 && (double)nt * 2 * n * (sizeof(double) + sizeof(${t})) > 64.0 * (1 << 20)) nt--;
  /* Per thread: 2 n doubles, then (after all threads' doubles) 2 n of the element type. */
  const int64_t nn = n > 0 ? n : 1;
  double* part = calloc((size_t)nt * 2 * nn * (sizeof(double) + sizeof(${t})), 1);
  if (!part) return -1; /* out of memory: the caller raises */
  ${t}* fpart = (${t}*)(part + 2 * nn * nt);
  if (nt == 1) {
    fm_layernorm_backward_rows_${tag[d]}(0, m, n, g, gs0, gs1, x, xs0, xs1, mean, ms, rstd, rs, w, ws, gx, gxs0, gxs1, part, part + n, fpart, fpart + nn);
  } else {
    #pragma omp parallel num_threads(nt)
    {
      const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
      fm_layernorm_backward_rows_${tag[d]}(m * t / k, m * (t + 1) / k, n, g, gs0, gs1, x, xs0, xs1, mean, ms, rstd, rs, w, ws, gx, gxs0, gxs1,
        part + 2 * nn * t, part + 2 * nn * t + n, fpart + 2 * nn * t, fpart + 2 * nn * t + nn);
    }
  }
  for (int64_t j = 0; j < n; j++) {
    double sw = 0, sb = 0;
    for (int u = 0; u < nt; u++) { sw += part[2 * nn * u + j]; sb += part[2 * nn * u + n + j]; }
    if (gw) gw[j * gws] = (${t})sw;
    if (gb) gb[j * gbs] = (${t})sb;
  }
  free(part);
  return 0;
}
`;
  });
}

/**
 * Uniform random numbers, the ts backend's Philox4x32-10 streams (ts/philox.ts) to the bit: element
 * i uses the block with counter offset + i and key (k0, k1); float32 takes 24 bits of word 0,
 * float64 53 bits of words 0 and 1; then low + u * (high - low) in doubles, with no multiply-add
 * fused, rounded once, and a value that rounds up to high replaced by cap (the largest value below
 * it). Elements split among threads (each is a pure function of its counter). Normals stay in
 * TypeScript: Box-Muller needs log and cos, whose last bits differ between V8 and the C library.
 */
function randomKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    const u = d === 'float32' ? '(double)(c[0] >> 8) * 0x1p-24' : '((double)(c[0] >> 5) * 67108864.0 + (double)(c[1] >> 6)) * 0x1p-53';
    return `/* Elements [lo, hi): a function of its own with plain scalar state, so that GCC vectorises the
   rounds across elements (32 x 32 -> 64-bit products in vector lanes). */
__attribute__((optimize("fp-contract=off")))
static void fm_uniform_range_${tag[d]}(int64_t lo, int64_t hi, ${t}* restrict out, uint32_t k0, uint32_t k1, uint64_t offset, double low, double high, double cap) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  const double span = high - low;
  for (int64_t i = lo; i < hi; i++) {
    const uint64_t ctr = offset + (uint64_t)i;
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0, a0 = k0, a1 = k1;
    for (int r = 0; r < 10; r++) {
      const uint64_t p0 = (uint64_t)c0 * 0xD2511F53u, p1 = (uint64_t)c2 * 0xCD9E8D57u;
      const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ a0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ a1;
      c0 = n0; c1 = (uint32_t)p1; c2 = n2; c3 = (uint32_t)p0;
      a0 += 0x9E3779B9u; a1 += 0xBB67AE85u;
    }
    (void)c2; (void)c3;
    const ${t} v = (${t})(low + ${u.replace(/c\[0\]/g, 'c0').replace(/c\[1\]/g, 'c1')} * span);
    out[i] = v >= high ? (${t})cap : v;
  }
}
void fm_uniform_${tag[d]}(int64_t n, ${t}* restrict out, uint32_t k0, uint32_t k1, int64_t offset, double low, double high, double cap) {
  FM_PARALLEL(n, n * 16, fm_uniform_range_${tag[d]}(lo, hi, out, k0, k1, (uint64_t)offset, low, high, cap))
}
/* Normals: Box-Muller as philox.ts computes it (fillRandom, logUnit, cosTurns), operation for operation. */
__attribute__((optimize("fp-contract=off")))
static void fm_normal_range_${tag[d]}(int64_t lo, int64_t hi, ${t}* restrict out, uint32_t k0, uint32_t k1, uint64_t offset, double mean, double std) {
#ifdef __clang__
#pragma clang fp contract(off)
#endif
  for (int64_t i = lo; i < hi; i++) {
    const uint64_t ctr = offset + (uint64_t)i;
    uint32_t w[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
    fm_philox(w, k0, k1);
    const double u1 = 1 - ((double)(w[0] >> 5) * 67108864.0 + (double)(w[1] >> 6)) * 0x1p-53;
    const double u2 = ((double)(w[2] >> 5) * 67108864.0 + (double)(w[3] >> 6)) * 0x1p-53;
    out[i] = (${t})(mean + std * sqrt(-2 * fm_log_unit(u1)) * fm_cos_turns(u2));
  }
}
void fm_normal_${tag[d]}(int64_t n, ${t}* restrict out, uint32_t k0, uint32_t k1, int64_t offset, double mean, double std) {
  FM_PARALLEL(n, n * 32, fm_normal_range_${tag[d]}(lo, hi, out, k0, k1, (uint64_t)offset, mean, std))
}
`;
  });
}

/**
 * 2-D max pooling with indices (Backend.maxPool2d; the ts backend's pool.ts is the reference):
 * planes split among threads, and each output sees its window's values in the reference's order,
 * so the maximum and its index (the first maximum; NaN wins) are the same. Where every window lies
 * inside the input (no padding reaches in), one pass per window offset runs over all of a plane's
 * outputs through a table of their window origins (long loops: a 13-wide output row made loops
 * too short to pay); otherwise each output row is built column-vectorised, offset by offset, over
 * the columns whose window holds that offset. [64, 32, 26, 26] k2 on 2 threads: 2.6-2.9 -> 0.43-0.5 ms
 * (PyTorch 1.13: 3.2 ms); k3 s1 p1 22 -> 5.5 ms (PyTorch 15).
 */
function poolKernels(): string[] {
  return floatTypes.map((d) => {
    const t = ctype[d];
    return `/* One plane through the table of window origins: a function of its own (restrict pointers, not
   an OpenMP region's captured ones) so that GCC vectorises it with masked blends; in the threaded
   region it made the selects branches, which mispredict on random data (0.8 -> 2.9 ms). */
static void fm_maxpool_plane_${tag[d]}(int64_t no, const int32_t* restrict off, const int64_t* restrict pos, const ${t}* restrict plane,
    ${t}* restrict best, int64_t* restrict arg, int64_t kh, int64_t kw, int64_t rstep, int64_t estep, int64_t rpos, int64_t epos) {
  for (int64_t o = 0; o < no; o++) { best[o] = plane[off[o]]; arg[o] = pos[o]; }
  for (int64_t r = 0; r < kh; r++) for (int64_t e = r == 0; e < kw; e++) {
    const ${t}* at = plane + r * rstep + e * estep;
    const int64_t d = r * rpos + e * epos;
    for (int64_t o = 0; o < no; o++) {
      const ${t} v = at[off[o]];
      const int c = (v > best[o]) | (v != v);
      best[o] = c ? v : best[o]; arg[o] = c ? pos[o] + d : arg[o];
    }
  }
}
/* One plane where windows may reach outside the input: each output row built column-vectorised,
   offset by offset, over the columns whose window holds that offset (the reference's order for
   every output). A window's first valid value is taken whatever it is (-inf included). */
static void fm_maxpool_plane_padded_${tag[d]}(const int64_t* a, const ${t}* restrict plane, ${t}* restrict y, int64_t* restrict ind) {
  const int64_t H = a[2], W = a[3], OH = a[4], OW = a[5], kh = a[6], kw = a[7], sh = a[8], sw = a[9];
  const int64_t ph = a[10], pw = a[11], dh = a[12], dw = a[13], xs2 = a[16], xs3 = a[17];
  for (int64_t i = 0; i < OH; i++) {
    ${t}* restrict best = y + i * OW;
    int64_t* restrict arg = ind + i * OW;
    for (int64_t j = 0; j < OW; j++) { best[j] = -INFINITY; arg[j] = -1; }
    for (int64_t r = 0; r < kh; r++) {
      const int64_t hh = i * sh - ph + r * dh;
      if (hh < 0 || hh >= H) continue;
      const ${t}* row = plane + hh * xs2;
      for (int64_t e = 0; e < kw; e++) {
        /* Column j reads ww = j * sw + off: the columns [j0, j1) read inside the row. */
        const int64_t off = e * dw - pw;
        const int64_t j0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
        const int64_t j1 = off > W - 1 ? 0 : ((W - 1 - off) / sw + 1 < OW ? (W - 1 - off) / sw + 1 : OW);
        const int64_t base = hh * W + off;
        for (int64_t j = j0; j < j1; j++) {
          const ${t} v = row[(j * sw + off) * xs3];
          const int c = (v > best[j]) | (v != v) | (arg[j] < 0);
          best[j] = c ? v : best[j]; arg[j] = c ? base + j * sw : arg[j];
        }
      }
    }
  }
}
/* The gradient: each plane of gx zeroed, then g added at the saved maxima in order (planes split
   among threads); a window wholly in the padding (dilation lets one miss the input) has index -1
   and passes no gradient on. */
void fm_maxpool2d_backward_${tag[d]}(int64_t planes, int64_t hw, int64_t no, ${t}* restrict gx, const ${t}* restrict g, const int64_t* restrict ind) {
  FM_PARALLEL(planes, planes * (hw + no), for (int64_t q = lo; q < hi; q++) {
    ${t}* plane = gx + q * hw; const ${t}* gp = g + q * no; const int64_t* ip = ind + q * no;
    memset(plane, 0, hw * sizeof(${t}));
    for (int64_t o = 0; o < no; o++) if (ip[o] >= 0) plane[ip[o]] += gp[o];
  })
}
void fm_maxpool2d_${tag[d]}(const int64_t* a, const ${t}* restrict x, ${t}* restrict y, int64_t* restrict ind) {
  /* a = [N, C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw, xs0, xs1, xs2, xs3] */
  const int64_t C = a[1], H = a[2], W = a[3], OH = a[4], OW = a[5], kh = a[6], kw = a[7], sh = a[8], sw = a[9];
  const int64_t ph = a[10], pw = a[11], dh = a[12], dw = a[13], xs0 = a[14], xs1 = a[15], xs2 = a[16], xs3 = a[17];
  const int64_t planes = a[0] * C, no = OH * OW;
  const int64_t span = ((OH - 1) * sh + (kh - 1) * dh) * llabs(xs2) + ((OW - 1) * sw + (kw - 1) * dw) * llabs(xs3);
  const int inside = ph == 0 && pw == 0 && (OH - 1) * sh + (kh - 1) * dh < H && (OW - 1) * sw + (kw - 1) * dw < W && span < INT32_MAX;
  int32_t* off = inside ? malloc(no * sizeof(int32_t)) : NULL;
  int64_t* pos = inside ? malloc(no * sizeof(int64_t)) : NULL;
  if (inside && (!off || !pos)) { free(off); free(pos); off = NULL; pos = NULL; }
  if (off) {
    for (int64_t i = 0; i < OH; i++) for (int64_t j = 0; j < OW; j++) { off[i * OW + j] = (int32_t)(i * sh * xs2 + j * sw * xs3); pos[i * OW + j] = i * sh * W + j * sw; }
    FM_PARALLEL(planes, planes * no * kh * kw, for (int64_t q = lo; q < hi; q++)
      fm_maxpool_plane_${tag[d]}(no, off, pos, x + (q / C) * xs0 + (q % C) * xs1, y + q * no, ind + q * no, kh, kw, dh * xs2, dw * xs3, dh * W, dw))
    free(off); free(pos);
    return;
  }
  FM_PARALLEL(planes, planes * no * kh * kw, for (int64_t q = lo; q < hi; q++)
    fm_maxpool_plane_padded_${tag[d]}(a, x + (q / C) * xs0 + (q % C) * xs1, y + q * no, ind + q * no))
}
`;
  });
}

function scanKernels(): string[] {
  const out: string[] = [];
  for (const op of ['cumsum', 'cumprod'] as ScanOpName[]) {
    for (const d of allTypes) {
      const o = reduceOutType('sum', d);
      out.push(`void fm_s_${op}_${tag[d]}(const int32_t* meta, ${ctype[o]}* restrict P0, const ${ctype[d]}* restrict P1, int64_t n, int64_t xs, int64_t os) {
  const int nk = meta[0];
  const int32_t *ksh = meta + 1, *kxs = ksh + nk, *kos = kxs + nk;
  int64_t nout = 1;
  for (int d = 0; d < nk; d++) nout *= ksh[d];
  #define FM_OUTPUTS int64_t kidx[16], xb, ob, unused_; FM_ODO_START(nk, ksh, lo, kxs, kos, kxs, xb, ob, unused_, kidx) \\
  for (int64_t e = lo; e < hi; e++) { \\
    ${o === 'int64' ? 'uint64_t' : 'double'} acc = ${op === 'cumsum' ? 0 : 1}; \\
    for (int64_t j = 0; j < n; j++) { acc ${op === 'cumsum' ? '+=' : '*='} ${o === 'int64' ? '(uint64_t)(int64_t)' : '(double)'}P1[xb + j * xs]; P0[ob + j * os] = ${o === 'int64' ? '(int64_t)acc' : store(o, 'acc')}; } \\
    FM_ODO_NEXT(nk, ksh, kxs, kos, kxs, xb, ob, unused_, kidx) }
  FM_PARALLEL(nout, nout * n, FM_OUTPUTS)
  #undef FM_OUTPUTS
}
`);
    }
  }
  return out;
}

/**
 * gather/scatter over index's shape: meta = [nd, index shape, out strides, x (or src) strides,
 * index strides]; the dim's own stride of the indexed tensor and its size come separately.
 * Returns -1 when all indices are in range, else the position of the first bad one.
 */
function indexKernels(): string[] {
  const out: string[] = [];
  // Slices along the first walked dim go to separate threads when their writes cannot meet: always
  // for gather (a fresh output), and for scatter when each slice's span of the output (the other
  // dims and every index along the scattered one) fits within the first dim's stride. Each thread
  // stops at its first bad index; the first in walk order is reported.
  const walk = (body: string, disjoint: string) => `
  const int nd = meta[0];
  const int32_t *sh = meta + 1, *s0 = sh + nd, *s1 = s0 + nd, *s2 = s1 + nd;
  int64_t n = 1;
  for (int d = 0; d < nd; d++) n *= sh[d];
  if (n == 0) return -1;
  const int64_t slices = nd > 0 ? sh[0] : 1, slice = n / slices;
  int64_t first = INT64_MAX;
  #define FM_WALK int64_t idx[16], i0, i1, i2; FM_ODO_START(nd, sh, lo * slice, s0, s1, s2, i0, i1, i2, idx) \\
  for (int64_t e = lo * slice; e < hi * slice; e++) { \\
    const int64_t k = I[i2]; \\
    if (k < 0 || k >= size) { _Pragma("omp critical") { if (e < first) first = e; } break; } \\
    ${body} \\
    FM_ODO_NEXT(nd, sh, s0, s1, s2, i0, i1, i2, idx) }
  if (nd > 0 && (${disjoint})) { FM_PARALLEL(slices, n, FM_WALK) } else { const int64_t lo = 0, hi = slices; FM_WALK }
  #undef FM_WALK
  return first == INT64_MAX ? -1 : first;`;
  const scatterDisjoint = `s0[0] != 0 && ({ int64_t ext_ = 1 + (size - 1) * (dstride < 0 ? -dstride : dstride); for (int d = 1; d < nd; d++) ext_ += (int64_t)(sh[d] - 1) * (s0[d] < 0 ? -s0[d] : s0[d]); ext_ <= (s0[0] < 0 ? -(int64_t)s0[0] : (int64_t)s0[0]); })`;
  for (const d of allTypes) {
    const t = ctype[d];
    out.push(`int64_t fm_gather_${tag[d]}(const int32_t* meta, ${t}* restrict O, const ${t}* restrict X, const int64_t* restrict I, int64_t size, int64_t dstride) {${walk('O[i0] = X[i1 + k * dstride];', '1')}\n}\n`);
    const add = d === 'bool' ? 'O[at] = O[at] || S[i1];' : 'O[at] += S[i1];';
    out.push(`int64_t fm_scatter_${tag[d]}(const int32_t* meta, ${t}* restrict O, const ${t}* restrict S, const int64_t* restrict I, int64_t size, int64_t dstride, int accumulate) {${walk(`const int64_t at = i0 + k * dstride; if (accumulate) { ${add} } else O[at] = S[i1];`, scatterDisjoint)}\n}\n`);
  }
  return out;
}

/** The whole generated translation unit. */
export function generatedSource(): string {
  return [prelude, ...unaryKernels(), ...binaryKernels(), ...copyKernels(), ...reduceKernels(), ...scanKernels(), ...softmaxKernels(), ...crossEntropyKernels(), ...layerNormKernels(), ...randomKernels(), ...optimizerKernels(), ...poolKernels(), ...indexKernels()].join('\n');
}
