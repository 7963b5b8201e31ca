// nn.functional (F): the stateless forms of the layers, as compositions of Tensor ops (so they
// run on every device and differentiate to any order). Losses are in losses.ts, re-exported here.
import type { Tensor } from '../tensor/tensor.js';
import * as fm from '../index.js';
import { noGrad } from '../autograd/grad_mode.js';
import { DTypeError, ShapeError, ValueError, asOpError } from '../errors.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { applyOp, backendOf } from '../ops/dispatch.js';
import type { Generator } from '../functional/random.js';
import { autocastFloat32OnCuda, autocastLower, withoutAutocast } from '../amp/autocast.js';
import { isFloating, isReducedFloat } from '../dtype.js';

export { conv1d, conv2d, convTranspose1d, convTranspose2d, maxPool1d, maxPool2d, avgPool1d, avgPool2d, unfold, fold } from '../functional/conv.js';
export { relu, relu6, gelu, silu, mish, selu, elu, leakyRelu, softplus, hardtanh, sigmoid, logSigmoid, tanh } from '../functional/math.js';
export { softmax, logSoftmax } from '../functional/reduction.js';
export { oneHot } from '../functional/indexing.js';
export * from './losses.js';

/** y = x W^T + b, with W of shape [out, in] (PyTorch's layout). Example: `F.linear(x, w, b)`. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  [x, weight, bias] = autocastLower(x, weight, bias);
  if (weight.ndim !== 2 || x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError('linear', `input ${fmtShape(x.shape)} does not end with the weight's in features (weight ${fmtShape(weight.shape)} is [out, in])`);
  }
  const y = x.matmul(weight.T);
  return bias ? y.add(bias) : y;
}

/** y[o] = x1 W[o] x2 + b[o] for W of shape [out, in1, in2]. */
export function bilinear(x1: Tensor, x2: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const [o, i, j] = weight.shape as [number, number, number];
  if (weight.ndim !== 3 || x1.shape[x1.ndim - 1] !== i || x2.shape[x2.ndim - 1] !== j) {
    throw new ShapeError('bilinear', `expected inputs [..., ${weight.shape[1]}] and [..., ${weight.shape[2]}] for weight ${fmtShape(weight.shape)}, got ${fmtShape(x1.shape)} and ${fmtShape(x2.shape)}`);
  }
  // NOTE: as two matmuls (einsum has no '...'): (x1 W') [..., o, j] with W' = W as [i, o j], then summed against x2.
  const t = x1.matmul(weight.permute([1, 0, 2]).reshape([i, o * j])).unflatten(-1, [o, j]);
  const y = t.mul(x2.unsqueeze(-2)).sum(-1);
  return bias ? y.add(bias) : y;
}

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new ValueError(op, `dropout probability has to be between 0 and 1, but got ${p}`);
}

/** Zeroes elements with probability p in training and scales the rest by 1 / (1 - p). Example: `F.dropout(x, 0.1, model.training)`. */
export function dropout(x: Tensor, p = 0.5, training = true, opts: { generator?: Generator } = {}): Tensor {
  checkP('dropout', p);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const keep = noGrad(() => fm.bernoulli(fm.full(x.shape, 1 - p, { dtype: x.dtype, device: x.device }), opts));
  return x.mul(keep).div(1 - p);
}

/** Dropout of whole channels of [N, C, ...] (or [C, ...]) input. */
export function dropout2d(x: Tensor, p = 0.5, training = true, opts: { generator?: Generator } = {}): Tensor {
  checkP('dropout2d', p);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const lead = x.ndim === 3 ? 1 : 2;
  const shape = x.shape.map((s, d) => (d < lead ? s : 1));
  const keep = noGrad(() => fm.bernoulli(fm.full(shape, 1 - p, { dtype: x.dtype, device: x.device }), opts));
  return x.mul(keep).div(1 - p);
}

