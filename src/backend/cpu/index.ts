// The cpu backend with native kernels: the ts backend's storage (typed arrays the garbage
// collector owns) with C kernels for the elementwise ops, casts, reductions, scans, gather/scatter,
// GEMM, convolution and random numbers (the ts streams to the bit). argsort stays in TypeScript.
import * as fs from 'node:fs';
import type { Backend, ConvGeometry, ReduceOpName, ScanOpName, View } from '../interface.js';
import type { UnaryOpName, BinaryOpName } from '../../ops/elementwise.js';
import { IndexError, OutOfMemoryError } from '../../errors.js';
import { tsBackend, type TsStorage } from '../ts/index.js';
import { checkRandomRange, float32Below, float64Below } from '../ts/philox.js';
import { coalesce, forEachOffset, isContiguous, offsetAt } from '../ts/loops.js';
import { reduceOutType, tag } from './codegen.js';
import { loadNative, type NativeLib } from './native.js';

type V = View<TsStorage>;
type Kernel = (...args: unknown[]) => unknown;

const INT32_MAX = 2147483647;
const crossEntropyReductions = { none: 0, sum: 1, mean: 2 } as const;
/**
 * Below this many elements the ts kernels run instead: below a few dozen elements a call through
 * koffi (about 0.2 us) saves nothing, and V8 keeps typed arrays of up to 64 bytes on its heap, which
 * koffi must first move off it (so do 32 one- or two-byte elements; they work, at that cost).
 * Above it C wins even at small sizes: at 128 elements a gather took 0.6 us in C and 4.0 in
 * TypeScript (int64 indices read as BigInt), a sum 0.6 against 1.0, exp 0.2 against 1.3.
 * FIAMMA_CPU_NATIVE_MIN=0 sends everything to C (the tests do, to check the C kernels).
 */
const nativeMin = Number(process.env.FIAMMA_CPU_NATIVE_MIN ?? 32);

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
/** Shapes and strides travel to C as int32 in one reused buffer (JS runs one call at a time). */
const meta = new Int32Array(4096);
/** The hyper-parameters of a fused optimizer step (one reused buffer, as meta). */
const hyper = new Float64Array(16);
/** The sizes of a pooling call. */
const poolArgs = new BigInt64Array(18);
/** A convolution's geometry, in conv.c's order. */
const convArgs = new BigInt64Array(16);

function convGeometry(x: V, w: V, g: ConvGeometry): void {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [oc, , kh, kw] = w.shape as [number, number, number, number];
  convArgs.set([n, c, h, wd, oc, g.out[0], g.out[1], kh, kw, ...g.stride, ...g.padding, ...g.dilation, g.groups].map(BigInt));
}

/** The typed array of a view, moved to its offset (C indexes from there, negative strides included). */
function ptr(v: V): unknown {
  const d = v.storage.data;
  return v.offset === 0 ? d : d.subarray(v.offset);
}

/** Writes [nd, shape, strides of each view] for views of one shape; false when a size does not fit int32. */
function elementwiseMeta(views: readonly V[]): boolean {
  const shape = views[0]!.shape;
  let n = 1;
  for (const s of shape) n *= s;
  if (n > INT32_MAX) return false;
  let contiguous = true;
  for (const v of views) if (!isContiguous(v)) contiguous = false;
  if (contiguous) {
    meta[0] = 1;
    meta[1] = n;
    for (let i = 0; i < views.length; i++) meta[2 + i] = 1;
    return true;
  }
  const c = coalesce(shape, views.map((v) => v.strides));
  const nd = c.shape.length;
  meta[0] = nd;
  let at = 1;
  for (const s of c.shape) meta[at++] = s;
  for (const st of c.strides) for (const s of st) {
    if (Math.abs(s) > INT32_MAX) return false;
    meta[at++] = s;
  }
  return true;
}

