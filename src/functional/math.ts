// Elementwise math: thin wrappers over the registry's unary and binary primitives, scalar
// operands (PyTorch's type promotion for plain numbers), and activation functions.
import { Tensor } from '../tensor/tensor.js';
import { resultType, type DType } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';
import { applyOp } from '../ops/dispatch.js';
import type { UnaryOpName, BinaryOpName } from '../ops/elementwise.js';
import { setApplyBinary } from '../ops/elementwise.js';
import { scalarTensor } from './creation.js';

/** A JS number or boolean used as a tensor operand. */
export type Scalar = number | boolean;
/** A tensor or a scalar. */
export type TensorLike = Tensor | Scalar;

const noParams: readonly number[] = [];

/** Tensors for a list of operands: scalars become 0-dim tensors of the promoted dtype. */
export function asTensors(op: string, operands: readonly TensorLike[], dtype?: DType): Tensor[] {
  let model: Tensor | undefined;
  let all = true;
  for (const o of operands) {
    if (o instanceof Tensor) model ??= o;
    else all = false;
  }
  if (!model) throw new ValueError(op, 'expected at least one tensor operand');
  if (all) return operands as Tensor[];
  const dt = dtype ?? resultType(operands.map((o) => (o instanceof Tensor ? o : o)));
  return operands.map((o) => (o instanceof Tensor ? o : scalarTensor(o, dt, model.device)));
}

/** Applies a unary primitive. */
export function unary(name: UnaryOpName, x: Tensor, params: readonly number[] = noParams): Tensor {
  return applyOp(name, [x], params);
}

/** Applies a binary primitive with broadcasting; either side may be a scalar. */
export function binary(name: BinaryOpName, a: TensorLike, b: TensorLike): Tensor {
  return applyOp(name, asTensors(name, [a, b]), null);
}
setApplyBinary((name, a, b) => binary(name as BinaryOpName, a, b));

// --- arithmetic -------------------------------------------------------------------------

/** a + alpha * b, broadcast. Example: `fm.add(x, 1)`, `fm.add(x, y, { alpha: 2 })`. */
export function add(a: TensorLike, b: TensorLike, opts?: { alpha?: number }): Tensor {
  return binary('add', a, opts?.alpha === undefined || opts.alpha === 1 ? b : mul(b, opts.alpha));
}
/** a - alpha * b. Example: `fm.sub(x, y)`. */
export function sub(a: TensorLike, b: TensorLike, opts?: { alpha?: number }): Tensor {
  const isBool = (v: TensorLike) => typeof v === 'boolean' || (v instanceof Tensor && v.dtype === 'bool');
  if (isBool(a) && isBool(b)) throw new DTypeError('sub', 'subtraction of two bool tensors is not supported (as in PyTorch); use logicalXor');
  return binary('sub', a, opts?.alpha === undefined || opts.alpha === 1 ? b : mul(b, opts.alpha));
}
/** a * b. Example: `fm.mul(x, 2)`. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  return binary('mul', a, b);
}
/** Division: true (float) by default, or rounded `'floor'` / `'trunc'` keeping the dtype. Example: `fm.div(x, 2, { roundingMode: 'floor' })`. */
export function div(a: TensorLike, b: TensorLike, opts?: { roundingMode?: 'floor' | 'trunc' | null }): Tensor {
  const mode = opts?.roundingMode ?? null;
  return binary(mode === 'floor' ? 'divFloor' : mode === 'trunc' ? 'divTrunc' : 'div', a, b);
}
/** floor(a / b). Example: `fm.floorDivide(x, 3)`. */ export const floorDivide = (a: TensorLike, b: TensorLike): Tensor => binary('divFloor', a, b);
/** Python's remainder (the result has b's sign). */ export const remainder = (a: TensorLike, b: TensorLike): Tensor => binary('remainder', a, b);
/** C's fmod (the result has a's sign). */ export const fmod = (a: TensorLike, b: TensorLike): Tensor => binary('fmod', a, b);
/** a ** b. Example: `fm.pow(x, 2)`. */ export const pow = (a: TensorLike, b: TensorLike): Tensor => binary('pow', a, b);
/** atan2(a, b), the angle of the point (b, a). */ export const atan2 = (a: TensorLike, b: TensorLike): Tensor => binary('atan2', a, b);
/** Elementwise maximum (NaN propagates). Example: `fm.maximum(x, 0)`. */ export const maximum = (a: TensorLike, b: TensorLike): Tensor => binary('maximum', a, b);
/** Elementwise minimum (NaN propagates). */ export const minimum = (a: TensorLike, b: TensorLike): Tensor => binary('minimum', a, b);
/** start + weight * (end - start). Example: `fm.lerp(a, b, 0.5)`. */
export function lerp(start: Tensor, end: TensorLike, weight: TensorLike): Tensor {
  return add(start, mul(weight, sub(end, start)));
}