/** [1, C, 1, ...] view of a per-channel vector for [N, C, ...] input. */
function perChannel(v: Tensor, x: Tensor): Tensor {
  return v.reshape([1, v.shape[0]!, ...Array(Math.max(0, x.ndim - 2)).fill(1)]);
}

/**
 * Batch normalisation over every dim but the channel dim (1). In training the batch statistics
 * are used and the running ones updated in place (unbiased variance, as PyTorch).
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, opts: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {}): Tensor {
  const { weight, bias, training = false, momentum = 0.1, eps = 1e-5 } = opts;
  if (mixed(x, runningMean, runningVar, weight, bias)) return batchNorm(x.float(), runningMean, runningVar, opts).to(x.dtype);
  if (x.ndim < 2) throw new ShapeError('batchNorm', `expected at least 2-D input [N, C, ...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1]!;
  for (const [what, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c)) throw new ShapeError('batchNorm', `expected ${what} of shape [${c}] for input ${fmtShape(x.shape)} (C = ${c}), got ${fmtShape(t.shape)}`);
  }
  const dims = [...x.shape.keys()].filter((d) => d !== 1);
  const n = x.numel() / c;
  let mean: Tensor, v: Tensor;
  if (training || !runningMean || !runningVar) {
    if (training && n <= 1) throw new ValueError('batchNorm', `expected more than 1 value per channel when training, got input size ${fmtShape(x.shape)}`);
    mean = x.mean(dims);
    v = fm.variance(x, dims, { correction: 0 });
    if (training && runningMean && runningVar) {
      noGrad(() => {
        runningMean.mul_(1 - momentum).add_(mean.detach().mul(momentum));
        runningVar.mul_(1 - momentum).add_(v.detach().mul(momentum * n / Math.max(n - 1, 1)));
      });
    }
  } else {
    mean = runningMean;
    v = runningVar;
  }
  let y = x.sub(perChannel(mean, x)).mul(perChannel(v.add(eps).rsqrt(), x));
  if (weight) y = y.mul(perChannel(weight, x));
  if (bias) y = y.add(perChannel(bias, x));
  return y;
}

/**
 * A 16-bit input with float32 parameters or statistics (a bfloat16 model's activations through
 * float32 norm layers, as autocast leaves them): the norms compute in float32 and return the
 * input's dtype, as PyTorch's mixed-type norm kernels do, rather than promoting the output.
 */
function mixed(x: Tensor, a?: Tensor | null, b?: Tensor | null, c?: Tensor | null, d?: Tensor | null): boolean {
  // Fixed parameters, no rest array: every norm call asks, nearly always of a float32 input.
  return isReducedFloat(x.dtype) && (a?.dtype === 'float32' || b?.dtype === 'float32' || c?.dtype === 'float32' || d?.dtype === 'float32');
}

/** Normalises over the last dims (`normalizedShape`), then scales and shifts. Example: `F.layerNorm(x, [512], w, b)`. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  [x, weight, bias] = autocastFloat32OnCuda(x, weight, bias);
  if (mixed(x, weight, bias)) return layerNorm(x.float(), normalizedShape, weight, bias, eps).to(x.dtype);
  const k = normalizedShape.length;
  if (k === 0) throw new ValueError('layerNorm', 'normalizedShape must name at least one dim (the last dims of the input), got []');
  if (x.shape.slice(x.ndim - k).join() !== normalizedShape.join()) {
    throw new ShapeError('layerNorm', `input of shape ${fmtShape(x.shape)} does not end with the normalized shape ${fmtShape(normalizedShape)}`);
  }
  const fused = fusedLayerNorm(x, normalizedShape, weight, bias, eps);
  if (fused) return fused;
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const mean = x.mean(dims, { keepdim: true });
  const v = fm.variance(x, dims, { correction: 0, keepdim: true });
  let y = x.sub(mean).mul(v.add(eps).rsqrt());
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

/**
 * Layer norm through the backend's fused kernels (one registry op over rows [M, N]), where there
 * are some and the operands are plain: a float x, weight and bias of its dtype and device and of
 * the normalized shape. Else null, and the composite runs (it also raises the errors).
 */
