// Tensor methods: the functional ops bound as methods (x.exp() is fm.exp(x)), conversions
// (to, float, ...), in-place forms, and views exposed as getters (T, mT).
import { Tensor } from './tensor.js';
import { Device, type DeviceLike } from '../device.js';
import { isDType, type DType } from '../dtype.js';
import { applyOp } from '../ops/dispatch.js';
import * as math from '../functional/math.js';
import * as red from '../functional/reduction.js';
import * as shp from '../functional/shape.js';
import * as idx from '../functional/indexing.js';
import * as lin from '../functional/linalg.js';
import * as rnd from '../functional/random.js';
import * as cre from '../functional/creation.js';
import { copy_, elementwiseInPlace, fill_, inPlace, zero_ } from '../functional/inplace.js';
import type { UnaryOpName, BinaryOpName } from '../ops/elementwise.js';
import { backward } from '../autograd/api.js';
import { ShapeError } from '../errors.js';
import { fmtShape } from './shape.js';
import { isPinned, pinMemory } from '../pin_memory.js';

type TensorLike = math.TensorLike;

/** Ops whose first argument is the tensor; each becomes a method of the same name. */
const bound = {
  add: math.add, sub: math.sub, mul: math.mul, div: math.div, floorDivide: math.floorDivide, remainder: math.remainder,
  fmod: math.fmod, pow: math.pow, atan2: math.atan2, maximum: math.maximum, minimum: math.minimum, lerp: math.lerp,
  eq: math.eq, ne: math.ne, lt: math.lt, le: math.le, gt: math.gt, ge: math.ge,
  logicalAnd: math.logicalAnd, logicalOr: math.logicalOr, logicalXor: math.logicalXor, logicalNot: math.logicalNot,
  isnan: math.isnan, isinf: math.isinf, isfinite: math.isfinite, nanToNum: math.nanToNum,
  neg: math.neg, abs: math.abs, sign: math.sign, square: math.square, sqrt: math.sqrt, rsqrt: math.rsqrt,
  reciprocal: math.reciprocal, exp: math.exp, exp2: math.exp2, expm1: math.expm1, log: math.log, log2: math.log2,
  log10: math.log10, log1p: math.log1p, sin: math.sin, cos: math.cos, tan: math.tan, asin: math.asin, acos: math.acos,
  atan: math.atan, sinh: math.sinh, cosh: math.cosh, tanh: math.tanh, erf: math.erf, floor: math.floor, ceil: math.ceil,
  round: math.round, trunc: math.trunc, clamp: math.clamp, clampMin: math.clampMin, clampMax: math.clampMax,
  relu: math.relu, relu6: math.relu6, sigmoid: math.sigmoid, logSigmoid: math.logSigmoid, silu: math.silu, mish: math.mish,
  selu: math.selu, leakyRelu: math.leakyRelu, elu: math.elu, softplus: math.softplus, hardtanh: math.hardtanh, gelu: math.gelu,
  sum: red.sum, mean: red.mean, prod: red.prod, amax: red.amax, amin: red.amin, argmax: red.argmax, argmin: red.argmin,
  var: red.variance, std: red.std, norm: red.norm, logsumexp: red.logsumexp, cumsum: red.cumsum, cumprod: red.cumprod,
  all: red.all, any: red.any, softmax: red.softmax, logSoftmax: red.logSoftmax,
  view: shp.view, reshape: shp.reshape, contiguous: shp.contiguous, clone: shp.clone, permute: shp.permute,
  transpose: shp.transpose, movedim: shp.movedim, expand: shp.expand, expandAs: shp.expandAs, squeeze: shp.squeeze,
  unsqueeze: shp.unsqueeze, flatten: shp.flatten, unflatten: shp.unflatten, narrow: shp.narrow, select: shp.select,
  unbind: shp.unbind, flip: shp.flip, split: shp.split, chunk: shp.chunk, repeat: shp.repeat, tile: shp.tile, roll: shp.roll,
  tril: shp.tril, triu: shp.triu,
  index: idx.index, indexPut: idx.indexPut, gather: idx.gather, scatter: idx.scatter, scatterAdd: idx.scatterAdd,
  indexSelect: idx.indexSelect, indexAdd: idx.indexAdd, maskedFill: idx.maskedFill, maskedSelect: idx.maskedSelect,
  nonzero: idx.nonzero, sort: idx.sort, argsort: idx.argsort, topk: idx.topk, unique: idx.unique,
  matmul: lin.matmul, bmm: lin.bmm, dot: lin.dot, outer: lin.outer,
  uniform_: rnd.uniform_, normal_: rnd.normal_, copy_, fill_, zero_, backward,
} as const;