// --- comparison and logic ---------------------------------------------------------------

/** a == b (bool). */ export const eq = (a: TensorLike, b: TensorLike): Tensor => binary('eq', a, b);
/** a != b (bool). */ export const ne = (a: TensorLike, b: TensorLike): Tensor => binary('ne', a, b);
/** a < b (bool). */ export const lt = (a: TensorLike, b: TensorLike): Tensor => binary('lt', a, b);
/** a <= b (bool). */ export const le = (a: TensorLike, b: TensorLike): Tensor => binary('le', a, b);
/** a > b (bool). Example: `fm.gt(x, 0)`. */ export const gt = (a: TensorLike, b: TensorLike): Tensor => binary('gt', a, b);
/** a >= b (bool). */ export const ge = (a: TensorLike, b: TensorLike): Tensor => binary('ge', a, b);
/** Logical and of truth values (bool). */ export const logicalAnd = (a: TensorLike, b: TensorLike): Tensor => binary('logicalAnd', a, b);
/** Logical or of truth values (bool). */ export const logicalOr = (a: TensorLike, b: TensorLike): Tensor => binary('logicalOr', a, b);
/** Logical xor of truth values (bool). */ export const logicalXor = (a: TensorLike, b: TensorLike): Tensor => binary('logicalXor', a, b);
/** Logical not (bool). */ export const logicalNot = (x: Tensor): Tensor => unary('logicalNot', x);
/** True where NaN. */ export const isnan = (x: Tensor): Tensor => unary('isnan', x);
/** True where +-Inf. */ export const isinf = (x: Tensor): Tensor => unary('isinf', x);
/** True where finite. */ export const isfinite = (x: Tensor): Tensor => unary('isfinite', x);

/** `a` where `cond` holds, `b` elsewhere, broadcast. Example: `fm.where(x.gt(0), x, 0)`. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [ta, tb] = a instanceof Tensor || b instanceof Tensor ? asTensors('where', [a, b]) : [a, b].map((v) => scalarTensor(v as Scalar, resultType([a, b]), cond.device));
  return applyOp('where', [cond, ta!, tb!], null);
}

// --- unary math -------------------------------------------------------------------------

/** -x. */
export function neg(x: Tensor): Tensor {
  if (x.dtype === 'bool') throw new DTypeError('neg', 'negation of a bool tensor is not supported (as in PyTorch); use logicalNot');
  return unary('neg', x);
}
/** |x|. */ export const abs = (x: Tensor): Tensor => unary('abs', x);
/** -1, 0 or 1 by sign. */ export const sign = (x: Tensor): Tensor => unary('sign', x);
/** x * x. */ export const square = (x: Tensor): Tensor => unary('square', x);
/** Square root. Example: `fm.sqrt(fm.tensor([4]))`. */ export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
/** 1 / sqrt(x). */ export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
/** 1 / x. */ export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x);
/** e^x. Example: `fm.exp(x)`. */ export const exp = (x: Tensor): Tensor => unary('exp', x);
/** 2^x. */ export const exp2 = (x: Tensor): Tensor => unary('exp2', x);
/** e^x - 1, accurate near 0. */ export const expm1 = (x: Tensor): Tensor => unary('expm1', x);
/** Natural logarithm. */ export const log = (x: Tensor): Tensor => unary('log', x);
/** Base-2 logarithm. */ export const log2 = (x: Tensor): Tensor => unary('log2', x);
/** Base-10 logarithm. */ export const log10 = (x: Tensor): Tensor => unary('log10', x);
/** log(1 + x), accurate near 0. */ export const log1p = (x: Tensor): Tensor => unary('log1p', x);
/** Sine. */ export const sin = (x: Tensor): Tensor => unary('sin', x);
/** Cosine. */ export const cos = (x: Tensor): Tensor => unary('cos', x);
/** Tangent. */ export const tan = (x: Tensor): Tensor => unary('tan', x);
/** Arcsine. */ export const asin = (x: Tensor): Tensor => unary('asin', x);
/** Arccosine. */ export const acos = (x: Tensor): Tensor => unary('acos', x);
/** Arctangent. */ export const atan = (x: Tensor): Tensor => unary('atan', x);
/** Hyperbolic sine. */ export const sinh = (x: Tensor): Tensor => unary('sinh', x);
/** Hyperbolic cosine. */ export const cosh = (x: Tensor): Tensor => unary('cosh', x);
/** Hyperbolic tangent. */ export const tanh = (x: Tensor): Tensor => unary('tanh', x);
/** The Gauss error function. */ export const erf = (x: Tensor): Tensor => unary('erf', x);
/** Round down. */ export const floor = (x: Tensor): Tensor => unary('floor', x);
/** Round up. */ export const ceil = (x: Tensor): Tensor => unary('ceil', x);
/** Round half to even (as PyTorch). Example: `fm.round(fm.tensor([0.5, 1.5]))` is `[0, 2]`. */ export const round = (x: Tensor): Tensor => unary('round', x);
/** Round toward zero. */ export const trunc = (x: Tensor): Tensor => unary('trunc', x);