function fusedLayerNorm(x: Tensor, normalizedShape: readonly number[], weight: Tensor | null | undefined, bias: Tensor | null | undefined, eps: number): Tensor | null {
  const be = backendOf(x);
  const n = normalizedShape.reduce((a, b) => a * b, 1);
  const plain = (t: Tensor | null | undefined) => !t || (t.dtype === x.dtype && t.device === x.device && sameShape(t.shape, normalizedShape));
  if (!be.layerNorm || !be.layerNormBackward || n === 0 || !isFloating(x.dtype) || !plain(weight) || !plain(bias)) return null;
  const inputs = [x.reshape([-1, n]), ...(weight ? [weight.reshape([n])] : []), ...(bias ? [bias.reshape([n])] : [])];
  return applyOp('layerNorm', inputs, { eps, weight: !!weight, bias: !!bias }).reshape(x.shape);
}

/**
 * Root-mean-square normalisation over the last dims, as PyTorch's rms_norm: a 16-bit input is
 * computed in float32, eps defaults to the machine epsilon of that computation (float32's, or
 * float64's), the weight multiplies before the result is rounded, and the result keeps the
 * input's dtype whatever the weight's. Example: `F.rmsNorm(x, [512], w)`.
 */
export function rmsNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, eps?: number): Tensor {
  [x, weight] = autocastFloat32OnCuda(x, weight);
  const k = normalizedShape.length;
  if (x.shape.slice(x.ndim - k).join() !== normalizedShape.join()) {
    throw new ShapeError('rmsNorm', `input of shape ${fmtShape(x.shape)} does not end with the normalized shape ${fmtShape(normalizedShape)}`);
  }
  const dims = [...Array(k).keys()].map((i) => x.ndim - k + i);
  const xf = isReducedFloat(x.dtype) ? x.float() : x;
  const e = eps ?? (xf.dtype === 'float64' ? 2 ** -52 : 2 ** -23);
  let y = xf.mul(xf.square().mean(dims, { keepdim: true }).add(e).rsqrt());
  if (weight) y = y.mul(weight);
  return isFloating(x.dtype) && y.dtype !== x.dtype ? y.to(x.dtype) : y;
}

/** Group normalisation: channels split into numGroups groups, each normalised over its channels and positions. */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  [x, weight, bias] = autocastFloat32OnCuda(x, weight, bias);
  if (mixed(x, weight, bias)) return groupNorm(x.float(), numGroups, weight, bias, eps).to(x.dtype);
  if (x.ndim < 2) throw new ShapeError('groupNorm', `expected input [N, C, ...], got ${fmtShape(x.shape)}`);
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0) throw new ValueError('groupNorm', `expected the number of channels (${c}) to be divisible by numGroups (${numGroups})`);
  const g = x.reshape([n, numGroups, -1]);
  const y = layerNorm(g, [g.shape[2]!], null, null, eps).reshape(x.shape);
  return affine(y, weight, bias);
}

function affine(y: Tensor, weight?: Tensor | null, bias?: Tensor | null): Tensor {
  let out = y;
  if (weight) out = out.mul(perChannel(weight, y));
  if (bias) out = out.add(perChannel(bias, y));
  return out;
}

