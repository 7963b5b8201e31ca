// Random numbers: a seedable counter-based generator (Philox, the same numbers on every backend
// for the same seed), and the sampling functions built on its uniform and normal streams.
import type { Tensor } from '../tensor/tensor.js';
import { Device } from '../device.js';
import { getDefaultDtype, isFloating, type DType } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';
import { emptyTensor } from '../ops/dispatch.js';
import { noGrad } from '../autograd/grad_mode.js';
import type { RandomDistribution } from '../backend/interface.js';
import { fmtShape } from '../tensor/shape.js';
import type { TensorOptions } from './creation.js';
import { inPlace } from './inplace.js';

/** PyTorch's default seed, so that a fresh process starts from a fixed state as PyTorch's does. */
const DEFAULT_SEED = 67280421310721n;

/**
 * A random number generator: a 64-bit seed and a counter. Each draw of n numbers uses counters
 * offset..offset+n-1, so results depend only on the seed and the order of draws.
 * Example: `const g = new fm.Generator().manualSeed(0); fm.rand([3], { generator: g })`.
 */
export class Generator {
  private seed = DEFAULT_SEED;
  private offset = 0;
  /** Resets to `seed` (and the counter to 0); returns this. */
  manualSeed(seed: number | bigint): this {
    this.seed = BigInt.asUintN(64, BigInt(seed));
    this.offset = 0;
    return this;
  }
  /** The seed last set. */
  initialSeed(): bigint {
    return this.seed;
  }
  /** Seeds from the clock and returns the seed. */
  seedRandomly(): bigint {
    this.manualSeed(BigInt(Date.now()) * 1000003n + BigInt(Math.floor(Math.random() * 1e9)));
    return this.seed;
  }
  /** The state as [seed, offset], restorable with setState. */
  getState(): [bigint, number] {
    return [this.seed, this.offset];
  }
  setState([seed, offset]: readonly [bigint, number]): void {
    this.seed = seed;
    this.offset = offset;
  }
  /** Reserves n counters and returns the first. */
  take(n: number): number {
    const o = this.offset;
    this.offset += n;
    return o;
  }
  get state(): { seed: bigint } {
    return { seed: this.seed };
  }
}

/** The generator used when none is passed. */
export const defaultGenerator = new Generator();

/** Seeds the default generator. Example: `fm.manualSeed(0)`. */
export function manualSeed(seed: number | bigint): Generator {
  return defaultGenerator.manualSeed(seed);
}

/** Options of the sampling functions. */
export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

function floatType(op: string, dtype: DType | undefined): DType {
  const d = dtype ?? getDefaultDtype();
  if (!isFloating(d)) throw new DTypeError(op, `expected a floating point dtype, got ${d}`);
  return d;
}

/** Fills a new tensor from the generator's stream. */
function draw(op: string, shape: readonly number[], dist: RandomDistribution, a: number, b: number, opts: RandomOptions | undefined, dtype: DType): Tensor {
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) throw new ValueError(op, `invalid shape ${fmtShape(shape)}`);
  const t = emptyTensor(shape, dtype, Device.of(opts?.device ?? 'cpu'));
  const n = t.numel();
  const gen = opts?.generator ?? defaultGenerator;
  if (n > 0) t.storage.backend.random(t.view_(), dist, gen.state.seed, gen.take(n), a, b);
  if (opts?.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** Uniform samples in [0, 1). Example: `fm.rand([2, 3])`. */
export function rand(shape: readonly number[], opts?: RandomOptions): Tensor {
  return draw('rand', shape, 'uniform', 0, 1, opts, floatType('rand', opts?.dtype));
}
/** Standard normal samples. Example: `fm.randn([4])`. */
export function randn(shape: readonly number[], opts?: RandomOptions): Tensor {
  return draw('randn', shape, 'normal', 0, 1, opts, floatType('randn', opts?.dtype));
}
/** Uniform samples with t's shape, dtype and device. */
export function randLike(t: Tensor, opts?: RandomOptions): Tensor {
  return rand(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}
/** Normal samples with t's shape, dtype and device. */
export function randnLike(t: Tensor, opts?: RandomOptions): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

/** Integers uniform in [low, high) (int64 by default). Example: `fm.randint(0, 10, [5])`. */
export function randint(low: number, high: number, shape: readonly number[], opts?: RandomOptions): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new ValueError('randint', `expected integers low < high, got ${low} and ${high}`);
  // 53-bit uniforms scaled to the range: unbiased for any range a double can count.
  const u = draw('randint', shape, 'uniform', 0, 1, { ...opts, requiresGrad: false }, 'float64');
  return noGrad(() => u.mul(high - low).floor().add(low).to(opts?.dtype ?? 'int64'));
}

/** A random permutation of 0..n-1 (int64). Example: `fm.randperm(10)`. */
export function randperm(n: number, opts?: RandomOptions): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new ValueError('randperm', `n must be a non-negative integer, got ${n}`);
  // Sorting random keys gives a uniform permutation (ties have probability ~n^2 / 2^53).
  const keys = draw('randperm', [n], 'uniform', 0, 1, { ...opts, requiresGrad: false }, 'float64');
  return noGrad(() => keys.argsort().to(opts?.dtype ?? 'int64'));
}