/** Clamps to [min, max]; either bound may be omitted (null) or a tensor. Example: `fm.clamp(x, 0, 1)`. */
export function clamp(x: Tensor, min?: TensorLike | null, max?: TensorLike | null): Tensor {
  if (min == null && max == null) throw new ValueError('clamp', 'at least one of min and max must be given');
  const bounds = [min, max].filter((b): b is TensorLike => b != null);
  const dtype = resultType([x, ...bounds]);
  const src = dtype === x.dtype ? x : x.to(dtype);
  if (min instanceof Tensor || max instanceof Tensor) {
    // Selected with where, so the gradient goes to x inside [min, max] and to the bound outside.
    const lower = min == null ? src : where(src.lt(min), min, src);
    return max == null ? lower : where(lower.gt(max), max, lower);
  }
  return unary('clamp', src, [min == null ? -Infinity : Number(min), max == null ? Infinity : Number(max)]);
}
/** max(x, min). */ export const clampMin = (x: Tensor, min: TensorLike): Tensor => clamp(x, min, null);
/** min(x, max). */ export const clampMax = (x: Tensor, max: TensorLike): Tensor => clamp(x, null, max);

const finiteRange: Record<string, number> = { float32: 3.4028234663852886e38, float64: Number.MAX_VALUE };
/** Replaces NaN, +Inf and -Inf (defaults: 0 and the dtype's largest finite values). Example: `fm.nanToNum(x)`. */
export function nanToNum(x: Tensor, opts?: { nan?: number; posinf?: number; neginf?: number }): Tensor {
  const big = finiteRange[x.dtype] ?? Number.MAX_VALUE;
  return unary('nanToNum', x, [opts?.nan ?? 0, opts?.posinf ?? big, opts?.neginf ?? -big]);
}

// --- activations ------------------------------------------------------------------------

/** max(x, 0). Example: `fm.relu(x)`. */ export const relu = (x: Tensor): Tensor => unary('relu', x);
/** min(max(x, 0), 6). */ export const relu6 = (x: Tensor): Tensor => unary('relu6', x);
/** 1 / (1 + e^-x), computed stably. */ export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
/** log(sigmoid(x)), computed stably. */ export const logSigmoid = (x: Tensor): Tensor => unary('logSigmoid', x);
/** x * sigmoid(x). */ export const silu = (x: Tensor): Tensor => unary('silu', x);
/** x * tanh(softplus(x)). */ export const mish = (x: Tensor): Tensor => unary('mish', x);
/** Scaled ELU with the self-normalising constants. */ export const selu = (x: Tensor): Tensor => unary('selu', x);
/** x for x > 0, negativeSlope * x otherwise. Example: `fm.leakyRelu(x, 0.2)`. */
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor => unary('leakyRelu', x, [negativeSlope]);
/** x for x > 0, alpha (e^x - 1) otherwise. */
export const elu = (x: Tensor, alpha = 1): Tensor => unary('elu', x, [alpha]);
/** log(1 + e^(beta x)) / beta, linear where beta x > threshold. Example: `fm.softplus(x, { beta: 2 })`. */
export const softplus = (x: Tensor, opts?: { beta?: number; threshold?: number }): Tensor => unary('softplus', x, [opts?.beta ?? 1, opts?.threshold ?? 20]);
/** Clamps to [minVal, maxVal] (gradient strictly inside). */
export const hardtanh = (x: Tensor, minVal = -1, maxVal = 1): Tensor => unary('hardtanh', x, [minVal, maxVal]);
/** x * Phi(x), exact (erf) or with the tanh approximation. Example: `fm.gelu(x, { approximate: 'tanh' })`. */
export const gelu = (x: Tensor, opts?: { approximate?: 'none' | 'tanh' }): Tensor => unary(opts?.approximate === 'tanh' ? 'geluTanh' : 'gelu', x);