/** The native cpu backend, built on `lib`. */
export function makeCpuBackend(lib: NativeLib): Backend<TsStorage> {
  const P = 'void*';
  // Kernels by group and dtype key in nested maps: the C name is built only on the first call
  // (building it per call costs more than the call itself).
  const cache = new Map<string, Map<string, Kernel>>();
  const kernel = (group: string, key: string, name: () => string, result: string, args: readonly string[]): Kernel => {
    let m = cache.get(group);
    if (!m) cache.set(group, (m = new Map()));
    let k = m.get(key);
    if (!k) m.set(key, (k = lib.fn(name(), result, args) as unknown as Kernel));
    return k;
  };
  const params = new Float64Array(3);
  const setThreads = lib.fn('fm_set_threads', 'void', ['int']) as unknown as (n: number) => void;
  (lib.fn('fm_set_stream_min', 'void', ['int64_t']) as unknown as (bytes: number) => void)(lastLevelCacheBytes() ?? 0);
  const tile: GemmTile = { mr: (lib.fn('fm_gemm_mr', 'int', []) as unknown as () => number)(), nr: (lib.fn('fm_gemm_nr', 'int', []) as unknown as () => number)() };
  let threads = 1;

  const backend: Backend<TsStorage> & { setThreads(n: number): void } = {
    ...tsBackend,
    name: 'cpu',
    setThreads(n: number) {
      threads = n;
      setThreads(n);
    },
    copy(out, x) {
      if (numel(out.shape) < nativeMin || !elementwiseMeta([out, x])) return tsBackend.copy(out, x);
      kernel(out.dtype, x.dtype, () => `fm_copy_${tag[out.dtype]}_${tag[x.dtype]}`, 'void', [P, P, P])(meta, ptr(out), ptr(x));
    },
    fill(out, value) {
      if (numel(out.shape) < nativeMin || !elementwiseMeta([out])) return tsBackend.fill(out, value);
      kernel('fill', out.dtype, () => `fm_fill_${tag[out.dtype]}`, 'void', [P, P, 'double'])(meta, ptr(out), value);
    },
    unary(op: UnaryOpName, out, x, p) {
      if (numel(out.shape) < nativeMin || !elementwiseMeta([out, x])) return tsBackend.unary(op, out, x, p);
      params[0] = p[0] ?? 0;
      params[1] = p[1] ?? 0;
      params[2] = p[2] ?? 0;
      kernel(op, x.dtype, () => `fm_u_${op}_${tag[x.dtype]}`, 'void', [P, P, P, P])(meta, ptr(out), ptr(x), params);
    },
    binary(op: BinaryOpName, out, a, b) {
      if (numel(out.shape) < nativeMin || !elementwiseMeta([out, a, b])) return tsBackend.binary(op, out, a, b);
      kernel(op, a.dtype, () => `fm_b_${op}_${tag[a.dtype]}`, 'void', [P, P, P, P])(meta, ptr(out), ptr(a), ptr(b));
    },
    where(out, cond, a, b) {
      if (numel(out.shape) < nativeMin || a.dtype !== out.dtype || b.dtype !== out.dtype || !elementwiseMeta([out, cond, a, b])) return tsBackend.where(out, cond, a, b);
      kernel('where', out.dtype, () => `fm_where_${tag[out.dtype]}`, 'void', [P, P, P, P, P])(meta, ptr(out), ptr(cond), ptr(a), ptr(b));
    },
    reduce(op: ReduceOpName, out, x, dims) {
      if (numel(x.shape) < nativeMin || out.dtype !== reduceOutType(op, x.dtype) || !reduceMeta(out, x, dims)) return tsBackend.reduce(op, out, x, dims);
      kernel(`r${op}`, x.dtype, () => `fm_r_${op}_${tag[x.dtype]}`, 'void', [P, P, P])(meta, ptr(out), ptr(x));
    },
    scan(op: ScanOpName, out, x, dim) {
      const others = [...x.shape.keys()].filter((d) => d !== dim);
      if (numel(x.shape) < nativeMin || !keptMeta(others, [x, out], 0)) return tsBackend.scan(op, out, x, dim);
      kernel(`s${op}`, x.dtype, () => `fm_s_${op}_${tag[x.dtype]}`, 'void', [P, P, P, 'int64_t', 'int64_t', 'int64_t'])(meta, ptr(out), ptr(x), x.shape[dim]!, x.strides[dim]!, out.strides[dim]!);
    },
    adamStep(p, grad, m, v, vmax, h) {
      hyper.set([h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.decoupled ? 1 : 0, h.maximize ? 1 : 0, h.amsgrad ? 1 : 0, h.stepSize, h.bc2Sqrt]);
      const n = numel(p.shape);
      kernel('adam', p.dtype, () => `fm_adam_${tag[p.dtype]}`, 'void', ['int64_t', P, P, P, P, P, P])(n, ptr(p), ptr(grad), ptr(m), ptr(v), vmax ? ptr(vmax) : null, hyper);
    },
    sgdStep(p, grad, buf, h) {
      hyper.set([h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov ? 1 : 0, h.maximize ? 1 : 0, h.first ? 1 : 0]);
      kernel('sgd', p.dtype, () => `fm_sgd_${tag[p.dtype]}`, 'void', ['int64_t', P, P, P, P])(numel(p.shape), ptr(p), ptr(grad), buf ? ptr(buf) : null, hyper);
    },
    maxPool2d(out, indices, x, k, s, p, d) {
      poolArgs.set([...x.shape, out.shape[2]!, out.shape[3]!, ...k, ...s, ...p, ...d, ...x.strides].map(BigInt));
      kernel('maxpool2d', x.dtype, () => `fm_maxpool2d_${tag[x.dtype]}`, 'void', [P, P, P, P])(poolArgs, ptr(x), ptr(out), ptr(indices));
    },
    random(out, dist, seed, offset, a, b) {
      const n = numel(out.shape);
      // Arrays too small to pay for the call run in TypeScript (the same streams).
      if (n < nativeMin) return tsBackend.random(out, dist, seed, offset, a, b);
      checkRandomRange(offset, n);
      const s = BigInt.asUintN(64, seed);
      if (dist === 'normal') {
        kernel('normal', out.dtype, () => `fm_normal_${tag[out.dtype]}`, 'void', ['int64_t', P, 'uint32_t', 'uint32_t', 'int64_t', 'double', 'double'])(
          n, ptr(out), Number(s & 0xffffffffn), Number(s >> 32n), offset, a, b);
        return;
      }
      const cap = out.dtype === 'float32' ? float32Below(b) : float64Below(b);
      kernel('uniform', out.dtype, () => `fm_uniform_${tag[out.dtype]}`, 'void', ['int64_t', P, 'uint32_t', 'uint32_t', 'int64_t', 'double', 'double', 'double'])(
        n, ptr(out), Number(s & 0xffffffffn), Number(s >> 32n), offset, a, b, cap);
    },
    maxPool2dBackward(gx, g, indices) {
      const [n, c, h, w] = gx.shape as [number, number, number, number];
      kernel('maxpool2db', gx.dtype, () => `fm_maxpool2d_backward_${tag[gx.dtype]}`, 'void', ['int64_t', 'int64_t', 'int64_t', P, P, P])(n * c, h * w, g.shape[2]! * g.shape[3]!, ptr(gx), ptr(g), ptr(indices));
    },
    softmax(out, x, dim, log) {
      const others = [...x.shape.keys()].filter((d) => d !== dim);
      if (numel(x.shape) === 0) return;
      if (!keptMeta(others, [x, out], 0)) return tsBackend.softmax!(out, x, dim, log);
      kernel('softmax', x.dtype, () => `fm_softmax_${tag[x.dtype]}`, 'void', [P, P, P, 'int64_t', 'int64_t', 'int64_t', 'int'])(meta, ptr(out), ptr(x), x.shape[dim]!, x.strides[dim]!, out.strides[dim]!, log ? 1 : 0);
    },
    softmaxBackward(gx, y, g, dim, log) {
      const others = [...y.shape.keys()].filter((d) => d !== dim);
      if (numel(y.shape) === 0) return;
      if (numel(y.shape) < nativeMin || g.dtype !== y.dtype || !keptMeta(others, [gx, y, g], 0)) return tsBackend.softmaxBackward!(gx, y, g, dim, log);
      kernel('softmaxb', y.dtype, () => `fm_softmax_backward_${tag[y.dtype]}`, 'void', [P, P, P, P, 'int64_t', 'int64_t', 'int64_t', 'int64_t', 'int'])(
        meta, ptr(gx), ptr(y), ptr(g), y.shape[dim]!, gx.strides[dim]!, y.strides[dim]!, g.strides[dim]!, log ? 1 : 0);
    },
    crossEntropy(out, rows, x, target, ignoreIndex, reduction) {
      const [n, c] = x.shape as [number, number];
      const bad = kernel('xent', x.dtype, () => `fm_xent_${tag[x.dtype]}`, 'int64_t', ['int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t', P, 'int64_t', 'int'])(
        n, c, ptr(x), x.strides[0]!, x.strides[1]!, ptr(target), target.strides[0]!, ptr(rows), rows.strides[0]!, ptr(out), ignoreIndex, crossEntropyReductions[reduction]);
      return Number(bad);
    },
    crossEntropyBackward(gx, x, target, g, ignoreIndex, reduction) {
      const [n, c] = x.shape as [number, number];
      kernel('xentb', x.dtype, () => `fm_xent_backward_${tag[x.dtype]}`, 'void', ['int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t', P, 'int64_t', 'int64_t', 'int64_t', 'int'])(
        n, c, ptr(x), x.strides[0]!, x.strides[1]!, ptr(target), target.strides[0]!, ptr(g), g.strides[0] ?? 0, ptr(gx), gx.strides[0]!, gx.strides[1]!, ignoreIndex, crossEntropyReductions[reduction]);
    },
    layerNorm(y, mean, rstd, x, weight, bias, eps) {
      const [m, n] = x.shape as [number, number];
      kernel('layernorm', x.dtype, () => `fm_layernorm_${tag[x.dtype]}`, 'void', ['int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t', 'double'])(
        m, n, ptr(x), x.strides[0]!, x.strides[1]!, weight ? ptr(weight) : null, weight?.strides[0] ?? 0, bias ? ptr(bias) : null, bias?.strides[0] ?? 0,
        ptr(y), y.strides[0]!, y.strides[1]!, ptr(mean), mean.strides[0]!, ptr(rstd), rstd.strides[0]!, eps);
    },
    layerNormBackward(gx, gw, gb, g, x, mean, rstd, weight) {
      const [m, n] = x.shape as [number, number];
      const status = kernel('layernormb', x.dtype, () => `fm_layernorm_backward_${tag[x.dtype]}`, 'int', ['int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t', P, 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', P, 'int64_t'])(
        m, n, ptr(g), g.strides[0]!, g.strides[1]!, ptr(x), x.strides[0]!, x.strides[1]!, ptr(mean), mean.strides[0]!, ptr(rstd), rstd.strides[0]!,
        weight ? ptr(weight) : null, weight?.strides[0] ?? 0, ptr(gx), gx.strides[0]!, gx.strides[1]!, gw ? ptr(gw) : null, gw?.strides[0] ?? 0, gb ? ptr(gb) : null, gb?.strides[0] ?? 0);
      if (status !== 0) throw new OutOfMemoryError('layerNorm', `out of host memory for the backward's column sums (${2 * n} doubles) over rows of ${n}`);
    },
    conv2d(y, x, w, bias, geom) {
      convGeometry(x, w, geom);
      const status = kernel('conv2d', x.dtype, () => `fm_conv2d_${tag[x.dtype]}`, 'int', [P, P, P, P, P, 'int'])(convArgs, ptr(x), ptr(w), bias ? ptr(bias) : null, ptr(y), threads);
      if (status !== 0) throw new OutOfMemoryError('conv2d', `out of host memory for the packing space of ${threads} thread(s)`);
    },
    conv2dBackward(gx, gw, gb, g, x, w, geom) {
      convGeometry(x, w, geom);
      const status = kernel('conv2db', x.dtype, () => `fm_conv2d_backward_${tag[x.dtype]}`, 'int', [P, P, P, P, P, P, P, 'int'])(
        convArgs, ptr(x), ptr(w), ptr(g), gx ? ptr(gx) : null, gw ? ptr(gw) : null, gb ? ptr(gb) : null, threads);
      if (status !== 0) throw new OutOfMemoryError('conv2d', `out of host memory for the backward's buffers on ${threads} thread(s)`);
    },
    gather(out, x, dim, index) {
      if (numel(index.shape) < nativeMin || !indexMeta(index.shape, [out.strides, x.strides.map((s, d) => (d === dim ? 0 : s)), index.strides])) return tsBackend.gather(out, x, dim, index);
      const bad = kernel('gather', x.dtype, () => `fm_gather_${tag[x.dtype]}`, 'int64_t', [P, P, P, P, 'int64_t', 'int64_t'])(meta, ptr(out), ptr(x), ptr(index), x.shape[dim]!, x.strides[dim]!);
      if (Number(bad) >= 0) throw badIndex('gather', index, Number(bad), dim, x.shape[dim]!);
    },
    scatter(out, dim, index, src, accumulate) {
      if (numel(index.shape) < nativeMin || !indexMeta(index.shape, [out.strides.map((s, d) => (d === dim ? 0 : s)), src.strides, index.strides])) return tsBackend.scatter(out, dim, index, src, accumulate);
      const bad = kernel('scatter', out.dtype, () => `fm_scatter_${tag[out.dtype]}`, 'int64_t', [P, P, P, P, 'int64_t', 'int64_t', 'int'])(meta, ptr(out), ptr(src), ptr(index), out.shape[dim]!, out.strides[dim]!, accumulate ? 1 : 0);
      if (Number(bad) >= 0) throw badIndex('scatter', index, Number(bad), dim, out.shape[dim]!);
    },
    accumulate(out, src) {
      const nd = src.shape.length;
      if (numel(src.shape) < nativeMin || out.dtype !== src.dtype || nd === 0 || nd > 16 || !rawMeta(src.shape, [out.strides, src.strides])) return tsBackend.accumulate(out, src);
      // Slices along dim 0 are disjoint when each spans less than dim 0's stride (a batch of windows).
      const extent = out.shape.reduce((e, n, d) => (d === 0 ? e : e + (n - 1) * Math.abs(out.strides[d]!)), 1);
      const disjoint = extent <= Math.abs(out.strides[0]!) ? 1 : 0;
      kernel('accumulate', out.dtype, () => `fm_accumulate_${tag[out.dtype]}`, 'void', [P, P, P, 'int'])(meta, ptr(out), ptr(src), disjoint);
    },
    matmul(out, a, b) {
      const dt = out.dtype;
      if ((dt !== 'float32' && dt !== 'float64') || a.dtype !== dt || b.dtype !== dt || numel(out.shape) * a.shape[a.shape.length - 1]! < nativeMin) {
        return tsBackend.matmul(out, a, b);
      }
      const gemm = kernel('gemm', dt, () => `fm_gemm_${tag[dt]}`, 'void', ['int64_t', 'int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', 'int64_t', P, 'int64_t', 'int64_t', 'int']);
      const nd = out.shape.length;
      const [m, n, k] = [out.shape[nd - 2]!, out.shape[nd - 1]!, a.shape[nd - 1]!];
      const A = a.storage.data;
      const B = b.storage.data;
      const C = out.storage.data;
      const batch = out.shape.slice(0, nd - 2);
      const bs = (v: V) => v.strides.slice(0, nd - 2);
      const [ars, acs, brs, bcs, crs, ccs] = [a.strides[nd - 2]!, a.strides[nd - 1]!, b.strides[nd - 2]!, b.strides[nd - 1]!, out.strides[nd - 2]!, out.strides[nd - 1]!];
      // The micro-kernel's tiles are MR rows by NR columns (14 by 32 with AVX-512): a product
      // whose tiles and threads are better filled transposed, C^T = B^T A^T, runs so
      // (measured on 2 threads: [32, 43264] @ [43264, 9] 9 -> 14 GFLOP/s, a convolution's weight
      // gradient [64, 7744] @ [7744, 288] 79 -> 127).
      const th = m * n * k < 2e6 ? 1 : threads;
      const transpose = gemmFill(n, m, th, tile) > 1.05 * gemmFill(m, n, th, tile);
      forEachOffset(batch, [a.offset, b.offset, out.offset], [bs(a), bs(b), bs(out)], ([ao, bo, co]) => {
        if (transpose) gemm(n, m, k, B.subarray(bo!), bcs, brs, A.subarray(ao!), acs, ars, C.subarray(co!), ccs, crs, threads);
        else gemm(m, n, k, A.subarray(ao!), ars, acs, B.subarray(bo!), brs, bcs, C.subarray(co!), crs, ccs, threads);
      });
    },
  };
  return backend;
}

/** The GEMM micro-kernel's tile: MR rows by NR columns of float32 (gemm_core.h, per vector width). */
interface GemmTile {
  readonly mr: number;
  readonly nr: number;
}

/**
 * The share of the GEMM micro-kernel's work that is useful for an m x n product on `threads`
 * threads (gemm.c): columns come in tiles of NR, every one computed whole; a short last row panel
 * runs as kernels of 8, 4, 2 and 1 rows, so rows waste little. Threads take equal shares of the
 * row panels (MR rows) or of the column tiles, whichever divides more evenly.
 */
function gemmFill(m: number, n: number, threads: number, tile: GemmTile): number {
  const rp = Math.ceil(m / tile.mr);
  const cp = Math.ceil(n / tile.nr);
  const share = (p: number) => p / (threads * Math.ceil(p / threads));
  return (n / (tile.nr * cp)) * Math.max(share(rp), share(cp));
}

/**
 * [nk, kept shape, each view's kept strides] for the dims `kept` (all but a reduced, scanned or
 * softmax dim; the shape is views[0]'s), written from meta[at]: the next index, or false when the
 * dims do not fit the C odometers.
 */
function keptMeta(kept: readonly number[], views: readonly V[], at: number): number | false {
  const c = coalesce(kept.map((d) => views[0]!.shape[d]!), views.map((v) => kept.map((d) => v.strides[d]!)));
  const nk = c.shape.length;
  if (nk > 16) return false; // the C odometers hold 16 dims
  meta[at++] = nk;
  for (const arr of [c.shape, ...c.strides]) for (const v of arr) {
    if (Math.abs(v) > INT32_MAX) return false;
    meta[at++] = v;
  }
  return at;
}

function reduceMeta(out: V, x: V, dims: readonly number[]): boolean {
  const kept = [...x.shape.keys()].filter((d) => !dims.includes(d));
  const at = keptMeta(kept, [x, out], 0);
  if (at === false) return false;
  const r = coalesce(dims.map((d) => x.shape[d]!), [dims.map((d) => x.strides[d]!)]);
  if (r.shape.length > 16) return false;
  let i = at;
  meta[i++] = r.shape.length;
  for (const arr of [r.shape, r.strides[0]!]) for (const v of arr) {
    if (Math.abs(v) > INT32_MAX) return false;
    meta[i++] = v;
  }
  return true;
}

function indexMeta(shape: readonly number[], strides: readonly (readonly number[])[]): boolean {
  // Coalesced like elementwise loops; the indexed dim's zeroed stride keeps it apart.
  const c = coalesce(shape, strides);
  if (c.shape.length > 16) return false;
  meta[0] = c.shape.length;
  let at = 1;
  for (const arr of [c.shape, ...c.strides]) for (const v of arr) {
    if (Math.abs(v) > INT32_MAX) return false;
    meta[at++] = v;
  }
  return true;
}

/** [nd, shape, strides...] as given (not coalesced: dim 0 keeps its meaning). */
function rawMeta(shape: readonly number[], strides: readonly (readonly number[])[]): boolean {
  meta[0] = shape.length;
  let at = 1;
  for (const arr of [shape, ...strides]) for (const v of arr) {
    if (Math.abs(v) > INT32_MAX) return false;
    meta[at++] = v;
  }
  return true;
}

/** The error for the first out-of-range index (position e in index's odometer order). */
function badIndex(op: string, index: V, e: number, dim: number, size: number): IndexError {
  return new IndexError(op, `index ${Number(index.storage.data[offsetAt(index, e)])} is out of bounds for dimension ${dim} with size ${size}`);
}

/**
 * The size of the largest CPU cache (Linux sysfs: cpu0's highest level), or undefined where it
 * cannot be read: elementwise ops whose operands overflow it write their outputs with
 * non-temporal stores (codegen.ts, loop()); unknown, they never do. The C library's
 * sysconf(_SC_LEVEL3_CACHE_SIZE) is not used: in a VM it may report the host's (320 MiB on the
 * bench VM, whose cpu0 sees 32 MiB). On a host with several cache slices (chiplets, sockets) this
 * is one slice's size: streaming then starts early (correct, if not always faster).
 */
export function lastLevelCacheBytes(dir = '/sys/devices/system/cpu/cpu0/cache'): number | undefined {
  let best: { level: number; bytes: number } | undefined;
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).filter((e) => e.startsWith('index'));
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    try {
      const level = Number(fs.readFileSync(`${dir}/${entry}/level`, 'utf8'));
      const bytes = cacheSizeBytes(fs.readFileSync(`${dir}/${entry}/size`, 'utf8'));
      if (bytes !== undefined && Number.isFinite(level) && (!best || level > best.level)) best = { level, bytes };
    } catch {
      // An unreadable cache entry: the others still count.
    }
  }
  return best?.bytes;
}

/** A sysfs cache size ("32768K", "1M", "512") in bytes; undefined for anything else or zero. */
export function cacheSizeBytes(text: string): number | undefined {
  const m = /^(\d+)([KMG]?)$/.exec(text.trim());
  const bytes = m ? Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as '' | 'K' | 'M' | 'G'] : 0;
  return bytes > 0 ? bytes : undefined;
}
