// CUDA C of the cuda backend's kernels, one small translation unit per kernel (NVRTC compiles
// each on first use, in milliseconds, and the disk cache keeps it). Elementwise kernels come
// from the same scalar expressions as the cpu's C kernels (../../ops/elementwise.ts), computed
// in double (float32 in float) and stored with the same conversions as on cpu.
// Every kernel takes one FmArgs struct by value: operand pointers (already at their offsets),
// the element count, and the shape and strides of up to 16 (coalesced) dims.
import type { DType } from '../../dtype.js';
import { unaryOps, binaryOps, type UnaryOpName, type BinaryOpName } from '../../ops/elementwise.js';
import { scalarMathC } from '../../ops/scalar_math.js';
import type { ReduceOpName, ScanOpName } from '../interface.js';
// The C element types and the stores (JS typed-array conversions) are the cpu kernels' own.
import { ctype, halfConversionsCore, reduceOutType, store, tag } from '../cpu/codegen.js';

export const MAX_DIMS = 16;
/** Threads per block of every kernel, and elements each thread of an elementwise kernel takes. */
export const BLOCK = 256;
export const PER_THREAD = 4;

/** Byte offsets of FmArgs's fields (index.ts writes the struct from JavaScript). */
export const argsLayout = { p: 0, n: 32, nd: 40, flags: 44, shape: 48, st: 48 + 8 * MAX_DIMS, s: 48 + 40 * MAX_DIMS, i: 80 + 40 * MAX_DIMS, size: 112 + 40 * MAX_DIMS } as const;


const prelude = `
#ifdef __CUDACC_RTC__
typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef int int32_t; typedef unsigned int uint32_t;
typedef long long int64_t; typedef unsigned long long uint64_t;
#else
#include <stdint.h>
#endif
#ifndef INFINITY
#define INFINITY __longlong_as_double(0x7ff0000000000000ULL)
#endif
#ifndef NAN
#define NAN __longlong_as_double(0x7ff8000000000000ULL)
#endif
/* Classification as plain comparisons: the same under NVRTC and nvcc, whatever their headers declare. */
#undef isnan
#undef isinf
#undef isfinite
#define isnan(x) ((x) != (x))
#define isinf(x) (fabs((double)(x)) == INFINITY)
#define isfinite(x) (!isnan(x) && !isinf(x))
#define FM_INT64_MIN (-9223372036854775807LL - 1)
struct FmArgs {
  uint64_t p[4]; int64_t n; int nd; int flags;
  int64_t shape[${MAX_DIMS}]; int64_t st[4][${MAX_DIMS}];
  double s[4]; int64_t i[4];
};
/* The layout index.ts writes from JavaScript (argsLayout); offsets are checked where nvcc compiles (NVRTC has no offsetof). */
static_assert(sizeof(FmArgs) == ${argsLayout.size}, "FmArgs size");
#ifndef __CUDACC_RTC__
#include <stddef.h>
static_assert(offsetof(FmArgs, n) == ${argsLayout.n} && offsetof(FmArgs, flags) == ${argsLayout.flags}, "FmArgs header");
static_assert(offsetof(FmArgs, shape) == ${argsLayout.shape} && offsetof(FmArgs, st) == ${argsLayout.st}, "FmArgs dims");
static_assert(offsetof(FmArgs, s) == ${argsLayout.s} && offsetof(FmArgs, i) == ${argsLayout.i}, "FmArgs scalars");
#endif
${scalarMathC.replace(/static inline/g, 'static __device__ inline')}
static __device__ inline uint32_t fm_f32_bits(float f) { return __float_as_uint(f); }
static __device__ inline float fm_bits_f32(uint32_t u) { return __uint_as_float(u); }
#define FM_HD static __device__ inline
${halfConversionsCore}
/* JS typed-array stores (as the cpu kernels): Int32Array and Uint8Array wrap, NaN and Inf give 0. */
static __device__ inline int32_t fm_i32(double v) {
  if (v > -2147483649.0 && v < 2147483648.0) return (int32_t)v;
  if (!isfinite(v)) return 0;
  double t = fmod(trunc(v), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return (int32_t)(uint32_t)t;
}
static __device__ inline uint8_t fm_u8(double v) {
  if (v > -1.0 && v < 256.0) return (uint8_t)v;
  if (!isfinite(v)) return 0;
  double t = fmod(trunc(v), 256.0);
  if (t < 0) t += 256.0;
  return (uint8_t)t;
}
static __device__ inline int64_t fm_i64(double v) {
  return (isfinite(v) && fabs(v) < 9223372036854775808.0) ? (int64_t)v : FM_INT64_MIN;
}
/* PER_THREAD neighbouring elements, moved with one vector access. */
template <typename T> struct alignas(sizeof(T) * ${PER_THREAD}) fm_vec { T v[${PER_THREAD}]; };
/* Atomic out[0] += v for every dtype (bytes through a compare-and-swap on their 32-bit word). */
static __device__ inline void fm_atomic_add(float* p, float v) { atomicAdd(p, v); }
static __device__ inline void fm_atomic_add(double* p, double v) { atomicAdd(p, v); }
static __device__ inline void fm_atomic_add(int32_t* p, int32_t v) { atomicAdd((int*)p, (int)v); }
static __device__ inline void fm_atomic_add(int64_t* p, int64_t v) { atomicAdd((unsigned long long*)p, (unsigned long long)v); }
static __device__ inline void fm_atomic_add_u8(uint8_t* p, uint8_t v, int is_bool) {
  unsigned int* w = (unsigned int*)((uint64_t)p & ~(uint64_t)3);
  const unsigned int shift = ((uint64_t)p & 3) * 8;
  unsigned int old = *w, assumed;
  do {
    assumed = old;
    const unsigned int b = (assumed >> shift) & 0xff;
    const unsigned int nb = is_bool ? ((b | v) != 0) : ((b + v) & 0xff);
    old = atomicCAS(w, assumed, (assumed & ~(0xffu << shift)) | (nb << shift));
  } while (old != assumed);
}
`;


