// Convolution and pooling as PyTorch's torch.nn.functional defines them, built on strided
// windows: im2col is a window view copied once, then one batched GEMM per group; pooling reduces
// the windows; transposed convolution and fold sum windows back (col2im). Gradients follow from
// the primitives (matmul, window view, gather), so every order of derivative works. Where the
// backend has a fused convolution (the cpu backend's packs windows straight into its GEMM), 1-D
// and 2-D float convolutions of batches of at least one image per thread run as the conv2d entry
// instead (see useConvKernel), whose backward in ops is the composite's.
import type { Tensor } from '../tensor/tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import { applyOp, backendOf } from '../ops/dispatch.js';
import { isFloating } from '../dtype.js';
import { fmtShape } from '../tensor/shape.js';
import { contiguous, permute, reshape, unsqueeze, squeeze } from './shape.js';
import { where } from './math.js';
import { ones } from './creation.js';
import { getNumThreads } from '../backend/registry.js';
import { setConv2dBackwardInOps, type Conv2dAttrs } from '../ops/prims/conv.js';
import { autocastLower } from '../amp/autocast.js';

type Ints = number | readonly number[];

function tuple(op: string, name: string, v: Ints, n: number, min: number): number[] {
  const t = typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
  if (t.length !== n || !t.every((x) => Number.isInteger(x) && x >= min)) {
    throw new ValueError(op, `${name} must be an integer >= ${min} or a list of ${n}, got ${JSON.stringify(v)}`);
  }
  return t;
}

/** Zero-pads the last dims: pads[i] = [before, after] for spatial dim i (a view-free copy, recorded). */
function padSpatial(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  const k = pads.length;
  let out = x;
  let mask: Tensor | null = null;
  pads.forEach(([lo, hi], i) => {
    if (lo === 0 && hi === 0) return;
    const dim = x.ndim - k + i;
    const shape = out.shape.slice();
    shape[dim] = shape[dim]! + lo + hi;
    const attrs = { dim, start: lo, step: 1, length: out.shape[dim]!, shape };
    if (value !== 0) mask = applyOp('sliceBackward', [mask ?? ones(out.shape, { dtype: 'bool', device: x.device })], attrs);
    out = applyOp('sliceBackward', [out], attrs);
  });
  return mask === null ? out : where(mask, out, value);
}

/** Output length of a window sweep (PyTorch's formula, ceil mode keeping the last window inside). */
function outLength(op: string, len: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = d * (k - 1) + 1;
  const num = len + 2 * p - span;
  if (num < 0) throw new ShapeError(op, `kernel of extent ${span} is larger than the padded input of length ${len + 2 * p}`);
  let out = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (out - 1) * s >= len + p) out--;
  return out;
}

interface Windows {
  /** [N, C, out..., k...] window view over the padded input. */
  view: Tensor;
  out: number[];
}

/**
 * A [N, C, out..., k...] view of the windows of a [N, C, spatial...] input (padded by `pad`
 * plus `extra` at the end for ceil mode), built with asStrided on the contiguous padded tensor.
 */
function windows(op: string, x: Tensor, k: number[], s: number[], p: number[], d: number[], ceil: boolean, value = 0, extraValue = value): Windows {
  const nsp = k.length;
  const spatial = x.shape.slice(2);
  const out = spatial.map((len, i) => outLength(op, len, k[i]!, s[i]!, p[i]!, d[i]!, ceil));
  // Ceil mode may need elements past the padded end: pad those too (they never win / never count).
  const extra = spatial.map((len, i) => Math.max(0, (out[i]! - 1) * s[i]! + d[i]! * (k[i]! - 1) + 1 - (len + 2 * p[i]!)));
  const padded = padSpatial(x, p.map((pi) => [pi, pi] as [number, number]), value);
  const xp = contiguous(extra.some((e) => e > 0) ? padSpatial(padded, extra.map((e) => [0, e] as [number, number]), extraValue) : padded);
  const ps = xp.shape.slice(2);
  const sp = ps.map((_, i) => ps.slice(i + 1).reduce((a, b) => a * b, 1));
  const [n, c] = [xp.shape[0]!, xp.shape[1]!];
  const shape = [n, c, ...out, ...k];
  const strides = [c * sp[0]! * ps[0]!, sp[0]! * ps[0]!, ...sp.map((st, i) => st * s[i]!), ...sp.map((st, i) => st * d[i]!)];
  return { view: applyOp('asStrided', [xp], { shape, strides, offset: 0, windows: nsp }), out };
}

