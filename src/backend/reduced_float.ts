// float16 and bfloat16 on any backend: kernels see float32. Each call with a 16-bit float view
// widens it to a float32 temporary, runs the backend's float32 kernel, and rounds the outputs
// back, which is what PyTorch's CPU kernels do per element (load, compute in float, round).
// Backends implement only 16-bit storage and copies between a 16-bit float dtype and float32 (or
// itself). NOTE: the alternative, 16-bit variants of every kernel, is faster (no temporaries) and
// is how a GPU backend should eventually run them; this keeps every op correct on every backend first.
import { isReducedFloat, type DType, type TypedArray } from '../dtype.js';
import { toReducedBits } from '../half.js';
import { contiguousStrides, numelOf as numel } from '../tensor/shape.js';
import type { Backend, StorageHandle, View } from './interface.js';

type AnyView = View<StorageHandle>;

/** The storage elements a view can reach: [first, length]. */
function span(v: AnyView): [number, number] {
  if (numel(v.shape) === 0) return [v.offset, 0];
  let lo = v.offset;
  let hi = v.offset;
  v.shape.forEach((s, d) => {
    const reach = (s - 1) * v.strides[d]!;
    if (reach < 0) lo += reach;
    else hi += reach;
  });
  return [lo, hi - lo + 1];
}

const flat = <S extends StorageHandle>(storage: S, dtype: DType, offset: number, n: number): View<S> => ({ storage, dtype, shape: [n], strides: [1], offset });
const contiguous = <S extends StorageHandle>(storage: S, shape: readonly number[]): View<S> => ({ storage, dtype: 'float32', shape, strides: contiguousStrides(shape), offset: 0 });

/** float32 stand-ins for the 16-bit views of one kernel call, and their write-back. */
class Widened<S extends StorageHandle> {
  private readonly temps: S[] = [];
  private readonly writeBack: [View<S>, View<S>][] = [];
  constructor(private readonly b: Backend<S>) {}

  private temp(n: number): S {
    const s = this.b.allocate('float32', n);
    this.temps.push(s);
    return s;
  }

  /** The view over a float32 copy of the storage range [lo, lo + n) it reaches (so overlaps and broadcasts stay as they are). */
  private spanCopy(v: View<S>, [lo, n]: [number, number]): View<S> {
    const t = this.temp(n);
    this.b.copy(flat(t, 'float32', 0, n), flat(v.storage, v.dtype, lo, n));
    return { storage: t, dtype: 'float32', shape: v.shape, strides: v.strides, offset: v.offset - lo };
  }

  /** An input: read only. */
  in(v: View<S>): View<S>;
  in(v: View<S> | null): View<S> | null;
  in(v: View<S> | null): View<S> | null {
    if (v === null || !isReducedFloat(v.dtype)) return v;
    // A strided view with gaps is gathered rather than copied with everything between its elements.
    const reach = span(v);
    const n = numel(v.shape);
    if (reach[1] <= n) return this.spanCopy(v, reach);
    const t = contiguous(this.temp(n), v.shape);
    this.b.copy(t, v);
    return t;
  }

  /** An output the kernel writes whole (`inout`: one it also reads, or writes only in part). */
  out(v: View<S>, inout?: boolean): View<S>;
  out(v: View<S> | null, inout?: boolean): View<S> | null;
  out(v: View<S> | null, inout = false): View<S> | null {
    if (v === null || !isReducedFloat(v.dtype)) return v;
    // Written back through the view itself: the storage around it stays as it was (another
    // output's elements, NaN payloads), even where the view has gaps. Only an output the kernel
    // also reads needs its values copied in.
    const t = inout ? this.spanCopy(v, span(v)) : contiguous(this.temp(numel(v.shape)), v.shape);
    this.writeBack.push([v, t]);
    return t;
  }

  /** Rounds the outputs into their 16-bit views. */
  writeOut(): void {
    for (const [dst, src] of this.writeBack) this.b.copy(dst, src);
  }

  free(): void {
    for (const t of this.temps) this.b.free(t);
  }
}

/** Backends this made, which need no second wrapping (tests register a backend they took from a tensor). */
const wrapped = new WeakSet<object>();