/** Offsets i0.. of flat element j for k operands, from the shape and strides (div/mod per dim). */
function offsets(k: number, j: string): string {
  const ks = [...Array(k).keys()];
  return `int64_t ${ks.map((q) => `i${q} = 0`).join(', ')}; { int64_t rem_ = ${j};
      for (int d = a.nd - 1; d >= 0; d--) { const int64_t s_ = a.shape[d], q_ = rem_ / s_, x_ = rem_ - q_ * s_; rem_ = q_; ${ks.map((q) => `i${q} += x_ * a.st[${q}][d];`).join(' ')} } }`;
}

type Body = (ref: (q: number) => string) => string;

/**
 * An elementwise kernel over k operands (P0 written). flags bit 0: every operand contiguous (each
 * thread takes PER_THREAD elements a block apart: coalesced, independent loads in flight); bit 1:
 * also aligned to PER_THREAD elements, so that each thread moves PER_THREAD neighbours with one
 * vector load or store per operand (16 bytes of float32), as the memory system likes best.
 */
function elementwise(name: string, types: readonly DType[], body: Body): string {
  const k = types.length;
  const ks = [...Array(k).keys()];
  const scalar = body((q) => `P${q}[i${q}]`);
  const flat = (j: string) => `${ks.map((q) => `const int64_t i${q} = ${j};`).join(' ')} ${scalar}`;
  const ptrs = types.map((d, q) => (q === 0 ? `${ctype[d]}* P0 = (${ctype[d]}*)a.p[0];` : `const ${ctype[d]}* P${q} = (const ${ctype[d]}*)a.p[${q}];`)).join(' ');
  const vecLoads = types.map((d, q) => (q === 0 ? `fm_vec<${ctype[d]}> v0;` : `const fm_vec<${ctype[d]}> v${q} = *(const fm_vec<${ctype[d]}>*)(P${q} + j0);`)).join(' ');
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ptrs}
  const double p0 = a.s[0], p1 = a.s[1], p2 = a.s[2]; (void)p0; (void)p1; (void)p2;
  if (a.flags & 2) {
    const int64_t j0 = ((int64_t)blockIdx.x * ${BLOCK} + threadIdx.x) * ${PER_THREAD};
    if (j0 + ${PER_THREAD} <= a.n) {
      ${vecLoads}
      #pragma unroll
      for (int u = 0; u < ${PER_THREAD}; u++) { ${body((q) => `v${q}.v[u]`)} }
      *(fm_vec<${ctype[types[0]!]}>*)(P0 + j0) = v0;
    } else {
      for (int64_t j = j0; j < a.n; j++) { ${flat('j')} }
    }
    return;
  }
  const int64_t base = (int64_t)blockIdx.x * (${BLOCK * PER_THREAD}) + threadIdx.x;
  if (a.flags & 1) {
    #pragma unroll
    for (int u = 0; u < ${PER_THREAD}; u++) {
      const int64_t j = base + u * ${BLOCK};
      if (j < a.n) { ${flat('j')} }
    }
  } else {
    for (int u = 0; u < ${PER_THREAD}; u++) {
      const int64_t j = base + u * ${BLOCK};
      if (j < a.n) { ${offsets(k, 'j')} ${scalar} }
    }
  }
}
`;
}

export type KernelSpec =
  | { kind: 'unary'; op: UnaryOpName; dtype: DType }
  | { kind: 'binary'; op: BinaryOpName; dtype: DType }
  | { kind: 'copy'; out: DType; in: DType }
  | { kind: 'fill'; dtype: DType }
  | { kind: 'where'; dtype: DType }
  | { kind: 'reduce'; op: ReduceOpName; in: DType; out: DType }
  | { kind: 'scan'; op: ScanOpName; dtype: DType }
  | { kind: 'softmax' | 'softmaxBackward'; dtype: DType }
  | { kind: 'gather' | 'scatter' | 'accumulate' | 'random' | 'matmul'; dtype: DType };

/** The kernel's (and its cache file's) name. */
export function kernelName(s: KernelSpec): string {
  switch (s.kind) {
    case 'unary': case 'binary': return `fm_${s.kind[0]}_${s.op}_${tag[s.dtype]}`;
    case 'copy': return `fm_copy_${tag[s.out]}_${tag[s.in]}`;
    case 'reduce': return `fm_r_${s.op}_${tag[s.in]}_${tag[s.out]}`;
    case 'scan': return `fm_s_${s.op}_${tag[s.dtype]}`;
    case 'softmaxBackward': return `fm_softmax_backward_${tag[s.dtype]}`;
    default: return `fm_${s.kind}_${tag[s.dtype]}`;
  }
}


/**
 * The type an expression computes in: float for float32 (as PyTorch's CUDA kernels: the float
 * versions of exp, tanh, erf... are several times cheaper than the double ones, and add, mul,
 * div and sqrt round the same either way), double for everything else (exact for int32 and for
 * int64 up to 2^53, as on cpu).
 */
function mathType(d: DType): string {
  return d === 'float32' ? 'float' : 'double';
}

/** The kernel's own code (without the prelude). */
export function kernelBody(s: KernelSpec): string {
  const name = kernelName(s);
  switch (s.kind) {
    case 'unary': {
      const def = unaryOps[s.op];
      const o = def.dtype === 'bool' ? 'bool' : s.dtype;
      return elementwise(name, [o, s.dtype], (r) => `{ const ${mathType(s.dtype)} x = (${mathType(s.dtype)})${r(1)}; ${r(0)} = ${store(o, def.expr)}; }`);
    }
    case 'binary': {
      const def = binaryOps[s.op];
      const o = def.dtype === 'bool' ? 'bool' : s.dtype;
      return elementwise(name, [o, s.dtype, s.dtype], (r) => `{ const ${mathType(s.dtype)} x = (${mathType(s.dtype)})${r(1)}, y = (${mathType(s.dtype)})${r(2)}; ${r(0)} = ${store(o, def.expr)}; }`);
    }
    case 'copy':
      return elementwise(name, [s.out, s.in], (r) => (s.out === s.in ? `${r(0)} = ${r(1)};` : `${r(0)} = ${store(s.out, widen(s.in, r(1)))};`));
    case 'fill':
      return elementwise(name, [s.dtype], (r) => `${r(0)} = ${store(s.dtype, 'p0')};`);
    case 'where':
      return elementwise(name, [s.dtype, 'bool', s.dtype, s.dtype], (r) => `${r(0)} = ${r(1)} ? ${r(2)} : ${r(3)};`);
    case 'reduce': return reduceKernel(name, s.op, s.in, s.out);
    case 'scan': return scanKernel(name, s.op, s.dtype);
    case 'softmax': return softmaxKernel(name, s.dtype);
    case 'softmaxBackward': return softmaxBackwardKernel(name, s.dtype);
    case 'gather': case 'scatter': return indexKernel(name, s.kind, s.dtype);
    case 'accumulate': return accumulateKernel(name, s.dtype);
    case 'random': return randomKernel(name, s.dtype);
    case 'matmul': return matmulKernel(name, s.dtype);
  }
}

/** A whole translation unit for one kernel. */
export function kernelSource(s: KernelSpec): string {
  return prelude + kernelBody(s);
}

// Reductions: the accumulator is a double (an exact uint64 for integer sums and products) with an
// index for argmax/argmin. `step` folds in value v at reduced position r; `merge` folds in another
// thread's (b, barg), which covers later positions only when ties are broken by the lower index.
const better = (cmp: string) => `((acc != acc) ? (b != b && barg < arg) : ((b != b) || (b ${cmp} acc) || (b == acc && barg < arg)))`;
const reducers: Record<ReduceOpName, { init: string; merge: string }> = {
  sum: { init: '0', merge: 'acc += b;' },
  prod: { init: '1', merge: 'acc *= b;' },
  // NaN propagates: once acc is NaN nothing replaces it.
  max: { init: '-INFINITY', merge: 'if (acc == acc && (b != b || b > acc)) acc = b;' },
  min: { init: 'INFINITY', merge: 'if (acc == acc && (b != b || b < acc)) acc = b;' },
  argmax: { init: '-INFINITY', merge: `if (${better('>')}) { acc = b; arg = barg; }` },
  argmin: { init: 'INFINITY', merge: `if (${better('<')}) { acc = b; arg = barg; }` },
  all: { init: '1', merge: 'acc = (acc != 0 && b != 0) ? 1 : 0;' },
  any: { init: '0', merge: 'acc = (acc != 0 || b != 0) ? 1 : 0;' },
};

/** Integer sums and products are exact in 64-bit two's complement (PyTorch's); the rest accumulate in double. */
export function exactReduce(op: ReduceOpName, inDtype: DType): boolean {
  return (op === 'sum' || op === 'prod') && reduceOutType(op, inDtype) === 'int64';
}

/**
 * meta: shape[0..nk) = kept dims, shape[nk..nd) = reduced dims; st[0] = x strides of all dims,
 * st[1] = out strides of the kept dims. i[0] = nk, i[1] = chunks per output, i[2] = outputs,
 * i[3] = reduced elements. flags bit 0: a block per (output, chunk) (else a thread per output);
 * bit 1: write partial accumulators to P0[o * chunks + c] (the first of two passes).
 */
function reduceKernel(name: string, op: ReduceOpName, inD: DType, outD: DType): string {
  const exact = exactReduce(op, inD);
  const acc = exact ? 'uint64_t' : 'double';
  const conv = exact ? '(uint64_t)(int64_t)' : '(double)';
  const r = reducers[op];
  const isArg = op === 'argmax' || op === 'argmin';
  const result = isArg ? 'arg' : exact ? '(int64_t)acc' : store(outD, 'acc');
  return `static __device__ inline void fm_merge(${acc}& acc, int64_t& arg, ${acc} b, int64_t barg) { (void)arg; (void)barg; ${r.merge} }
extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[outD]}* P0 = (${ctype[outD]}*)a.p[0];
  const ${ctype[inD]}* P1 = (const ${ctype[inD]}*)a.p[1];
  const int nk = (int)a.i[0], nr = a.nd - nk;
  const int64_t chunks = a.i[1], nout = a.i[2], nred = a.i[3];
  const bool block = a.flags & 1, partial = a.flags & 2;
  const int64_t units = block ? nout * chunks : nout;
  const int64_t first = block ? blockIdx.x : (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x;
  const int64_t step = block ? gridDim.x : (int64_t)gridDim.x * ${BLOCK};
  __shared__ ${acc} sacc[${BLOCK}];
  __shared__ int64_t sarg[${BLOCK}];
  for (int64_t unit = first; unit < units; unit += step) {
    const int64_t o = block ? unit / chunks : unit, c = block ? unit - o * chunks : 0;
    int64_t xb = 0, ob = 0;
    { int64_t rem = o; for (int d = nk - 1; d >= 0; d--) { const int64_t q = rem / a.shape[d], x = rem - q * a.shape[d]; rem = q; xb += x * a.st[0][d]; ob += x * a.st[1][d]; } }
    const int64_t lo = nred * c / chunks, hi = nred * (c + 1) / chunks;
    ${acc} acc = ${r.init}; int64_t arg = 0;
    int64_t rr = lo + (block ? threadIdx.x : 0);
    const int64_t inc = block ? ${BLOCK} : 1;
    if (nr == 1) {
      /* Four loads in flight per thread; merged in order, so the first extreme still wins. */
      const int64_t st = a.st[0][nk];
      for (; rr + 3 * inc < hi; rr += 4 * inc) {
        const ${acc} v0 = ${conv}P1[xb + rr * st], v1 = ${conv}P1[xb + (rr + inc) * st], v2 = ${conv}P1[xb + (rr + 2 * inc) * st], v3 = ${conv}P1[xb + (rr + 3 * inc) * st];
        fm_merge(acc, arg, v0, rr); fm_merge(acc, arg, v1, rr + inc); fm_merge(acc, arg, v2, rr + 2 * inc); fm_merge(acc, arg, v3, rr + 3 * inc);
      }
    }
    for (; rr < hi; rr += inc) {
      int64_t xo = xb;
      if (nr == 1) xo += rr * a.st[0][nk];
      else { int64_t rem = rr; for (int d = a.nd - 1; d >= nk; d--) { const int64_t q = rem / a.shape[d], x = rem - q * a.shape[d]; rem = q; xo += x * a.st[0][d]; } }
      fm_merge(acc, arg, ${conv}P1[xo], rr);
    }
    if (block) {
      sacc[threadIdx.x] = acc; sarg[threadIdx.x] = arg;
      __syncthreads();
      for (int w = ${BLOCK / 2}; w > 0; w >>= 1) {
        if (threadIdx.x < w) { fm_merge(acc, arg, sacc[threadIdx.x + w], sarg[threadIdx.x + w]); sacc[threadIdx.x] = acc; sarg[threadIdx.x] = arg; }
        __syncthreads();
      }
      if (threadIdx.x != 0) continue;
    }
    if (partial) ((${acc}*)a.p[0])[o * chunks + c] = acc;
    else P0[ob] = ${result};
  }
}
`;
}

/** A thread per row: shape/st[0]/st[1] = the other dims, x and out strides; i[0..3) = length, x and out stride along the dim. */
function scanKernel(name: string, op: ScanOpName, d: DType): string {
  const o = reduceOutType('sum', d);
  const exact = o === 'int64';
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[o]}* P0 = (${ctype[o]}*)a.p[0];
  const ${ctype[d]}* P1 = (const ${ctype[d]}*)a.p[1];
  const int64_t e = (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x;
  if (e >= a.n) return;
  ${offsets(2, 'e')}
  ${exact ? 'uint64_t' : 'double'} acc = ${op === 'cumsum' ? 0 : 1};
  for (int64_t j = 0; j < a.i[0]; j++) {
    acc ${op === 'cumsum' ? '+=' : '*='} ${exact ? '(uint64_t)(int64_t)' : '(double)'}P1[i0 + j * a.i[1]];
    P0[i1 + j * a.i[2]] = ${exact ? '(int64_t)acc' : store(o, 'acc')};
  }
}
`;
}