/** 1 with probability p (elementwise), 0 otherwise, in p's dtype. Example: `fm.bernoulli(fm.fullLike(x, 0.5))`. */
export function bernoulli(p: Tensor, opts?: { generator?: Generator }): Tensor {
  if (!isFloating(p.dtype)) throw new DTypeError('bernoulli', `expected a floating point probability tensor, got ${p.dtype}`);
  return noGrad(() => rand(p.shape, { dtype: p.dtype, device: p.device, generator: opts?.generator }).lt(p).to(p.dtype));
}

/**
 * Draws `numSamples` category indices from each row of probability weights (1-D or 2-D).
 * Without replacement it uses the exponential-race trick (the smallest E_i / p_i wins).
 * Example: `fm.multinomial(probs, 5, { replacement: true })`.
 */
export function multinomial(probs: Tensor, numSamples: number, opts?: { replacement?: boolean; generator?: Generator }): Tensor {
  if (probs.ndim !== 1 && probs.ndim !== 2) throw new ValueError('multinomial', `probabilities must be 1-D or 2-D, got shape ${fmtShape(probs.shape)}`);
  if (!isFloating(probs.dtype)) throw new DTypeError('multinomial', `expected floating point probabilities, got ${probs.dtype}`);
  const p = probs.ndim === 1 ? probs.unsqueeze(0) : probs;
  const n = p.shape[1]!;
  return noGrad(() => {
    if (p.lt(0).any().item() || !p.isfinite().all().item()) throw new ValueError('multinomial', 'probabilities must be finite and non-negative');
    if (p.sum(1).le(0).any().item()) throw new ValueError('multinomial', 'each row of probabilities must have a positive sum');
    const replacement = opts?.replacement ?? false;
    if (!replacement && numSamples > n) throw new ValueError('multinomial', `cannot sample ${numSamples} > ${n} categories without replacement`);
    const gen = { generator: opts?.generator, device: p.device, dtype: 'float64' as DType };
    let out: Tensor;
    if (replacement) {
      const cdf = p.to('float64').cumsum(1);
      const total = cdf.narrow(1, n - 1, 1);
      const u = rand([p.shape[0]!, numSamples], gen).mul(total);
      // Index = number of cdf entries <= u (searchsorted right).
      out = cdf.unsqueeze(1).le(u.unsqueeze(2)).sum(2).clamp(0, n - 1);
    } else {
      const e = rand(p.shape, gen).neg().log1p().neg(); // Exp(1) samples
      const keys = e.div(p.to('float64'));
      if (p.gt(0).sum(1).lt(numSamples).any().item()) throw new ValueError('multinomial', 'fewer non-zero probabilities than samples requested without replacement');
      out = keys.topk(numSamples, 1, { largest: false }).indices;
    }
    return probs.ndim === 1 ? out.squeeze(0) : out;
  });
}

/** Fills self with uniform samples in [low, high). Example: `w.uniform_(-0.1, 0.1)`. */
export function uniform_(self: Tensor, low = 0, high = 1, opts?: { generator?: Generator }): Tensor {
  const u = draw('uniform_', self.shape, 'uniform', low, high, { generator: opts?.generator, device: self.device }, floatType('uniform_', self.dtype));
  return inPlace('uniform_', self, [], () => u);
}
/** Fills self with normal samples. Example: `w.normal_(0, 0.02)`. */
export function normal_(self: Tensor, mean = 0, std = 1, opts?: { generator?: Generator }): Tensor {
  const u = draw('normal_', self.shape, 'normal', mean, std, { generator: opts?.generator, device: self.device }, floatType('normal_', self.dtype));
  return inPlace('normal_', self, [], () => u);
}