const is16 = (v: AnyView | null | undefined): boolean => v != null && isReducedFloat(v.dtype);
/** True when any view is 16-bit. Fixed parameters, not a rest array: this runs on every kernel call, tiny ops included. */
const any16 = (a: AnyView | null, b?: AnyView | null, c?: AnyView | null, d?: AnyView | null, e?: AnyView | null, f?: AnyView | null, g?: AnyView | null, h?: AnyView | null): boolean =>
  is16(a) || is16(b) || is16(c) || is16(d) || is16(e) || is16(f) || is16(g) || is16(h);

/**
 * `b` with float16 and bfloat16 support. `b.copy` must convert between each of them and float32
 * (and copy each to itself); every other pair, and every other kernel, goes through float32 here.
 */
export function withReducedFloats<S extends StorageHandle>(b: Backend<S>): Backend<S> {
  if (wrapped.has(b)) return b;
  /** Runs `f` on float32 stand-ins, then writes the outputs back. */
  const widened = <R>(f: (w: Widened<S>) => R): R => {
    const w = new Widened(b);
    try {
      const r = f(w);
      w.writeOut();
      return r;
    } finally {
      w.free();
    }
  };
  const nativeMatmul = b.reducedFloatKernels?.includes('matmul') ?? false;
  const w: Backend<S> = {
    ...b,
    write(storage, values, offset) {
      const bits = isReducedFloat(storage.dtype) && !(values instanceof Uint16Array) ? toReducedBits(values as ArrayLike<number | bigint>, storage.dtype) : values;
      b.write(storage, bits as TypedArray, offset);
    },
    copy(out, x) {
      const direct = !any16(out, x) || out.dtype === x.dtype || (isReducedFloat(out.dtype) ? x.dtype : out.dtype) === 'float32';
      if (direct) return b.copy(out, x);
      widened((t) => b.copy(t.out(out), t.in(x)));
    },
    fill: (out, value) => (any16(out) ? widened((t) => b.fill(t.out(out), value)) : b.fill(out, value)),
    unary: (op, out, x, p) => (any16(out, x) ? widened((t) => b.unary(op, t.out(out), t.in(x), p)) : b.unary(op, out, x, p)),
    binary: (op, out, x, y) => (any16(out, x, y) ? widened((t) => b.binary(op, t.out(out), t.in(x), t.in(y))) : b.binary(op, out, x, y)),
    where: (out, c, x, y) => (any16(out, x, y) ? widened((t) => b.where(t.out(out), c, t.in(x), t.in(y))) : b.where(out, c, x, y)),
    reduce: (op, out, x, dims) => (any16(out, x) ? widened((t) => b.reduce(op, t.out(out), t.in(x), dims)) : b.reduce(op, out, x, dims)),
    scan: (op, out, x, dim) => (any16(out, x) ? widened((t) => b.scan(op, t.out(out), t.in(x), dim)) : b.scan(op, out, x, dim)),
    matmul: (out, x, y) => (any16(out, x, y) && !(nativeMatmul && out.dtype === x.dtype && out.dtype === y.dtype) ? widened((t) => b.matmul(t.out(out), t.in(x), t.in(y))) : b.matmul(out, x, y)),
    gather: (out, x, dim, index) => (any16(out, x) ? widened((t) => b.gather(t.out(out), t.in(x), dim, index)) : b.gather(out, x, dim, index)),
    scatter: (out, dim, index, src, acc) => (any16(out, src) ? widened((t) => b.scatter(t.out(out, true), dim, index, t.in(src), acc)) : b.scatter(out, dim, index, src, acc)),
    accumulate: (out, src) => (any16(out, src) ? widened((t) => b.accumulate(t.out(out, true), t.in(src))) : b.accumulate(out, src)),
    argsort: (out, x, dim, desc) => (any16(x) ? widened((t) => b.argsort(out, t.in(x), dim, desc)) : b.argsort(out, x, dim, desc)),
    random: (out, dist, seed, offset, lo, hi) => (any16(out) ? widened((t) => b.random(t.out(out), dist, seed, offset, lo, hi)) : b.random(out, dist, seed, offset, lo, hi)),
  };
  // The optional fused kernels, where the backend has them.
  const { softmax, softmaxBackward, maxPool2d, maxPool2dBackward, crossEntropy, crossEntropyBackward, layerNorm, layerNormBackward, conv2d, conv2dBackward, adamStep, sgdStep } = b;
  if (softmax) w.softmax = (out, x, dim, log) => (any16(out, x) ? widened((t) => softmax.call(b, t.out(out), t.in(x), dim, log)) : softmax.call(b, out, x, dim, log));
  if (softmaxBackward) w.softmaxBackward = (gx, y, g, dim, log) => (any16(gx, y, g) ? widened((t) => softmaxBackward.call(b, t.out(gx), t.in(y), t.in(g), dim, log)) : softmaxBackward.call(b, gx, y, g, dim, log));
  if (maxPool2d) w.maxPool2d = (out, ind, x, k, s, p, d) => (any16(out, x) ? widened((t) => maxPool2d.call(b, t.out(out), ind, t.in(x), k, s, p, d)) : maxPool2d.call(b, out, ind, x, k, s, p, d));
  if (maxPool2dBackward) w.maxPool2dBackward = (gx, g, ind) => (any16(gx, g) ? widened((t) => maxPool2dBackward.call(b, t.out(gx), t.in(g), ind)) : maxPool2dBackward.call(b, gx, g, ind));
  if (crossEntropy) w.crossEntropy = (out, rows, x, tgt, ig, red) => (any16(out, rows, x) ? widened((t) => crossEntropy.call(b, t.out(out), t.out(rows), t.in(x), tgt, ig, red)) : crossEntropy.call(b, out, rows, x, tgt, ig, red));
  if (crossEntropyBackward) w.crossEntropyBackward = (gx, x, tgt, g, ig, red) => (any16(gx, x, g) ? widened((t) => crossEntropyBackward.call(b, t.out(gx), t.in(x), tgt, t.in(g), ig, red)) : crossEntropyBackward.call(b, gx, x, tgt, g, ig, red));
  if (layerNorm) w.layerNorm = (y, m, r, x, wt, bs, eps) => (any16(y, m, r, x, wt, bs) ? widened((t) => layerNorm.call(b, t.out(y), t.out(m), t.out(r), t.in(x), t.in(wt), t.in(bs), eps)) : layerNorm.call(b, y, m, r, x, wt, bs, eps));
  if (layerNormBackward) w.layerNormBackward = (gx, gw, gb, g, x, m, r, wt) => (any16(gx, gw, gb, g, x, m, r, wt) ? widened((t) => layerNormBackward.call(b, t.out(gx), t.out(gw), t.out(gb), t.in(g), t.in(x), t.in(m), t.in(r), t.in(wt))) : layerNormBackward.call(b, gx, gw, gb, g, x, m, r, wt));
  if (conv2d) w.conv2d = (y, x, wt, bs, geom) => (any16(y, x, wt, bs) ? widened((t) => conv2d.call(b, t.out(y), t.in(x), t.in(wt), t.in(bs), geom)) : conv2d.call(b, y, x, wt, bs, geom));
  if (conv2dBackward) w.conv2dBackward = (gx, gw, gb, g, x, wt, geom) => (any16(gx, gw, gb, g, x, wt) ? widened((t) => conv2dBackward.call(b, t.out(gx), t.out(gw), t.out(gb), t.in(g), t.in(x), t.in(wt), geom)) : conv2dBackward.call(b, gx, gw, gb, g, x, wt, geom));
  if (adamStep) w.adamStep = (p, g, m, v, vmax, h) => (any16(p, g, m, v, vmax) ? widened((t) => adamStep.call(b, t.out(p, true), t.in(g), t.out(m, true), t.out(v, true), t.out(vmax, true), h)) : adamStep.call(b, p, g, m, v, vmax, h));
  if (sgdStep) w.sgdStep = (p, g, buf, h) => (any16(p, g, buf) ? widened((t) => sgdStep.call(b, t.out(p, true), t.in(g), t.out(buf, true), h)) : sgdStep.call(b, p, g, buf, h));
  wrapped.add(w);
  return w;
}