/** Rows (slices along the softmax dim) per block: a warp each. */
export const SOFTMAX_ROWS_PER_BLOCK = BLOCK / 32;

/**
 * The start of the softmax kernels: a warp per slice along the dim (a.n slices; shape and st[q] =
 * the other dims and operand q's strides there; i[0] = the slice length, i[1 + q] = operand q's
 * stride along it), each lane taking every 32nd element; sums and maxima in the dtype's math type
 * (float for float32, as PyTorch's), then combined across the warp by shuffles.
 */
function softmaxRowStart(k: number): string {
  return `const int64_t row = (int64_t)blockIdx.x * ${SOFTMAX_ROWS_PER_BLOCK} + (threadIdx.x >> 5);
  if (row >= a.n) return; /* the whole warp: it shares the row */
  const int lane = threadIdx.x & 31;
  const int64_t len = a.i[0];
  ${offsets(k, 'row')}`;
}

const warpSum = (v: string) => `for (int o_ = 16; o_ > 0; o_ >>= 1) ${v} += __shfl_xor_sync(0xffffffffu, ${v}, o_);`;

/**
 * softmax (log-softmax when flags bit 0) of P1 into P0, as the composite: the max (NaN if the slice
 * has one; an infinite max counts as 0, so a slice of -inf gives NaN and never inf - inf), the sum
 * of exp(x - max), then exp(x - max) / sum or x - max - log(sum).
 */
