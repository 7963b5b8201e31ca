// nn.init: PyTorch's initialisers with its gain and fan rules. Each fills a tensor in place
// (without recording a graph) and returns it.
import { Tensor } from '../tensor/tensor.js';
import * as fm from '../index.js';
import { noGrad } from '../autograd/grad_mode.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Generator } from '../functional/random.js';
import { scalarMath } from '../ops/scalar_math.js';

type Opts = { generator?: Generator };
export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity (PyTorch's table). Example: `nn.init.calculateGain('relu')` is sqrt(2). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d': case 'conv_transpose1d': case 'conv_transpose2d': case 'conv_transpose3d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu': return 3 / 4;
    default: throw new ValueError('calculateGain', `unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/** [fanIn, fanOut] of a weight: dim 1 and dim 0 times the receptive field (dims 2...). */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new ShapeError('calculateFanInAndFanOut', `fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape ${JSON.stringify(t.shape)})`);
  const field = t.shape.slice(2).reduce((p, s) => p * s, 1);
  return [t.shape[1]! * field, t.shape[0]! * field];
}

function fan(t: Tensor, mode: 'fan_in' | 'fan_out'): number {
  const [i, o] = calculateFanInAndFanOut(t);
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new ValueError('init', `mode must be 'fan_in' or 'fan_out', got '${String(mode)}'`);
  return mode === 'fan_in' ? i : o;
}

/** Fills with U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1, opts: Opts = {}): Tensor {
  return noGrad(() => t.uniform_(a, b, opts));
}
/** Fills with N(mean, std^2). */
export function normal_(t: Tensor, mean = 0, std = 1, opts: Opts = {}): Tensor {
  return noGrad(() => t.normal_(mean, std, opts));
}
/** Fills with a constant. */
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}
/** The identity in a 2-D tensor. */
export function eye_(t: Tensor): Tensor {
  if (t.ndim !== 2) throw new ShapeError('eye_', 'only tensors with 2 dimensions are supported');
  return noGrad(() => t.copy_(fm.eye(t.shape[0]!, t.shape[1]!, { dtype: t.dtype, device: t.device })));
}

/** Glorot uniform: U(-a, a), a = gain sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, opts: Opts = {}): Tensor {
  const [i, o] = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (i + o));
  return uniform_(t, -a, a, opts);
}
/** Glorot normal: N(0, std^2), std = gain sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, opts: Opts = {}): Tensor {
  const [i, o] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (i + o)), opts);
}

export interface KaimingOptions extends Opts {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}
/** He uniform: U(-b, b), b = gain sqrt(3 / fan) (PyTorch's defaults: a = 0, fan_in, leaky_relu). */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  const bound = gain * Math.sqrt(3 / fan(t, opts.mode ?? 'fan_in'));
  return uniform_(t, -bound, bound, opts);
}
/** He normal: N(0, std^2), std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  return normal_(t, 0, gain / Math.sqrt(fan(t, opts.mode ?? 'fan_in')), opts);
}

/**
 * N(mean, std^2) truncated to [a, b], by PyTorch's method: a uniform draw between the bounds'
 * normal CDFs mapped back through the inverse CDF (erfinv by Newton steps on erf).
 */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, opts: Opts = {}): Tensor {
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const [l, u] = [cdf((a - mean) / std), cdf((b - mean) / std)];
  return noGrad(() => {
    const p = fm.rand(t.shape, { dtype: 'float64', generator: opts.generator }).mul(2 * (u - l)).add(2 * l - 1);
    const v = Float64Array.from(p.data() as Float64Array, (y) => mean + std * Math.SQRT2 * erfinv(y));
    const out = fm.tensor(v, { dtype: 'float64' }).reshape(t.shape).clamp(a, b);
    return t.copy_(out.to(t.device));
  });
}

/** A (semi-)orthogonal matrix (rows or columns orthonormal) times gain, from Gram-Schmidt on a normal draw. */
export function orthogonal_(t: Tensor, gain = 1, opts: Opts = {}): Tensor {
  if (t.ndim < 2) throw new ShapeError('orthogonal_', 'only tensors with 2 or more dimensions are supported');
  const rows = t.shape[0]!;
  const cols = t.numel() / rows;
  const tall = rows >= cols;
  const [n, m] = tall ? [rows, cols] : [cols, rows]; // orthonormalise m columns of length n
  const a = fm.randn([m, n], { dtype: 'float64', generator: opts.generator }).toArray() as number[][];
  for (let i = 0; i < m; i++) {
    const v = a[i]!;
    for (let j = 0; j < i; j++) {
      const q = a[j]!;
      const d = v.reduce((s, x, k) => s + x * q[k]!, 0);
      for (let k = 0; k < n; k++) v[k]! -= d * q[k]!;
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let k = 0; k < n; k++) v[k] = v[k]! / norm;
  }
  // The gain scales the orthonormal result (applied inside the loop it would skew the later projections).
  const q = fm.tensor(a, { dtype: 'float64' }).mul(gain);
  return noGrad(() => t.copy_((tall ? q.T : q).reshape(t.shape).to(t.device)));
}

const erf = scalarMath.erf;
/** erf^-1 by Newton's method from a rational start (float64 accuracy in a few steps). */
/**
 * Identity-preserving convolution weights [out, in / groups, ...kernel]: 1 at the kernel's centre
 * where an output channel matches its input channel (per group), 0 elsewhere.
 * Example: `nn.init.dirac_(conv.weight)`.
 */
export function dirac_(t: Tensor, groups = 1): Tensor {
  if (t.ndim < 3 || t.ndim > 5) throw new ShapeError('dirac_', `only tensors with 3, 4, or 5 dimensions are supported, got ${t.ndim}`);
  const out = t.shape[0]!;
  if (out % groups !== 0) throw new ValueError('dirac_', `dim 0 (${out}) must be divisible by groups (${groups})`);
  const perGroup = out / groups;
  const minDim = Math.min(perGroup, t.shape[1]!);
  const w = fm.zeros(t.shape, { dtype: 'float64' });
  const centre = t.shape.slice(2).map((k) => Math.floor(k / 2));
  const v = w.data() as Float64Array;
  const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((p, q) => p * q, 1));
  for (let g = 0; g < groups; g++) {
    for (let d = 0; d < minDim; d++) {
      const idx = [g * perGroup + d, d, ...centre];
      v[idx.reduce((s, x, k) => s + x * strides[k]!, 0)] = 1;
    }
  }
  return noGrad(() => t.copy_(fm.tensor(v, { dtype: 'float64' }).reshape(t.shape).to(t.device)));
}

/** A 2-D tensor with a fraction `sparsity` of each column zero and the rest N(0, std^2), as PyTorch's sparse_. */
export function sparse_(t: Tensor, sparsity: number, std = 0.01, opts: Opts = {}): Tensor {
  if (t.ndim !== 2) throw new ShapeError('sparse_', 'only tensors with 2 dimensions are supported');
  const [rows, cols] = t.shape as [number, number];
  const zeros = Math.ceil(sparsity * rows);
  return noGrad(() => {
    normal_(t, 0, std, opts);
    const keep = new Float64Array(rows * cols).fill(1);
    for (let c = 0; c < cols; c++) {
      const perm = fm.randperm(rows, { generator: opts.generator }).data() as BigInt64Array;
      for (let k = 0; k < zeros; k++) keep[Number(perm[k]) * cols + c] = 0;
    }
    const mask = fm.tensor(keep, { dtype: 'float64' }).reshape([rows, cols]);
    return t.mul_(mask.to(t.dtype).to(t.device));
  });
}

function erfinv(y: number): number {
  if (y <= -1) return -Infinity;
  if (y >= 1) return Infinity;
  // Winitzki's approximation: with w = -log(1 - y^2) and t = 2 / (pi a) - w / 2, x = sqrt(sqrt(t^2 + w / a) - t).
  const a = 0.147;
  const w = -Math.log((1 - y) * (1 + y));
  const t = 2 / (Math.PI * a) - w / 2;
  let x = Math.sign(y) * Math.sqrt(Math.sqrt(t * t + w / a) - t);
  for (let i = 0; i < 4; i++) x -= (erf(x) - y) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
  return x;
}