/** Adds a batch dim to unbatched input ([C, ...] -> [1, C, ...]) and says to remove it after. */
function batched(op: string, x: Tensor, nsp: number): [Tensor, boolean] {
  if (x.ndim === nsp + 2) return [x, false];
  if (x.ndim === nsp + 1) return [unsqueeze(x, 0), true];
  throw new ShapeError(op, `expected a ${nsp + 1}-D (unbatched) or ${nsp + 2}-D (batched) input, got shape ${fmtShape(x.shape)}`);
}

/** Convolution options (PyTorch's keywords). */
export interface ConvOptions {
  stride?: Ints;
  padding?: Ints | 'valid' | 'same';
  dilation?: Ints;
  groups?: number;
}

function convNd(op: string, nsp: number, input: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: ConvOptions = {}): Tensor {
  const [x, unbatched] = batched(op, input, nsp);
  const groups = opts.groups ?? 1;
  const s = tuple(op, 'stride', opts.stride ?? 1, nsp, 1);
  const d = tuple(op, 'dilation', opts.dilation ?? 1, nsp, 1);
  if (weight.ndim !== nsp + 2) throw new ShapeError(op, `weight must be ${nsp + 2}-D [out, in/groups, k...], got ${fmtShape(weight.shape)}`);
  const [oc, icg] = [weight.shape[0]!, weight.shape[1]!];
  const k = weight.shape.slice(2);
  const c = x.shape[1]!;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0 || oc % groups !== 0) {
    throw new ValueError(op, `groups (${groups}) must divide both the input channels (${c}) and the output channels (${oc})`);
  }
  if (icg * groups !== c) {
    throw new ShapeError(op, `weight ${fmtShape(weight.shape)} expects ${icg * groups} input channels (with groups=${groups}), but the input ${fmtShape(input.shape)} has ${c}`);
  }
  let pads: [number, number][];
  const padding = opts.padding ?? 0;
  if (padding === 'valid') pads = k.map(() => [0, 0]);
  else if (padding === 'same') {
    if (s.some((v) => v !== 1)) throw new ValueError(op, "padding='same' is not supported for strided convolutions");
    // The total padding d (k - 1) is split with the extra element at the end, as PyTorch does.
    pads = k.map((ki, i) => {
      const total = d[i]! * (ki - 1);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  } else pads = tuple(op, 'padding', padding, nsp, 0).map((p) => [p, p]);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== oc)) throw new ShapeError(op, `bias must be [${oc}], got ${fmtShape(bias.shape)}`);
  if (useConvKernel(x, weight, bias, nsp, pads, k, s, d, groups)) {
    const out = x.shape.slice(2).map((len, i) => outLength(op, len + pads[i]![0] + pads[i]![1], k[i]!, s[i]!, 0, d[i]!, false));
    // 1-D as 2-D with a height of 1.
    const two = (v: number[], fill: number) => (nsp === 1 ? [fill, v[0]!] : v) as [number, number];
    const attrs = { stride: two(s, 1), padding: two(pads.map((p) => p[0]), 0), dilation: two(d, 1), groups, out: two(out, 1), bias: !!bias };
    const x4 = contiguous(nsp === 1 ? unsqueeze(x, 2) : x);
    const w4 = contiguous(nsp === 1 ? unsqueeze(weight, 2) : weight);
    let y = applyOp('conv2d', bias ? [x4, w4, contiguous(bias)] : [x4, w4], attrs);
    if (nsp === 1) y = squeeze(y, 2);
    return unbatched ? squeeze(y, 0) : y;
  }
  const xp = padSpatial(x, pads);
  const { view, out } = windows(op, xp, k, s, k.map(() => 0), d, false);
  const [n] = [x.shape[0]!];
  const kk = k.reduce((a, b) => a * b, 1);
  const l = out.reduce((a, b) => a * b, 1);
  // [N, C, out..., k...] -> [G, C/G, k..., N, out...]: one GEMM per group over every sample.
  const perm = [1, ...k.map((_, i) => 2 + nsp + i), 0, ...out.map((_, i) => 2 + i)];
  const cols = reshape(permute(view, perm), [groups, icg * kk, n * l]);
  const wm = reshape(weight, [groups, oc / groups, icg * kk]);
  const y = wm.matmul(cols); // [G, OC/G, N * L]
  let result = reshape(permute(reshape(y, [groups, oc / groups, n, l]), [2, 0, 1, 3]), [n, oc, ...out]);
  if (bias) result = result.add(reshape(bias, [oc, ...out.map(() => 1)]));
  return unbatched ? squeeze(result, 0) : result;
}