function softmaxKernel(name: string, d: DType): string {
  const m = mathType(d);
  const [exp, log] = d === 'float32' ? ['expf', 'logf'] : ['exp', 'log'];
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[d]}* P0 = (${ctype[d]}*)a.p[0];
  const ${ctype[d]}* P1 = (const ${ctype[d]}*)a.p[1];
  ${softmaxRowStart(2)}
  const int64_t os = a.i[1], xs = a.i[2];
  ${m} mx = -INFINITY; int nan_ = 0;
  for (int64_t j = lane; j < len; j += 32) { const ${m} v = (${m})P1[i1 + j * xs]; mx = v > mx ? v : mx; nan_ |= v != v; }
  for (int o_ = 16; o_ > 0; o_ >>= 1) { const ${m} t = __shfl_xor_sync(0xffffffffu, mx, o_); mx = t > mx ? t : mx; }
  nan_ = __any_sync(0xffffffffu, nan_);
  mx = nan_ ? (${m})NAN : (isinf(mx) ? (${m})0 : mx);
  ${m} s = 0;
  for (int64_t j = lane; j < len; j += 32) s += ${exp}((${m})P1[i1 + j * xs] - mx);
  ${warpSum('s')}
  if (a.flags & 1) {
    const ${m} shift = mx + ${log}(s);
    for (int64_t j = lane; j < len; j += 32) P0[i0 + j * os] = (${ctype[d]})((${m})P1[i1 + j * xs] - shift);
  } else {
    for (int64_t j = lane; j < len; j += 32) P0[i0 + j * os] = (${ctype[d]})(${exp}((${m})P1[i1 + j * xs] - mx) / s);
  }
}
`;
}

/** The gradient of softmax (log-softmax when flags bit 0), from the output y (P1) and the incoming gradient g (P2) into P0. */
function softmaxBackwardKernel(name: string, d: DType): string {
  const m = mathType(d);
  const exp = d === 'float32' ? 'expf' : 'exp';
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[d]}* P0 = (${ctype[d]}*)a.p[0];
  const ${ctype[d]}* P1 = (const ${ctype[d]}*)a.p[1];
  const ${ctype[d]}* P2 = (const ${ctype[d]}*)a.p[2];
  ${softmaxRowStart(3)}
  const int64_t os = a.i[1], ys = a.i[2], gs = a.i[3];
  const bool lg = a.flags & 1;
  ${m} s = 0;
  for (int64_t j = lane; j < len; j += 32) s += lg ? (${m})P2[i2 + j * gs] : (${m})P2[i2 + j * gs] * (${m})P1[i1 + j * ys];
  ${warpSum('s')}
  for (int64_t j = lane; j < len; j += 32) {
    const ${m} y = (${m})P1[i1 + j * ys], g = (${m})P2[i2 + j * gs];
    P0[i0 + j * os] = (${ctype[d]})(lg ? g - ${exp}(y) * s : y * (g - s));
  }
}
`;
}