type Bound<F> = F extends (self: Tensor, ...args: infer A) => infer R ? (...args: A) => R : never;
type BoundMethods = { [K in keyof typeof bound]: Bound<(typeof bound)[K]> };

/** In-place arithmetic: `x.op_(...)` writes `x.op(...)` into x. */
const inPlaceOps = {
  add_: math.add, sub_: math.sub, mul_: math.mul, div_: math.div, pow_: math.pow, clamp_: math.clamp,
  neg_: math.neg, abs_: math.abs, exp_: math.exp, log_: math.log, sqrt_: math.sqrt, relu_: math.relu,
  sigmoid_: math.sigmoid, tanh_: math.tanh, floor_: math.floor, round_: math.round, lerp_: math.lerp,
  maskedFill_: idx.maskedFill, scatter_: idx.scatter, scatterAdd_: idx.scatterAdd, indexAdd_: idx.indexAdd,
  indexPut_: idx.indexPut, maximum_: math.maximum, minimum_: math.minimum,
} as const;
type InPlaceMethods = { [K in keyof typeof inPlaceOps]: Bound<(typeof inPlaceOps)[K]> };

declare module './tensor.js' {
  interface Tensor extends BoundMethods, InPlaceMethods {
    /** The maximum of all elements, or `{ values, indices }` along dim. */
    max(): Tensor;
    max(dim: number, opts?: red.ReduceOptions): red.ValuesIndices;
    /** The minimum of all elements, or `{ values, indices }` along dim. */
    min(): Tensor;
    min(dim: number, opts?: red.ReduceOptions): red.ValuesIndices;
    /** This tensor where `cond` holds, `other` elsewhere (PyTorch's Tensor.where). Example: `g.where(x.gt(0), 0)`. */
    where(cond: Tensor, other: TensorLike): Tensor;
    /**
     * A copy as `dtype` and/or on `device` (this tensor itself when nothing changes). With
     * `nonBlocking`, a copy from pinned memory (pinMemory()) to a GPU is queued without waiting.
     * Example: `x.to('float64')`, `x.to('cuda')`, `batch.to('cuda', { nonBlocking: true })`.
     */
    to(target: DType | DeviceLike, opts?: { dtype?: DType; nonBlocking?: boolean }): Tensor;
    /** A copy in page-locked host memory (needs CUDA), which GPU copies read directly. Example: `x.pinMemory().to('cuda', { nonBlocking: true })`. */
    pinMemory(): Tensor;
    /** True for a cpu tensor in page-locked memory. */
    isPinned(): boolean;
    /** As float32. */ float(): Tensor;
    /** As float64. */ double(): Tensor;
    /** As float16. */ half(): Tensor;
    /** As bfloat16. */ bfloat16(): Tensor;
    /** As int64. */ long(): Tensor;
    /** As int32. */ int(): Tensor;
    /** As bool. */ bool(): Tensor;
    /** On the cpu. */ cpu(): Tensor;
    /** A tensor sharing storage, cut from the graph (no grad). Example: `y.detach()`. */
    detach(): Tensor;
    /** Cuts this tensor from the graph in place. */
    detach_(): Tensor;
    /** Zeros of `shape` with this tensor's dtype and device. */
    newZeros(shape: readonly number[]): Tensor;
    /** Ones of `shape` with this tensor's dtype and device. */
    newOnes(shape: readonly number[]): Tensor;
    /** `value` in `shape`, with this tensor's dtype and device. */
    newFull(shape: readonly number[], value: number): Tensor;
    /** A tensor from values with this tensor's dtype and device. */
    newTensor(data: cre.NestedInput): Tensor;
    /** self + value * t1 * t2, in place. Example: `v.addcmul_(g, g, 1 - beta2)`. */
    addcmul_(t1: Tensor, t2: Tensor, value?: number): Tensor;
    /** self + value * t1 / t2, in place. Example: `p.addcdiv_(m, denom, -lr)`. */
    addcdiv_(t1: Tensor, t2: Tensor, value?: number): Tensor;
    /** The transpose of a 2-D tensor (dims reversed for any ndim, as PyTorch's .T). */
    readonly T: Tensor;
    /** The transpose of the last two dims. */
    readonly mT: Tensor;
  }
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const [name, f] of Object.entries(bound)) {
  const fn = f as (self: Tensor, ...a: unknown[]) => unknown;
  proto[name] = function (this: Tensor, ...a: unknown[]) {
    return fn(this, ...a);
  };
}
/** In-place methods that are one elementwise primitive: they may take the direct kernel path. */
const direct: Partial<Record<keyof typeof inPlaceOps, UnaryOpName | BinaryOpName>> = {
  add_: 'add', sub_: 'sub', mul_: 'mul', div_: 'div', pow_: 'pow', maximum_: 'maximum', minimum_: 'minimum',
  neg_: 'neg', abs_: 'abs', exp_: 'exp', log_: 'log', sqrt_: 'sqrt', relu_: 'relu', sigmoid_: 'sigmoid', tanh_: 'tanh',
  floor_: 'floor', round_: 'round',
};
for (const [name, f] of Object.entries(inPlaceOps)) {
  const fn = f as (self: Tensor, ...a: unknown[]) => Tensor;
  const prim = direct[name as keyof typeof inPlaceOps];
  proto[name] = function (this: Tensor, ...a: unknown[]) {
    if (prim !== undefined && a.length <= 1 && this.dtype !== 'bool' && elementwiseInPlace(this, prim, a[0] as TensorLike | undefined)) return this;
    return inPlace(name, this, a.filter((v): v is TensorLike => v instanceof Tensor), (src) => fn(src, ...a));
  };
}