/**
 * Whether the backend's fused convolution runs: 1-D and 2-D float convolutions with float
 * weight and bias of the same dtype, batches of at least one image per thread (its threads take
 * whole images; smaller batches go faster through the composite's threaded GEMMs), and images
 * whose windows' offsets fit the kernel's int32.
 */
function useConvKernel(x: Tensor, w: Tensor, bias: Tensor | null | undefined, nsp: number, pads: [number, number][], k: number[], s: number[], d: number[], groups: number): boolean {
  if (nsp > 2 || !backendOf(x).conv2d || !isFloating(x.dtype)) return false;
  if (w.dtype !== x.dtype || (bias && bias.dtype !== x.dtype) || x.device.type !== w.device.type || x.shape[0]! < getNumThreads()) return false;
  // Empty channels or kernels: the composite's zeros (the kernel's products would have no terms).
  if (x.shape.some((n) => n === 0) || w.shape.some((n) => n === 0)) return false;
  const padded = x.shape.slice(2).map((len, i) => len + pads[i]![0] + pads[i]![1] + s[i]! + d[i]! * k[i]!);
  return (x.shape[1]! / groups) * padded.reduce((a, b) => a * b, 1) < 2 ** 31;
}

/**
 * The conv2d entry's gradients written in ops (for createGraph): the composite's, whose forward
 * is W @ cols with cols the padded input's windows: gw = g @ cols^T, the input's gradient the
 * windows of W^T @ g summed back into the padded input (col2im), less the padding, gb = sum g.
 */
function conv2dBackwardInOps(x: Tensor, w: Tensor, g: Tensor, a: Conv2dAttrs): [Tensor, Tensor, Tensor] {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [oc, icg, kh, kw] = w.shape as [number, number, number, number];
  const [oh, ow] = a.out;
  const [k, s, d, groups] = [[kh, kw], [...a.stride], [...a.dilation], a.groups];
  // Padding after: what the last window needs (the padding beyond it is never read).
  const pads = [h, wd].map((len, i) => [a.padding[i]!, Math.max(0, (a.out[i]! - 1) * s[i]! + d[i]! * (k[i]! - 1) + 1 - len - a.padding[i]!)] as [number, number]);
  const xp = padSpatial(x, pads);
  const { view } = windows('conv2d', xp, k, s, [0, 0], d, false);
  const cols = reshape(permute(view, [1, 4, 5, 0, 2, 3]), [groups, icg * kh * kw, n * oh * ow]);
  const gm = reshape(permute(reshape(g, [n, groups, oc / groups, oh * ow]), [1, 2, 0, 3]), [groups, oc / groups, n * oh * ow]);
  const gw = reshape(gm.matmul(cols.mT), w.shape);
  const gcols = reshape(w, [groups, oc / groups, icg * kh * kw]).mT.matmul(gm);
  const gview = permute(reshape(gcols, [c, kh, kw, n, oh, ow]), [3, 0, 4, 5, 1, 2]);
  let gx = foldWindows(gview, xp.shape.slice(2), k, s, d);
  pads.forEach(([lo], i) => {
    if (gx.shape[2 + i] !== [h, wd][i]) gx = applyOp('slice', [gx], { dim: 2 + i, start: lo, step: 1, length: [h, wd][i]! });
  });
  return [gx, gw, g.sum([0, 2, 3])];
}
setConv2dBackwardInOps(conv2dBackwardInOps);