/**
 * A thread per index element. st[0] = out strides, st[1] = x (or src) strides, st[2] = index
 * strides, with the indexed dim's stride zeroed in the indexed tensor's; i[0] = its size along the
 * dim, i[1] = its stride there, i[2] = accumulate. An out-of-range index records the lowest bad
 * position in p[3] (a uint64 that holds all ones otherwise).
 */
function indexKernel(name: string, kind: 'gather' | 'scatter', d: DType): string {
  const t = ctype[d];
  const add = d === 'bool' || d === 'uint8' ? `fm_atomic_add_u8(&O[at], S[i1], ${d === 'bool' ? 1 : 0});` : 'fm_atomic_add(&O[at], S[i1]);';
  const body = kind === 'gather'
    ? 'O[i0] = X[i1 + k * a.i[1]];'
    : `const int64_t at = i0 + k * a.i[1]; if (a.i[2]) { ${add} } else O[at] = S[i1];`;
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${t}* O = (${t}*)a.p[0];
  const ${t}* ${kind === 'gather' ? 'X' : 'S'} = (const ${t}*)a.p[1];
  const int64_t* I = (const int64_t*)a.p[2];
  const int64_t e = (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x;
  if (e >= a.n) return;
  ${offsets(3, 'e')}
  const int64_t k = I[i2];
  if (k < 0 || k >= a.i[0]) { atomicMin((unsigned long long*)a.p[3], (unsigned long long)e); return; }
  ${body}
}
`;
}

/** out[i0] += src[i1], a thread per element, atomically (windows of out may overlap). */
function accumulateKernel(name: string, d: DType): string {
  const add = d === 'bool' || d === 'uint8' ? `fm_atomic_add_u8(&P0[i0], P1[i1], ${d === 'bool' ? 1 : 0});` : 'fm_atomic_add(&P0[i0], P1[i1]);';
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[d]}* P0 = (${ctype[d]}*)a.p[0];
  const ${ctype[d]}* P1 = (const ${ctype[d]}*)a.p[1];
  const int64_t e = (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x;
  if (e >= a.n) return;
  ${offsets(2, 'e')}
  ${add}
}
`;
}