Object.assign(Tensor.prototype, {
  where(this: Tensor, cond: Tensor, other: TensorLike) {
    return math.where(cond, this, other);
  },
  max(this: Tensor, dim?: number, opts?: red.ReduceOptions) {
    return dim === undefined ? red.max(this) : red.max(this, dim, opts);
  },
  min(this: Tensor, dim?: number, opts?: red.ReduceOptions) {
    return dim === undefined ? red.min(this) : red.min(this, dim, opts);
  },
  to(this: Tensor, target: DType | DeviceLike, opts?: { dtype?: DType; nonBlocking?: boolean }): Tensor {
    let out = this;
    const dtype = isDType(target) ? target : opts?.dtype;
    if (!isDType(target)) {
      const device = Device.of(target);
      if (device !== this.device) out = applyOp('toDevice', [out], { from: this.device, to: device, nonBlocking: opts?.nonBlocking ?? false });
    }
    if (dtype !== undefined && dtype !== out.dtype) out = applyOp('cast', [out], dtype);
    return out;
  },
  pinMemory(this: Tensor) { return pinMemory(this); },
  isPinned(this: Tensor) { return isPinned(this); },
  float(this: Tensor) { return this.to('float32'); },
  double(this: Tensor) { return this.to('float64'); },
  half(this: Tensor) { return this.to('float16'); },
  bfloat16(this: Tensor) { return this.to('bfloat16'); },
  long(this: Tensor) { return this.to('int64'); },
  int(this: Tensor) { return this.to('int32'); },
  bool(this: Tensor) { return this.to('bool'); },
  cpu(this: Tensor) { return this.to('cpu'); },
  detach(this: Tensor): Tensor {
    // An owner of the same storage (not a view): it keeps the memory alive on its own, and may be
    // changed in place freely, as in PyTorch.
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  },
  detach_(this: Tensor): Tensor {
    this.gradFn = null;
    this.requiresGrad = false;
    return this;
  },
  newZeros(this: Tensor, shape: readonly number[]) { return cre.zeros(shape, { dtype: this.dtype, device: this.device }); },
  newOnes(this: Tensor, shape: readonly number[]) { return cre.ones(shape, { dtype: this.dtype, device: this.device }); },
  newFull(this: Tensor, shape: readonly number[], value: number) { return cre.full(shape, value, { dtype: this.dtype, device: this.device }); },
  newTensor(this: Tensor, data: cre.NestedInput) { return cre.tensor(data, { dtype: this.dtype, device: this.device }); },
  addcmul_(this: Tensor, t1: Tensor, t2: Tensor, value = 1): Tensor {
    return inPlace('addcmul_', this, [t1, t2], (s) => s.add(t1.mul(t2).mul(value)));
  },
  addcdiv_(this: Tensor, t1: Tensor, t2: Tensor, value = 1): Tensor {
    return inPlace('addcdiv_', this, [t1, t2], (s) => s.add(t1.div(t2).mul(value)));
  },
});

Object.defineProperties(Tensor.prototype, {
  T: {
    get(this: Tensor) {
      return this.ndim < 2 ? this : shp.permute(this, [...this.shape.keys()].reverse());
    },
  },
  mT: {
    get(this: Tensor) {
      if (this.ndim < 2) throw new ShapeError('mT', `expected a tensor with at least 2 dims, got shape ${fmtShape(this.shape)}`);
      return shp.transpose(this, -2, -1);
    },
  },
});