/** 1-D convolution over [N, C, L] (PyTorch's F.conv1d). Example: `fm.conv1d(x, w, b, { padding: 1 })`. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: ConvOptions): Tensor {
  [x, weight, bias] = autocastLower(x, weight, bias);
  return convNd('conv1d', 1, x, weight, bias, opts);
}
/** 2-D convolution over [N, C, H, W] (PyTorch's F.conv2d). Example: `fm.conv2d(x, w, b, { stride: 2, padding: 1 })`. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: ConvOptions): Tensor {
  [x, weight, bias] = autocastLower(x, weight, bias);
  return convNd('conv2d', 2, x, weight, bias, opts);
}

/** Options of the transposed convolutions. */
export interface ConvTransposeOptions {
  stride?: Ints;
  padding?: Ints;
  outputPadding?: Ints;
  groups?: number;
  dilation?: Ints;
}

/**
 * Sums [N, C, out..., k...]-shaped window contributions back into a [N, C, spatial...] tensor
 * (col2im), for windows of kernel k, stride s and dilation d over `size` (unpadded).
 */
function foldWindows(cols: Tensor, size: readonly number[], k: number[], s: number[], d: number[]): Tensor {
  const [n, c] = [cols.shape[0]!, cols.shape[1]!];
  const out = cols.shape.slice(2, 2 + k.length);
  const sp = size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));
  const spatial = size.reduce((a, b) => a * b, 1);
  const attrs = {
    shape: [n, c, ...out, ...k],
    strides: [c * spatial, spatial, ...sp.map((st, i) => st * s[i]!), ...sp.map((st, i) => st * d[i]!)],
    offset: 0,
    windows: k.length,
    inputShape: [n, c, ...size],
  };
  return applyOp('asStridedBackward', [contiguous(cols)], attrs);
}

function convTransposeNd(op: string, nsp: number, input: Tensor, weight: Tensor, bias: Tensor | null | undefined, opts: ConvTransposeOptions = {}): Tensor {
  const [x, unbatched] = batched(op, input, nsp);
  const groups = opts.groups ?? 1;
  const s = tuple(op, 'stride', opts.stride ?? 1, nsp, 1);
  const d = tuple(op, 'dilation', opts.dilation ?? 1, nsp, 1);
  const p = tuple(op, 'padding', opts.padding ?? 0, nsp, 0);
  const op_ = tuple(op, 'outputPadding', opts.outputPadding ?? 0, nsp, 0);
  if (weight.ndim !== nsp + 2) throw new ShapeError(op, `weight must be ${nsp + 2}-D [in, out/groups, k...], got ${fmtShape(weight.shape)}`);
  const [ic, ocg] = [weight.shape[0]!, weight.shape[1]!];
  const k = weight.shape.slice(2);
  const c = x.shape[1]!;
  if (c !== ic) throw new ShapeError(op, `weight ${fmtShape(weight.shape)} expects ${ic} input channels, but the input ${fmtShape(input.shape)} has ${c}`);
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) throw new ValueError(op, `groups (${groups}) must divide the input channels (${c})`);
  op_.forEach((v, i) => {
    if (v >= Math.max(s[i]!, d[i]!)) throw new ValueError(op, `outputPadding (${v}) must be smaller than either stride or dilation`);
  });
  const n = x.shape[0]!;
  const inSize = x.shape.slice(2);
  const l = inSize.reduce((a, b) => a * b, 1);
  const kk = k.reduce((a, b) => a * b, 1);
  const oc = ocg * groups;
  // cols[g] = W[g]^T @ x[g]: [G, OC/G * k..., N * L], then folded into the full (padded) output.
  const wm = reshape(weight, [groups, ic / groups, ocg * kk]);
  const xm = reshape(permute(reshape(x, [n, groups, ic / groups, l]), [1, 2, 0, 3]), [groups, ic / groups, n * l]);
  const cols = wm.mT.matmul(xm);
  const win = permute(reshape(cols, [groups, ocg, ...k, n, ...inSize]), [2 + nsp, 0, 1, ...inSize.map((_, i) => 3 + nsp + i), ...k.map((_, i) => 2 + i)]);
  const full = inSize.map((len, i) => (len - 1) * s[i]! + d[i]! * (k[i]! - 1) + 1 + op_[i]!);
  let y = foldWindows(reshape(win, [n, oc, ...inSize, ...k]), full, k, s, d);
  // Remove the padding: the output spans [p, full - p).
  p.forEach((pi, i) => {
    if (pi > 0) y = applyOp('slice', [y], { dim: 2 + i, start: pi, step: 1, length: full[i]! - 2 * pi });
  });
  if (bias) y = y.add(reshape(bias, [oc, ...k.map(() => 1)]));
  return unbatched ? squeeze(y, 0) : y;
}