/** Instance normalisation: each (sample, channel) normalised over its positions. */
export function instanceNorm(x: Tensor, opts: { runningMean?: Tensor | null; runningVar?: Tensor | null; weight?: Tensor | null; bias?: Tensor | null; useInputStats?: boolean; momentum?: number; eps?: number } = {}): Tensor {
  const { runningMean, runningVar, weight, bias, useInputStats = true, momentum = 0.1, eps = 1e-5 } = opts;
  if (x.ndim < 3) throw new ShapeError('instanceNorm', `expected input [N, C, ...] with spatial dims, got ${fmtShape(x.shape)}`);
  const dims = [...x.shape.keys()].slice(2);
  if (!useInputStats && runningMean && runningVar) return affine(x.sub(perChannel(runningMean, x)).mul(perChannel(runningVar.add(eps).rsqrt(), x)), weight, bias);
  const mean = x.mean(dims, { keepdim: true });
  const v = fm.variance(x, dims, { correction: 0, keepdim: true });
  if (runningMean && runningVar) {
    const n = dims.reduce((p, d) => p * x.shape[d]!, 1);
    noGrad(() => {
      runningMean.mul_(1 - momentum).add_(mean.detach().mean([0]).flatten().mul(momentum));
      runningVar.mul_(1 - momentum).add_(v.detach().mean([0]).flatten().mul(momentum * n / Math.max(n - 1, 1)));
    });
  }
  return affine(x.sub(mean).mul(v.add(eps).rsqrt()), weight, bias);
}

/** Rows of `weight` picked by integer `input` (any shape); rows at paddingIdx get no gradient. Example: `F.embedding(ids, table)`. */
export function embedding(input: Tensor, weight: Tensor, opts: { paddingIdx?: number | null } = {}): Tensor {
  if (input.dtype !== 'int64' && input.dtype !== 'int32') throw new DTypeError('embedding', `expected integer indices (int64 or int32), got ${input.dtype}`);
  if (weight.ndim !== 2) throw new ShapeError('embedding', `weight must be 2-D [numEmbeddings, embeddingDim], got ${fmtShape(weight.shape)}`);
  let rows: Tensor;
  try {
    rows = weight.indexSelect(0, input.flatten()).reshape([...input.shape, weight.shape[1]!]);
  } catch (e) {
    throw asOpError(e, 'embedding'); // an index out of range
  }
  if (opts.paddingIdx === undefined || opts.paddingIdx === null) return rows;
  const pad = opts.paddingIdx < 0 ? opts.paddingIdx + weight.shape[0]! : opts.paddingIdx;
  return fm.where(input.ne(pad).unsqueeze(-1), rows, rows.detach());
}

/** x / max(||x||_p, eps) along dim. */
export function normalize(x: Tensor, opts: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  const { p = 2, dim = 1, eps = 1e-12 } = opts;
  [x] = autocastFloat32OnCuda(x);
  return x.div(fm.norm(x, p, dim, { keepdim: true }).clampMin(eps).expandAs(x));
}

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/**
 * Pads the last dims: `pad` lists (left, right) for the last dim first, as PyTorch's F.pad.
 * Negative amounts crop. Example: `F.pad(x, [1, 1, 2, 0])`.
 */
export function pad(x: Tensor, amounts: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  if (!['constant', 'reflect', 'replicate', 'circular'].includes(mode)) throw new ValueError('pad', `mode must be 'constant', 'reflect', 'replicate' or 'circular', got '${String(mode)}'`);
  if (amounts.length % 2 !== 0 || amounts.length / 2 > x.ndim) throw new ValueError('pad', `padding length must be even and at most twice the input's dims (${x.ndim}), got ${amounts.length}`);
  let out = x;
  for (let i = 0; i < amounts.length / 2; i++) {
    const dim = x.ndim - 1 - i;
    const [left, right] = [amounts[2 * i]!, amounts[2 * i + 1]!];
    const n = out.shape[dim]!;
    if (mode === 'constant') {
      if (left < 0) out = out.narrow(dim, -left, out.shape[dim]! + left);
      if (right < 0) out = out.narrow(dim, 0, out.shape[dim]! + right);
      const side = (k: number) => fm.full(out.shape.map((s, d) => (d === dim ? k : s)), value, { dtype: out.dtype, device: out.device });
      const parts = [...(left > 0 ? [side(left)] : []), out, ...(right > 0 ? [side(right)] : [])];
      out = parts.length > 1 ? fm.cat(parts, dim) : out;
      continue;
    }
    if (mode === 'reflect' && (left >= n || right >= n)) throw new ValueError('pad', `reflect padding (${left}, ${right}) must be less than the dim's size ${n}`);
    const src: number[] = [];
    for (let j = -left; j < n + right; j++) {
      if (mode === 'replicate') src.push(Math.min(Math.max(j, 0), n - 1));
      else if (mode === 'circular') src.push(((j % n) + n) % n);
      else src.push(j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j);
    }
    out = out.indexSelect(dim, fm.tensor(src, { dtype: 'int64', device: out.device }));
  }
  return out;
}

