// The backend interface: storage and a fixed set of kernels over strided views.
// Backends hold no framework logic: shapes, dtypes and broadcasting are settled above them.
import type { DType, TypedArray } from '../dtype.js';
import type { UnaryOpName, BinaryOpName } from '../ops/elementwise.js';

/** Memory owned by a backend. `handle` is the backend's own (a typed array for ts/cpu, a device pointer for cuda). */
export interface StorageHandle {
  readonly dtype: DType;
  readonly numel: number;
}

/**
 * A strided window onto a storage: every kernel takes these, so non-contiguous inputs need no copy.
 * Element (i0, i1, ...) lives at `offset + i0 * strides[0] + i1 * strides[1] + ...`.
 * Strides may be 0 (broadcast) or negative (flip).
 */
export interface View<S extends StorageHandle = StorageHandle> {
  readonly storage: S;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Adam's / AdamW's hyper-parameters for one step (step size and bias correction already computed, as the composite does). */
export interface AdamHyper {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number;
  decoupled: boolean; maximize: boolean; amsgrad: boolean;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  bc2Sqrt: number;
}
/**
 * A 2-D convolution's geometry: stride [sh, sw], padding before the first row and column [ph, pw]
 * (the output size [oh, ow] implies the padding after), dilation [dh, dw], groups.
 */
export interface ConvGeometry {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly out: readonly [number, number];
}

/** SGD's hyper-parameters for one step; `first` when the momentum buffer is being created. */
export interface SgdHyper {
  lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean; first: boolean;
}

/** How a fused cross-entropy reduces its rows. */
export type CrossEntropyReduction = 'none' | 'sum' | 'mean';

export type ReduceOpName = 'sum' | 'prod' | 'max' | 'min' | 'argmax' | 'argmin' | 'all' | 'any';
export type ScanOpName = 'cumsum' | 'cumprod';
export type RandomDistribution = 'uniform' | 'normal';

/**
 * What a device implements. Inputs of elementwise kernels share one dtype (the op layer casts
 * first); outputs are written through `out`, already allocated by the caller.
 */
export interface Backend<S extends StorageHandle = StorageHandle> {
  /** Short name shown in messages ('ts', 'cpu', 'cuda'). */
  readonly name: string;
  /**
   * True when storage memory is not the garbage collector's (device memory): storages nobody
   * disposed are then freed from a FinalizationRegistry.
   */
  readonly needsRelease?: boolean;
  /**
   * Kernels that take float16 / bfloat16 views themselves (all operands one such dtype); every
   * other call with 16-bit views gets float32 stand-ins (backend/reduced_float.ts).
   */
  readonly reducedFloatKernels?: readonly 'matmul'[];
  /** New storage of `numel` elements (contents unspecified). */
  allocate(dtype: DType, numel: number): S;
  /** Returns the storage's memory to the backend; the storage is unusable after. */
  free(storage: S): void;
  /** Copies host values into the storage from element `offset`. */
  write(storage: S, values: TypedArray, offset: number): void;
  /**
   * Optional: copies host values that lie in pinned memory (Tensor.pinMemory) without waiting,
   * queued on the current stream; returns false, doing nothing, when they are not pinned. The
   * memory stays allocated until the copy is done; the caller leaves the values unchanged.
   */
  writeNonBlocking?(storage: S, values: TypedArray, offset: number): boolean;
  /** Copies `numel` elements from element `offset` to a new host typed array. */
  read(storage: S, offset: number, numel: number): TypedArray;
  /** out[i] = cast(x[i]): strided copy between any two dtypes (same shape). */
  copy(out: View<S>, x: View<S>): void;
  /** out[i] = value (cast to out's dtype). */
  fill(out: View<S>, value: number): void;
  /** out[i] = op(x[i], params). */
  unary(op: UnaryOpName, out: View<S>, x: View<S>, params: readonly number[]): void;
  /** out[i] = op(a[i], b[i]); a and b have out's shape (broadcast by 0 strides). */
  binary(op: BinaryOpName, out: View<S>, a: View<S>, b: View<S>): void;
  /** out[i] = cond[i] ? a[i] : b[i]; cond is bool. */
  where(out: View<S>, cond: View<S>, a: View<S>, b: View<S>): void;
  /** Reduces x over `dims` into out, whose shape is x's with those dims set to 1. arg* write int64. */
  reduce(op: ReduceOpName, out: View<S>, x: View<S>, dims: readonly number[]): void;
  /** Inclusive scan of x along `dim` into out (same shape). */
  scan(op: ScanOpName, out: View<S>, x: View<S>, dim: number): void;
  /**
   * Optional fused softmax (log-softmax when `log`) of a float x along `dim` into out (same shape).
   * Without it, softmax runs as its composite of reductions and elementwise ops.
   */
  softmax?(out: View<S>, x: View<S>, dim: number, log: boolean): void;
  /**
   * Optional fused gradient of softmax (log-softmax when `log`) along `dim`, from its output y and
   * the incoming gradient g (float views of one shape and dtype) into gx: g - exp(y) sum(g) for
   * log-softmax, y (g - sum(g y)) for softmax. Without it, the gradient runs as that composite.
   */
  softmaxBackward?(gx: View<S>, y: View<S>, g: View<S>, dim: number, log: boolean): void;
  /**
   * Optional 2-D max pooling of x [N, C, H, W] into out [N, C, OH, OW] and indices (int64, the
   * flat position h * W + w of each maximum in its plane), PyTorch's scan: padding never wins,
   * ties go to the first element, NaN to the last NaN. Without it, max pooling runs as a composite.
   */
  maxPool2d?(out: View<S>, indices: View<S>, x: View<S>, k: readonly number[], s: readonly number[], p: readonly number[], d: readonly number[]): void;
  /**
   * Its gradient: gx [N, C, H, W] zeroed, then each element of g [N, C, OH, OW] added at its
   * window's maximum (indices; -1, a window wholly in the padding, adds nothing), in order; all
   * three contiguous.
   */
  maxPool2dBackward?(gx: View<S>, g: View<S>, indices: View<S>): void;
  /**
   * Optional fused cross-entropy at class indices, for a float x [N, C] and int64 target [N]: each
   * row's loss -log_softmax(x[i])[target[i]] (0 where target[i] = ignoreIndex) into rows [N], and
   * the reduction into out (rows itself for 'none'; else a scalar: the sum of the kept rows, over
   * their count for 'mean'). Returns -1, or the first row whose target is out of [0, C) (nothing
   * written then). Without it, cross-entropy runs as its composite.
   */
  crossEntropy?(out: View<S>, rows: View<S>, x: View<S>, target: View<S>, ignoreIndex: number, reduction: CrossEntropyReduction): number;
  /**
   * Its gradient: gx[i, c] = s_i (softmax(x[i])[c] - [c = target[i]]), s_i = 0 for an ignored row,
   * else g[i] ('none'), g ('sum') or g / (kept rows) ('mean'); g is [N] or a scalar.
   */
  crossEntropyBackward?(gx: View<S>, x: View<S>, target: View<S>, g: View<S>, ignoreIndex: number, reduction: CrossEntropyReduction): void;
  /**
   * Optional fused layer normalisation of float rows x [M, N] over N: mean and rstd [M] (the row's
   * mean and 1 / sqrt(biased variance + eps)), y = (x - mean) rstd weight + bias (weight and bias
   * [N], or null). Without it, layer norm runs as its composite.
   */
  layerNorm?(y: View<S>, mean: View<S>, rstd: View<S>, x: View<S>, weight: View<S> | null, bias: View<S> | null, eps: number): void;
  /**
   * Its gradient from the forward's mean and rstd: gx [M, N] (xhat = (x - mean) rstd, h = g weight:
   * gx = rstd (h - mean_j h - xhat mean_j(h xhat))), and where given gw = sum_i g xhat, gb = sum_i g.
   */
  layerNormBackward?(gx: View<S>, gw: View<S> | null, gb: View<S> | null, g: View<S>, x: View<S>, mean: View<S>, rstd: View<S>, weight: View<S> | null): void;
  /**
   * Optional fused 2-D convolution (PyTorch's conv2d) of contiguous float x [N, C, H, W] with
   * contiguous w [OC, C / groups, KH, KW] into contiguous y [N, OC, OH, OW], plus bias [OC] when
   * given. Without it, convolution runs as its composite (im2col and GEMM).
   */
  conv2d?(y: View<S>, x: View<S>, w: View<S>, bias: View<S> | null, geom: ConvGeometry): void;
  /** Its gradients for g [N, OC, OH, OW], each only where given (and overwritten): gx, gw and gb [OC]. */
  conv2dBackward?(gx: View<S> | null, gw: View<S> | null, gb: View<S> | null, g: View<S>, x: View<S>, w: View<S>, geom: ConvGeometry): void;
  /** out[..., m, n] = a[..., m, k] @ b[..., k, n]; batch dims already equal (0 strides allowed). */
  matmul(out: View<S>, a: View<S>, b: View<S>): void;
  /** out[p] = x[p with p[dim] = index[p]]; out has index's shape. Raises on an out-of-range index. */
  gather(out: View<S>, x: View<S>, dim: number, index: View<S>): void;
  /** In place: out[p with p[dim] = index[p]] (= or +=) src[p], for p over index's shape. */
  scatter(out: View<S>, dim: number, index: View<S>, src: View<S>, accumulate: boolean): void;
  /**
   * out[i] += src[i] over views of one shape, where `out` may visit an element more than once
   * (overlapping windows: col2im, fold, the gradient of a window view); runs in order.
   */
  accumulate(out: View<S>, src: View<S>): void;
  /** Stable argsort of x along `dim` into out (int64), NaN sorting above everything. */
  argsort(out: View<S>, x: View<S>, dim: number, descending: boolean): void;
  /** Fills contiguous float `out` from the counter-based generator (seed, offset); a, b = low, high or mean, std. */
  random(out: View<S>, dist: RandomDistribution, seed: bigint, offset: number, a: number, b: number): void;
  /**
   * Optional fused optimizer steps over contiguous views of one float dtype, in place (p, m, v,
   * vmax; buf): the same arithmetic, rounded after each operation, as the per-op updates in optim/,
   * so the results are identical; one pass over memory instead of about a dozen.
   */
  adamStep?(p: View<S>, grad: View<S>, m: View<S>, v: View<S>, vmax: View<S> | null, h: AdamHyper): void;
  sgdStep?(p: View<S>, grad: View<S>, buf: View<S> | null, h: SgdHyper): void;
  /** Waits until queued work is done (a no-op for synchronous backends). */
  synchronize(): void;
}