/** 1-D transposed convolution (PyTorch's F.conv_transpose1d). Example: `fm.convTranspose1d(x, w, null, { stride: 2 })`. */
export function convTranspose1d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: ConvTransposeOptions): Tensor {
  [x, weight, bias] = autocastLower(x, weight, bias);
  return convTransposeNd('convTranspose1d', 1, x, weight, bias, opts);
}
/** 2-D transposed convolution (PyTorch's F.conv_transpose2d). Example: `fm.convTranspose2d(x, w, b, { stride: 2, padding: 1 })`. */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts?: ConvTransposeOptions): Tensor {
  [x, weight, bias] = autocastLower(x, weight, bias);
  return convTransposeNd('convTranspose2d', 2, x, weight, bias, opts);
}

/** Pooling options (PyTorch's keywords). */
export interface PoolOptions {
  stride?: Ints;
  padding?: Ints;
  ceilMode?: boolean;
}

/** A pool's input (batched) and its kernel size, stride, padding and dilation, checked. */
function poolParams(op: string, nsp: number, input: Tensor, kernelSize: Ints, opts: PoolOptions & { dilation?: Ints }) {
  const [x, unbatched] = batched(op, input, nsp);
  const k = tuple(op, 'kernelSize', kernelSize, nsp, 1);
  const s = tuple(op, 'stride', opts.stride ?? k, nsp, 1);
  const p = tuple(op, 'padding', opts.padding ?? 0, nsp, 0);
  const d = tuple(op, 'dilation', opts.dilation ?? 1, nsp, 1);
  p.forEach((pi, i) => {
    if (pi > k[i]! / 2) throw new ValueError(op, `padding (${pi}) should be at most half of the kernel size (${k[i]})`);
  });
  return { x, unbatched, k, s, p, d };
}

function poolWindows(op: string, nsp: number, input: Tensor, kernelSize: Ints, opts: PoolOptions & { dilation?: Ints }, value: number) {
  const { x, unbatched, k, s, p, d } = poolParams(op, nsp, input, kernelSize, opts);
  const w = windows(op, x, k, s, p, d, opts.ceilMode ?? false, value);
  const flat = reshape(w.view, [x.shape[0]!, x.shape[1]!, ...w.out, k.reduce((a, b) => a * b, 1)]);
  return { x, flat, unbatched, k, s, p, d, out: w.out };
}