/** Start and end of adaptive pooling bin i of `out` bins over `n` positions (PyTorch's rule). */
function bins(n: number, out: number): [number, number][] {
  return [...Array(out).keys()].map((i) => [Math.floor((i * n) / out), Math.ceil(((i + 1) * n) / out)]);
}

function adaptivePool(op: string, x: Tensor, outputSize: readonly (number | null)[], reduce: (t: Tensor, dims: number[]) => Tensor): Tensor {
  const k = outputSize.length;
  if (x.ndim !== k + 1 && x.ndim !== k + 2) throw new ShapeError(op, `expected ${k + 1}-D or ${k + 2}-D input, got ${fmtShape(x.shape)}`);
  let out = x;
  for (let i = 0; i < k; i++) {
    const dim = x.ndim - k + i;
    const n = x.shape[dim]!;
    const o = outputSize[i] ?? n;
    if (o === n) continue;
    if (n % o === 0) {
      out = reduce(out.unflatten(dim, [o, n / o]), [dim + 1]);
      continue;
    }
    out = fm.stack(bins(n, o).map(([s, e]) => reduce(out.narrow(dim, s, e - s), [dim])), dim);
  }
  return out;
}

/** Average pooling to a fixed output size over the last dim. */
export function adaptiveAvgPool1d(x: Tensor, outputSize: number): Tensor {
  return adaptivePool('adaptiveAvgPool1d', x, [outputSize], (t, d) => t.mean(d));
}
/** Average pooling to a fixed output size over the last two dims (null keeps a size). Example: `F.adaptiveAvgPool2d(x, [1, 1])`. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  return adaptivePool('adaptiveAvgPool2d', x, typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize, (t, d) => t.mean(d));
}
/** Max pooling to a fixed output size over the last dim. */
export function adaptiveMaxPool1d(x: Tensor, outputSize: number): Tensor {
  return adaptivePool('adaptiveMaxPool1d', x, [outputSize], (t, d) => t.amax(d));
}
/** Max pooling to a fixed output size over the last two dims. */
export function adaptiveMaxPool2d(x: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  return adaptivePool('adaptiveMaxPool2d', x, typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize, (t, d) => t.amax(d));
}

/**
 * Resizes the spatial dims of [N, C, ...] input: 'nearest' or 'linear' / 'bilinear'
 * (separable, with alignCorners as PyTorch). Example: `F.interpolate(x, { scaleFactor: 2 })`.
 */