/**
 * The ts backend's Philox4x32-10 draws (backend/ts/philox.ts), element for element: counter =
 * i[0] + e, key = i[1]; s = (a, b, the largest value below b); flags bit 0: normal.
 */
function randomKernel(name: string, d: DType): string {
  const uniform = d === 'float32'
    ? 'double v = (double)(float)(a.s[0] + (double)(w0 >> 8) * (1.0 / 16777216.0) * (a.s[1] - a.s[0])); P0[e] = (float)(v >= a.s[1] ? a.s[2] : v);'
    : 'double v = a.s[0] + fm_u53(w0, w1) * (a.s[1] - a.s[0]); P0[e] = v >= a.s[1] ? a.s[2] : v;';
  return `static __device__ inline double fm_u53(uint32_t w0, uint32_t w1) {
  return ((double)(w0 >> 5) * 67108864.0 + (double)(w1 >> 6)) * (1.0 / 9007199254740992.0);
}
extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${ctype[d]}* P0 = (${ctype[d]}*)a.p[0];
  const int64_t e = (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x;
  if (e >= a.n) return;
  const uint64_t ctr = (uint64_t)a.i[0] + (uint64_t)e, key = (uint64_t)a.i[1];
  uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0, k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  #pragma unroll
  for (int r = 0; r < 10; r++) {
    const uint32_t hi0 = __umulhi(c0, 0xd2511f53u), lo0 = c0 * 0xd2511f53u;
    const uint32_t hi1 = __umulhi(c2, 0xcd9e8d57u), lo1 = c2 * 0xcd9e8d57u;
    c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
    k0 += 0x9e3779b9u; k1 += 0xbb67ae85u;
  }
  const uint32_t w0 = c0, w1 = c1, w2 = c2, w3 = c3; (void)w1; (void)w2; (void)w3;
  if (a.flags & 1) {
    const double u1 = 1.0 - fm_u53(w0, w1), u2 = fm_u53(w2, w3);
    P0[e] = (${ctype[d]})(a.s[0] + a.s[1] * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  } else { ${uniform} }
}
`;
}

/**
 * Integer matrix products (floats go to cuBLAS): a thread per output element, exact in 64 bits
 * for int64 (wrapping as PyTorch's), one batch per grid row. i[0..3) = m, n, k; st[q][0..3) =
 * row, column and batch strides of out, a, b.
 */