function maxPoolNd(op: string, nsp: number, input: Tensor, kernelSize: Ints, opts: PoolOptions & { dilation?: Ints } = {}): Tensor {
  const kernel = nsp <= 2 && isFloating(input.dtype) ? backendOf(input).maxPool2d : undefined;
  if (kernel) return maxPoolKernel(op, nsp, input, kernelSize, opts);
  // The composite: windows as a view, argmax, gather. Padding is -Infinity, so it never wins over a real element.
  const { x, flat, unbatched, k, s, p, d } = poolWindows(op, nsp, input, kernelSize, opts, -Infinity);
  let idx = flat.argmax(-1, { keepdim: true });
  const kk = flat.shape[flat.ndim - 1]!;
  // PyTorch's kernel scans each window with (v > max || isnan(v)): ties go to the first element,
  // NaN to the last NaN, and an all -Infinity window to its first real element (not padding).
  if (p.some((v) => v > 0) || opts.ceilMode) {
    const valid = windows(op, ones([1, 1, ...x.shape.slice(2)], { device: x.device }), k, s, p, d, opts.ceilMode ?? false, 0).view;
    const validFlat = reshape(valid, [1, 1, ...valid.shape.slice(2, 2 + nsp), kk]);
    const firstValid = validFlat.argmax(-1, { keepdim: true });
    idx = where(validFlat.expand(flat.shape).gather(-1, idx).gt(0), idx, firstValid);
  }
  let y = flat.gather(-1, idx);
  // argmax already picks a NaN where a window has one, so the pooled values say whether any did.
  if (y.isnan().any().item()) {
    const nan = flat.isnan();
    idx = where(nan.any(-1, { keepdim: true }), nan.flip([-1]).to('float32').argmax(-1, { keepdim: true }).neg().add(kk - 1), idx);
    y = flat.gather(-1, idx);
  }
  y = y.squeeze(-1);
  return unbatched ? squeeze(y, 0) : y;
}

/** Max pooling through the backend's kernel (one pass; 1-D pools as 2-D with a height of 1). */
function maxPoolKernel(op: string, nsp: number, input: Tensor, kernelSize: Ints, opts: PoolOptions & { dilation?: Ints }): Tensor {
  const { x: x0, unbatched, k, s, p, d } = poolParams(op, nsp, input, kernelSize, opts);
  const pad = (v: number[], fill: number) => (nsp === 1 ? [fill, ...v] : v);
  const out = x0.shape.slice(2).map((len, i) => outLength(op, len, k[i]!, s[i]!, p[i]!, d[i]!, opts.ceilMode ?? false));
  const x = nsp === 1 ? unsqueeze(x0, 2) : x0;
  let y = applyOp('maxPool2d', [x], { k: pad(k, 1), s: pad(s, 1), p: pad(p, 0), d: pad(d, 1), out: pad(out, 1) });
  if (nsp === 1) y = squeeze(y, 2);
  return unbatched ? squeeze(y, 0) : y;
}

/** 1-D max pooling (PyTorch's F.max_pool1d). Example: `fm.maxPool1d(x, 2)`. */
export function maxPool1d(x: Tensor, kernelSize: Ints, opts?: PoolOptions & { dilation?: Ints }): Tensor {
  return maxPoolNd('maxPool1d', 1, x, kernelSize, opts);
}
/** 2-D max pooling (PyTorch's F.max_pool2d). Example: `fm.maxPool2d(x, 2)`. */
export function maxPool2d(x: Tensor, kernelSize: Ints, opts?: PoolOptions & { dilation?: Ints }): Tensor {
  return maxPoolNd('maxPool2d', 2, x, kernelSize, opts);
}

/** Average pooling options. */
export interface AvgPoolOptions extends PoolOptions {
  countIncludePad?: boolean;
  divisorOverride?: number;
}

function avgPoolNd(op: string, nsp: number, input: Tensor, kernelSize: Ints, opts: AvgPoolOptions = {}): Tensor {
  const { x, flat, unbatched, k, s, p, out } = poolWindows(op, nsp, input, kernelSize, opts, 0);
  const total = flat.sum(-1);
  let y: Tensor;
  if (opts.divisorOverride !== undefined) y = total.div(opts.divisorOverride);
  else {
    // Divide by the window's size clipped to the padded input (countIncludePad) or to the input:
    // count ones over windows whose padding counts 1 (or 0) and whose ceil-mode overhang counts 0.
    const ones1 = ones([1, 1, ...x.shape.slice(2)], { device: x.device, dtype: x.dtype });
    const w = windows(op, ones1, k, s, p, k.map(() => 1), opts.ceilMode ?? false, (opts.countIncludePad ?? true) ? 1 : 0, 0);
    y = total.div(reshape(w.view, [1, 1, ...out, k.reduce((a, b) => a * b, 1)]).sum(-1));
  }
  return unbatched ? squeeze(y, 0) : y;
}