export function interpolate(x: Tensor, opts: { size?: number | readonly number[]; scaleFactor?: number | readonly number[]; mode?: 'nearest' | 'linear' | 'bilinear'; alignCorners?: boolean }): Tensor {
  const k = x.ndim - 2;
  if (k < 1) throw new ShapeError('interpolate', `expected input with spatial dims [N, C, ...], got ${fmtShape(x.shape)}`);
  const mode = opts.mode ?? 'nearest';
  if (!['nearest', 'linear', 'bilinear'].includes(mode)) throw new ValueError('interpolate', `mode must be 'nearest', 'linear' or 'bilinear', got '${String(mode)}'`);
  if (mode !== 'nearest' && (mode === 'linear') !== (k === 1)) throw new ShapeError('interpolate', `mode '${mode}' expects ${mode === 'linear' ? '3' : '4'}-D input, got ${fmtShape(x.shape)}`);
  if (mode === 'nearest' && opts.alignCorners !== undefined) throw new ValueError('interpolate', "alignCorners only has an effect with mode 'linear' or 'bilinear'");
  const list = (v: number | readonly number[]) => {
    const l = typeof v === 'number' ? Array(k).fill(v) as number[] : [...v];
    if (l.length !== k || l.some((s) => !(s > 0))) throw new ValueError('interpolate', `expected ${k} positive sizes or scale factors for input ${fmtShape(x.shape)}, got ${JSON.stringify(v)}`);
    return l;
  };
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) throw new ValueError('interpolate', 'give exactly one of size and scaleFactor');
  const scales = opts.scaleFactor !== undefined ? list(opts.scaleFactor) : undefined;
  const sizes = opts.size !== undefined ? list(opts.size) : scales!.map((s, i) => Math.floor(x.shape[2 + i]! * s));
  let out = x;
  for (let i = 0; i < k; i++) {
    const dim = 2 + i;
    const n = x.shape[dim]!;
    const o = sizes[i]!;
    // PyTorch uses 1/scale as the step when a scale factor is given, else in/out.
    const step = scales ? 1 / scales[i]! : n / o;
    const idx = (v: number[]) => fm.tensor(v, { dtype: 'int64', device: x.device });
    if (mode === 'nearest') {
      // NOTE: as PyTorch's forward, the source index j * step is computed in the input's precision, then floored
      // as a float32 (floorf): 31 -> 40 gives 30 for j = 39 where double arithmetic gives 29.999999999999996, and
      // 26 -> 22 gives 12 (float32) or 13 (float64) for j = 11.
      const s = x.dtype === 'float32' ? Math.fround(step) : step;
      out = out.indexSelect(dim, idx([...Array(o).keys()].map((j) => Math.min(Math.floor(Math.fround(j * s)), n - 1))));
      continue;
    }
    // A dim whose size does not change is copied, whatever the scale factor (as PyTorch's linear kernels).
    if (o === n) continue;
    const src = [...Array(o).keys()].map((j) => (opts.alignCorners ? (o > 1 ? (j * (n - 1)) / (o - 1) : 0) : Math.max((j + 0.5) * step - 0.5, 0)));
    const lo = src.map((s) => Math.min(Math.floor(s), n - 1));
    const hi = lo.map((l) => Math.min(l + 1, n - 1));
    const w = fm.tensor(src.map((s, j) => s - lo[j]!), { dtype: x.dtype, device: x.device }).reshape(x.shape.map((_, d) => (d === dim ? o : 1)));
    const a = out.indexSelect(dim, idx(lo));
    const b = out.indexSelect(dim, idx(hi));
    out = a.add(b.sub(a).mul(w));
  }
  return out;
}

/** [N, C r^2, H, W] to [N, C, H r, W r]. */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  if (x.ndim !== 4) throw new ShapeError('pixelShuffle', `expected input [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (c % (r * r) !== 0) throw new ValueError('pixelShuffle', `channels (${c}) must be divisible by upscaleFactor^2 (${r * r})`);
  return x.reshape([n, c / (r * r), r, r, h, w]).permute([0, 1, 4, 2, 5, 3]).reshape([n, c / (r * r), h * r, w * r]);
}

/** [N, C, H r, W r] to [N, C r^2, H, W]. */
export function pixelUnshuffle(x: Tensor, r: number): Tensor {
  if (x.ndim !== 4) throw new ShapeError('pixelUnshuffle', `expected input [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h % r !== 0 || w % r !== 0) throw new ValueError('pixelUnshuffle', `height (${h}) and width (${w}) must be divisible by downscaleFactor (${r})`);
  return x.reshape([n, c, h / r, r, w / r, r]).permute([0, 1, 3, 5, 2, 4]).reshape([n, c * r * r, h / r, w / r]);
}