function matmulKernel(name: string, d: DType): string {
  const t = ctype[d];
  const acc = d === 'int64' ? 'uint64_t' : d === 'float32' || d === 'float64' ? 'double' : 'int64_t';
  return `extern "C" __global__ void __launch_bounds__(${BLOCK}) ${name}(const FmArgs a) {
  ${t}* C = (${t}*)a.p[0];
  const ${t}* A = (const ${t}*)a.p[1];
  const ${t}* B = (const ${t}*)a.p[2];
  const int64_t m = a.i[0], n = a.i[1], k = a.i[2];
  const int64_t e = (int64_t)blockIdx.x * ${BLOCK} + threadIdx.x, bt = blockIdx.y;
  if (e >= m * n) return;
  const int64_t r = e / n, c = e - r * n;
  const ${t}* Ar = A + bt * a.st[1][2] + r * a.st[1][0];
  const ${t}* Bc = B + bt * a.st[2][2] + c * a.st[2][1];
  ${acc} acc = 0;
  for (int64_t j = 0; j < k; j++) acc += (${acc})Ar[j * a.st[1][1]] * (${acc})Bc[j * a.st[2][0]];
  C[bt * a.st[0][2] + r * a.st[0][0] + c * a.st[0][1]] = (${t})${d === 'bool' ? '(acc != 0)' : 'acc'};
}
`;
}

const allTypes: DType[] = ['float32', 'float64', 'int32', 'int64', 'uint8', 'bool'];
const floatTypes: DType[] = ['float32', 'float64'];
/** Element `x` of dtype `d` as a number: float16 / bfloat16 bits decoded (the only pairs asked of them are with float32). */
function widen(d: DType, x: string): string {
  return d === 'float16' ? `fm_h2f(${x})` : d === 'bfloat16' ? `fm_bf2f(${x})` : `(double)${x}`;
}

/** Every kernel the backend can ask for, for compile checks (nvcc -ptx in the tests). */
export function allKernelSpecs(): KernelSpec[] {
  const specs: KernelSpec[] = [];
  for (const [op, def] of Object.entries(unaryOps)) for (const dtype of def.dtype === 'float' ? floatTypes : allTypes) specs.push({ kind: 'unary', op: op as UnaryOpName, dtype });
  for (const [op, def] of Object.entries(binaryOps)) for (const dtype of def.dtype === 'float' ? floatTypes : allTypes) specs.push({ kind: 'binary', op: op as BinaryOpName, dtype });
  for (const o of allTypes) for (const i of allTypes) specs.push({ kind: 'copy', out: o, in: i });
  // float16 / bfloat16: copies with float32 and themselves; everything else runs in float32 (../reduced_float.ts).
  // fill: the matmul of an empty inner dim (cuBLAS multiplies these dtypes itself).
  for (const h of ['float16', 'bfloat16'] as const) specs.push({ kind: 'copy', out: h, in: h }, { kind: 'copy', out: h, in: 'float32' }, { kind: 'copy', out: 'float32', in: h }, { kind: 'fill', dtype: h });
  for (const op of Object.keys(reducers) as ReduceOpName[]) {
    for (const d of allTypes) {
      const out = reduceOutType(op, d);
      specs.push({ kind: 'reduce', op, in: d, out });
      const accType: DType = exactReduce(op, d) ? 'int64' : 'float64';
      if (op !== 'argmax' && op !== 'argmin' && accType !== out) specs.push({ kind: 'reduce', op, in: accType, out });
    }
  }
  for (const d of allTypes) {
    specs.push({ kind: 'fill', dtype: d }, { kind: 'where', dtype: d }, { kind: 'gather', dtype: d }, { kind: 'scatter', dtype: d }, { kind: 'accumulate', dtype: d }, { kind: 'matmul', dtype: d });
    specs.push({ kind: 'scan', op: 'cumsum', dtype: d }, { kind: 'scan', op: 'cumprod', dtype: d });
  }
  for (const d of floatTypes) specs.push({ kind: 'random', dtype: d }, { kind: 'softmax', dtype: d }, { kind: 'softmaxBackward', dtype: d });
  return specs;
}

/** One translation unit holding every kernel (duplicate kernel names are dropped). */
export function allKernelsSource(): string {
  const seen = new Set<string>();
  const bodies: string[] = [];
  for (const s of allKernelSpecs()) {
    const name = kernelName(s);
    if (seen.has(name)) continue;
    seen.add(name);
    // fm_merge / fm_u53 helpers are per-kernel: give each its own namespace in the joint unit.
    bodies.push(`namespace ${name}_ns {\n${kernelBody(s)}}\n`);
  }
  return prelude + bodies.join('\n');
}