/** 1-D average pooling (PyTorch's F.avg_pool1d). Example: `fm.avgPool1d(x, 3, { stride: 1, padding: 1 })`. */
export function avgPool1d(x: Tensor, kernelSize: Ints, opts?: AvgPoolOptions): Tensor {
  return avgPoolNd('avgPool1d', 1, x, kernelSize, opts);
}
/** 2-D average pooling (PyTorch's F.avg_pool2d). Example: `fm.avgPool2d(x, 2)`. */
export function avgPool2d(x: Tensor, kernelSize: Ints, opts?: AvgPoolOptions): Tensor {
  return avgPoolNd('avgPool2d', 2, x, kernelSize, opts);
}

/** Options of unfold and fold. */
export interface UnfoldOptions {
  dilation?: Ints;
  padding?: Ints;
  stride?: Ints;
}

/** Sliding blocks of a [N, C, H, W] input as columns: [N, C * kh * kw, L] (PyTorch's F.unfold). Example: `fm.unfold(x, 3, { padding: 1 })`. */
export function unfold(x: Tensor, kernelSize: Ints, opts: UnfoldOptions = {}): Tensor {
  if (x.ndim !== 4) throw new ShapeError('unfold', `expected a 4-D input [N, C, H, W], got ${fmtShape(x.shape)}`);
  const k = tuple('unfold', 'kernelSize', kernelSize, 2, 1);
  const { view, out } = windows('unfold', x, k, tuple('unfold', 'stride', opts.stride ?? 1, 2, 1), tuple('unfold', 'padding', opts.padding ?? 0, 2, 0), tuple('unfold', 'dilation', opts.dilation ?? 1, 2, 1), false);
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  return reshape(permute(view, [0, 1, 4, 5, 2, 3]), [n, c * k[0]! * k[1]!, out[0]! * out[1]!]);
}

/** Sums columns [N, C * kh * kw, L] back into [N, C, H, W] (PyTorch's F.fold, unfold's adjoint). Example: `fm.fold(cols, [4, 5], 2)`. */
export function fold(cols: Tensor, outputSize: Ints, kernelSize: Ints, opts: UnfoldOptions = {}): Tensor {
  if (cols.ndim !== 3) throw new ShapeError('fold', `expected a 3-D input [N, C * kh * kw, L], got ${fmtShape(cols.shape)}`);
  const size = tuple('fold', 'outputSize', outputSize, 2, 1);
  const k = tuple('fold', 'kernelSize', kernelSize, 2, 1);
  const s = tuple('fold', 'stride', opts.stride ?? 1, 2, 1);
  const p = tuple('fold', 'padding', opts.padding ?? 0, 2, 0);
  const d = tuple('fold', 'dilation', opts.dilation ?? 1, 2, 1);
  const kk = k[0]! * k[1]!;
  const [n, ckk, l] = [cols.shape[0]!, cols.shape[1]!, cols.shape[2]!];
  if (ckk % kk !== 0) throw new ShapeError('fold', `dim 1 of the input (${ckk}) must be divisible by the kernel's ${kk} elements`);
  const padded = size.map((v, i) => v + 2 * p[i]!);
  const out = padded.map((v, i) => outLength('fold', v, k[i]!, s[i]!, 0, d[i]!, false));
  if (out[0]! * out[1]! !== l) throw new ShapeError('fold', `the input has ${l} blocks, but outputSize ${fmtShape(size)} with this kernel, stride, padding and dilation gives ${out[0]! * out[1]!}`);
  const c = ckk / kk;
  const win = permute(reshape(cols, [n, c, k[0]!, k[1]!, out[0]!, out[1]!]), [0, 1, 4, 5, 2, 3]);
  let y = foldWindows(win, padded, k, s, d);
  p.forEach((pi, i) => {
    if (pi > 0) y = applyOp('slice', [y], { dim: 2 + i, start: pi, step: 1, length: size[i]! });
  });
  return y;
}