/** A parameterised ReLU: x where x > 0, weight * x elsewhere (weight per channel or one). */
export function prelu(x: Tensor, weight: Tensor): Tensor {
  const channels = x.ndim >= 2 ? x.shape[1]! : x.ndim === 1 ? x.shape[0]! : 1;
  if (weight.numel() !== 1 && weight.numel() !== channels) throw new ShapeError('prelu', `weight has ${weight.numel()} parameters, expected 1 or the number of channels (${channels}) of input ${fmtShape(x.shape)}`);
  const w = weight.numel() === 1 || x.ndim < 2 ? weight.reshape(weight.numel() === 1 ? [] : [weight.numel()]) : perChannel(weight, x);
  return fm.where(x.gt(0), x, x.mul(w));
}

/**
 * softmax(q k^T * scale + mask) v over the last two dims; attnMask is boolean (true = attend)
 * or additive; isCausal masks the future. Example: `F.scaledDotProductAttention(q, k, v, { isCausal: true })`.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opts: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number; generator?: Generator } = {}): Tensor {
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2 || q.shape[q.ndim - 1] !== k.shape[k.ndim - 1] || k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) {
    throw new ShapeError('scaledDotProductAttention', `expected query [..., L, E], key [..., S, E] and value [..., S, Ev], got ${fmtShape(q.shape)}, ${fmtShape(k.shape)} and ${fmtShape(v.shape)}`);
  }
  // Autocast runs attention as one 16-bit op, softmax included (PyTorch's kernel does).
  [q, k, v] = autocastLower(q, k, v);
  return withoutAutocast(() => attention(q, k, v, opts));
}

function attention(q: Tensor, k: Tensor, v: Tensor, opts: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number; generator?: Generator }): Tensor {
  const L = q.shape[q.ndim - 2]!;
  const S = k.shape[k.ndim - 2]!;
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]!);
  let scores = q.matmul(k.mT).mul(scale);
  if (opts.isCausal) {
    // The future (column j > row i); built from aranges since triu of a bool tensor is not bool.
    const future = fm.arange(S, { device: q.device }).unsqueeze(0).gt(fm.arange(L, { device: q.device }).unsqueeze(1));
    scores = scores.maskedFill(future, -Infinity);
  }
  if (opts.attnMask) scores = opts.attnMask.dtype === 'bool' ? scores.maskedFill(opts.attnMask.logicalNot(), -Infinity) : scores.add(opts.attnMask);
  let attn = scores.softmax(-1);
  if (opts.dropoutP) attn = dropout(attn, opts.dropoutP, true, { generator: opts.generator });
  return attn.matmul(v);
}

/**
 * Cosine similarity along dim: (x1 / max(||x1||, eps)) . (x2 / max(||x2||, eps)), each norm clamped on its own
 * (as PyTorch; clamping the product instead would shrink the similarity of two short vectors). Below eps the
 * clamped norm is a constant for the gradient (PyTorch differentiates through the unclamped norm there).
 * Example: `F.cosineSimilarity(a, b, -1)`.
 */
export function cosineSimilarity(x1: Tensor, x2: Tensor, dim = 1, eps = 1e-8): Tensor {
  [x1, x2] = autocastFloat32OnCuda(x1, x2);
  const unit = (x: Tensor) => x.div(fm.norm(x, 2, dim, { keepdim: true }).clampMin(eps));
  return unit(x1).mul(unit(x2)).sum(dim);
}

/** ||x1 - x2 + eps||_p along the last dim. */
export function pairwiseDistance(x1: Tensor, x2: Tensor, p = 2, eps = 1e-6, keepdim = false): Tensor {
  return fm.norm(x1.sub(x2).add(eps), p, -1, { keepdim });
}

