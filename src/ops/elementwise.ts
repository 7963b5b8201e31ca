// Elementwise ops, each declared once: a scalar expression (C syntax, turned into kernels for
// every backend), a JS reference beside it, the dtype rule, and the gradient in Tensor ops.
import type { Tensor } from '../tensor/tensor.js';
import { scalarMath } from './scalar_math.js';

/**
 * How an op's dtypes follow from its (promoted) input dtype:
 * `same` keeps it; `float` computes in float (ints go to the default float); `bool` outputs bool.
 */
export type DTypeRule = 'same' | 'float' | 'bool';

export interface UnaryDef {
  /** C expression over `x` and parameters `p0`, `p1`, `p2`. */
  readonly expr: string;
  /** JS reference of the same function, used by tests to check every backend. */
  readonly ref: (x: number, p0: number, p1: number, p2: number) => number;
  readonly dtype: DTypeRule;
  /** d/dx as Tensor ops: `g` the incoming gradient, `x` the input, `y` the output. Omitted when not differentiable. */
  readonly grad?: (g: Tensor, x: Tensor, y: Tensor, p: readonly number[]) => Tensor;
  /**
   * What backward needs: by default the input when `grad` reads it (declares two or more
   * parameters); `'y'` the output only, `'xy'` both. Saving only what is used keeps in-place
   * changes of the rest legal, as in PyTorch.
   */
  readonly saves?: 'y' | 'xy';
}

/**
 * Applies a binary op of this table by name, for gradients written with one (relu's). Set by
 * functional/math.ts: the table cannot import the dispatcher, which is built from it.
 */
// NOTE: the name is a plain string here: BinaryOpName comes from the table that uses this.
let applyBinary: (name: string, a: Tensor, b: Tensor) => Tensor = (name) => {
  throw new Error(`elementwise: ${name} applied before functional/math.ts registered the dispatcher`);
};
export function setApplyBinary(f: (name: string, a: Tensor, b: Tensor) => Tensor): void {
  applyBinary = f;
}

/** The gradient of one input of a binary op: `g` incoming, `a`, `b` the inputs, `out` the output. */
export type BinaryGrad = (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => Tensor;

export interface BinaryDef {
  /** C expression over `x` and `y`. */
  readonly expr: string;
  readonly ref: (x: number, y: number) => number;
  readonly dtype: DTypeRule;
  /** Gradients for a and for b, each computed only when needed; broadcasting is undone by the engine. */
  readonly grad?: readonly [BinaryGrad, BinaryGrad];
  /** The inputs are saved when a needed gradient declares them; the output only when this is set. */
  readonly savesOutput?: boolean;
}

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

const erfRef = scalarMath.erf;
const softplusRef = (x: number, beta: number, threshold: number) =>
  x * beta > threshold ? x : Math.log1p(Math.exp(x * beta)) / beta;
const sigmoidRef = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

const CLAMP_EXPR = '(x < p0 ? p0 : x) > p1 ? p1 : (x < p0 ? p0 : x)';
const clampRef = (x: number, lo: number, hi: number) => {
  const m = x < lo ? lo : x;
  return m > hi ? hi : m;
};

// A gradient that is zero almost everywhere (floor, sign, ...): PyTorch returns zeros (not g * 0,
// which would carry NaN and Inf from upstream).
const zeroGrad = (g: Tensor) => g.newZeros(g.shape);

export const unaryOps = {
  neg: { expr: '-x', ref: (x) => -x, dtype: 'same', grad: (g) => g.neg() },
  abs: { expr: 'x < 0 ? -x : x', ref: Math.abs, dtype: 'same', grad: (g, x) => g.mul(x.sign()) },
  // NOTE: sign(NaN) is 0 here, as in PyTorch.
  sign: { expr: '(x > 0) - (x < 0)', ref: (x) => Number(x > 0) - Number(x < 0), dtype: 'same', grad: zeroGrad },
  square: { expr: 'x * x', ref: (x) => x * x, dtype: 'same', grad: (g, x) => g.mul(x).mul(2) },
  // d sqrt(x) = 1 / (2 sqrt(x))
  sqrt: { expr: 'sqrt(x)', ref: Math.sqrt, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.div(y.mul(2)) },
  // d x^-1/2 = -1/2 x^-3/2
  rsqrt: { expr: '1 / sqrt(x)', ref: (x) => 1 / Math.sqrt(x), dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y.pow(3)).mul(-0.5) },
  reciprocal: { expr: '1 / x', ref: (x) => 1 / x, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y.square()).neg() },
  exp: { expr: 'exp(x)', ref: Math.exp, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y) },
  exp2: { expr: 'exp2(x)', ref: (x) => 2 ** x, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y).mul(Math.LN2) },
  expm1: { expr: 'expm1(x)', ref: Math.expm1, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y.add(1)) },
  log: { expr: 'log(x)', ref: Math.log, dtype: 'float', grad: (g, x) => g.div(x) },
  log2: { expr: 'log2(x)', ref: Math.log2, dtype: 'float', grad: (g, x) => g.div(x.mul(Math.LN2)) },
  log10: { expr: 'log10(x)', ref: Math.log10, dtype: 'float', grad: (g, x) => g.div(x.mul(Math.LN10)) },
  log1p: { expr: 'log1p(x)', ref: Math.log1p, dtype: 'float', grad: (g, x) => g.div(x.add(1)) },
  sin: { expr: 'sin(x)', ref: Math.sin, dtype: 'float', grad: (g, x) => g.mul(x.cos()) },
  cos: { expr: 'cos(x)', ref: Math.cos, dtype: 'float', grad: (g, x) => g.mul(x.sin()).neg() },
  // d tan = 1 + tan^2
  tan: { expr: 'tan(x)', ref: Math.tan, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y.square().add(1)) },
  asin: { expr: 'asin(x)', ref: Math.asin, dtype: 'float', grad: (g, x) => g.mul(x.square().neg().add(1).rsqrt()) },
  acos: { expr: 'acos(x)', ref: Math.acos, dtype: 'float', grad: (g, x) => g.mul(x.square().neg().add(1).rsqrt()).neg() },
  atan: { expr: 'atan(x)', ref: Math.atan, dtype: 'float', grad: (g, x) => g.div(x.square().add(1)) },
  sinh: { expr: 'sinh(x)', ref: Math.sinh, dtype: 'float', grad: (g, x) => g.mul(x.cosh()) },
  cosh: { expr: 'cosh(x)', ref: Math.cosh, dtype: 'float', grad: (g, x) => g.mul(x.sinh()) },
  // d tanh = 1 - tanh^2
  tanh: { expr: 'tanh(x)', ref: Math.tanh, dtype: 'float', saves: 'y', grad: (g, _x, y) => g.mul(y.square().neg().add(1)) },
  // NOTE: both branches keep exp's argument <= 0, so neither overflows.
  sigmoid: {
    expr: 'x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))', ref: sigmoidRef, dtype: 'float', saves: 'y',
    grad: (g, _x, y) => g.mul(y).mul(y.neg().add(1)),
  },
  // NOTE: log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x. d = sigmoid(-x).
  logSigmoid: {
    expr: '(x < 0 ? x : 0) - log1p(exp(-fabs(x)))', ref: (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))),
    dtype: 'float', grad: (g, x) => g.mul(x.neg().sigmoid()),
  },
  erf: { expr: 'erf(x)', ref: erfRef, dtype: 'float', grad: (g, x) => g.mul(x.square().neg().exp()).mul(TWO_OVER_SQRT_PI) },
  // NOTE: written so that NaN passes through, as in PyTorch.
  relu: { expr: 'x < 0 ? 0 : x', ref: (x) => (x < 0 ? 0 : x), dtype: 'same', grad: (g, x) => applyBinary('thresholdBackward', g, x) },
  relu6: {
    expr: 'x <= 0 ? 0 : (x >= 6 ? 6 : x)', ref: (x) => (x <= 0 ? 0 : x >= 6 ? 6 : x), dtype: 'same',
    grad: (g, x) => g.where(x.gt(0).logicalAnd(x.lt(6)), 0),
  },
  leakyRelu: {
    expr: 'x > 0 ? x : x * p0', ref: (x, s) => (x > 0 ? x : x * s), dtype: 'float',
    grad: (g, x, _y, [s]) => g.where(x.gt(0), g.mul(s)),
  },
  // elu: x > 0 ? x : alpha (e^x - 1); below 0 the slope alpha e^x equals y + alpha.
  elu: {
    expr: 'x > 0 ? x : p0 * expm1(x)', ref: (x, a) => (x > 0 ? x : a * Math.expm1(x)), dtype: 'float', saves: 'xy',
    grad: (g, x, y, [a]) => g.where(x.gt(0), g.mul(y.add(a))),
  },
  selu: {
    expr: `x > 0 ? ${SELU_SCALE} * x : ${SELU_SCALE * SELU_ALPHA} * expm1(x)`,
    ref: (x) => (x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * Math.expm1(x)), dtype: 'float', saves: 'xy',
    grad: (g, x, y) => g.mul(SELU_SCALE).where(x.gt(0), g.mul(y.add(SELU_SCALE * SELU_ALPHA))),
  },
  // gelu(x) = x Phi(x); d = Phi(x) + x phi(x)
  gelu: {
    expr: `0.5 * x * (1 + erf(x * ${SQRT1_2}))`, ref: (x) => 0.5 * x * (1 + erfRef(x * SQRT1_2)), dtype: 'float',
    grad: (g, x) => {
      const cdf = x.mul(SQRT1_2).erf().add(1).mul(0.5);
      const pdf = x.square().mul(-0.5).exp().mul(INV_SQRT_2PI);
      return g.mul(cdf.add(x.mul(pdf)));
    },
  },
  // gelu, tanh approximation: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
  geluTanh: {
    expr: `0.5 * x * (1 + tanh(${SQRT_2_OVER_PI} * (x + 0.044715 * x * x * x)))`,
    ref: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))), dtype: 'float',
    grad: (g, x) => {
      const t = x.pow(3).mul(0.044715).add(x).mul(SQRT_2_OVER_PI).tanh();
      const du = x.square().mul(3 * 0.044715).add(1).mul(SQRT_2_OVER_PI);
      return g.mul(t.add(1).mul(0.5).add(x.mul(0.5).mul(t.square().neg().add(1)).mul(du)));
    },
  },
  // silu = x sigmoid(x); d = s (1 + x (1 - s))
  silu: {
    expr: 'x / (1 + exp(-x))', ref: (x) => x * sigmoidRef(x), dtype: 'float',
    grad: (g, x) => {
      const s = x.sigmoid();
      return g.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
    },
  },
  // mish = x tanh(softplus(x)); d = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)
  mish: {
    expr: 'x * tanh(x > 20 ? x : log1p(exp(x)))', ref: (x) => x * Math.tanh(softplusRef(x, 1, 20)), dtype: 'float',
    grad: (g, x) => {
      const t = x.softplus().tanh();
      return g.mul(t.add(x.mul(t.square().neg().add(1)).mul(x.sigmoid())));
    },
  },
  // softplus(x; beta, threshold) = log(1 + e^(beta x)) / beta, linear above the threshold.
  softplus: {
    expr: 'x * p0 > p1 ? x : log1p(exp(x * p0)) / p0', ref: softplusRef, dtype: 'float',
    grad: (g, x, _y, [beta, threshold]) => g.where(x.mul(beta).gt(threshold), g.mul(x.mul(beta).sigmoid())),
  },
  // PyTorch passes the gradient strictly inside (min, max) for hardtanh, inclusively for clamp.
  // Both are min(max(x, lo), hi): with lo > hi the result is hi, and NaN passes through.
  hardtanh: {
    expr: CLAMP_EXPR, ref: clampRef, dtype: 'same',
    grad: (g, x, _y, [lo, hi]) => g.where(x.gt(lo).logicalAnd(x.lt(hi)), 0),
  },
  clamp: {
    expr: CLAMP_EXPR, ref: clampRef, dtype: 'same',
    grad: (g, x, _y, [lo, hi]) => g.where(x.ge(lo).logicalAnd(x.le(hi)), 0),
  },
  floor: { expr: 'floor(x)', ref: Math.floor, dtype: 'same', grad: zeroGrad },
  ceil: { expr: 'ceil(x)', ref: Math.ceil, dtype: 'same', grad: zeroGrad },
  round: { expr: 'rint(x)', ref: scalarMath.rint, dtype: 'same', grad: zeroGrad },
  trunc: { expr: 'trunc(x)', ref: Math.trunc, dtype: 'same', grad: zeroGrad },
  // nanToNum(x; nan, posinf, neginf); d = 1 where x is finite
  nanToNum: {
    expr: 'isnan(x) ? p0 : (x == INFINITY ? p1 : (x == -INFINITY ? p2 : x))',
    ref: (x, n, pi, ni) => (Number.isNaN(x) ? n : x === Infinity ? pi : x === -Infinity ? ni : x), dtype: 'same',
    grad: (g, x) => g.where(x.isfinite(), 0),
  },
  // NOTE: C's classification macros return any nonzero value (glibc's isinf gives -1 for -inf).
  isnan: { expr: 'isnan(x) != 0', ref: (x) => Number(Number.isNaN(x)), dtype: 'bool' },
  isinf: { expr: 'isinf(x) != 0', ref: (x) => Number(x === Infinity || x === -Infinity), dtype: 'bool' },
  isfinite: { expr: 'isfinite(x) != 0', ref: (x) => Number(Number.isFinite(x)), dtype: 'bool' },
  logicalNot: { expr: 'x == 0', ref: (x) => Number(x === 0), dtype: 'bool' },
} satisfies Record<string, UnaryDef>;

export type UnaryOpName = keyof typeof unaryOps;

// d max(a, b): the gradient goes to the larger input, split in half on a tie, and to both where
// either is NaN (PyTorch's rule: halve on ties, then zero where the input loses).
function minMaxGrad(loses: 'gt' | 'lt', self: 'a' | 'b'): BinaryGrad {
  return (g, a, b) => {
    const [x, y] = self === 'a' ? [a, b] : [b, a];
    return g.mul(0.5).where(x.eq(y), g).where(x[loses](y).logicalNot(), 0);
  };
}
const zeros2: readonly [BinaryGrad, BinaryGrad] = [zeroGrad, zeroGrad];

export const binaryOps = {
  add: { expr: 'x + y', ref: (x, y) => x + y, dtype: 'same', grad: [(g) => g, (g) => g] },
  // relu's gradient, g where the input is positive, in one kernel (PyTorch's threshold_backward).
  thresholdBackward: { expr: 'y > 0 ? x : 0', ref: (x, y) => (y > 0 ? x : 0), dtype: 'same', grad: [(g, _a, b) => applyBinary('thresholdBackward', g, b), zeroGrad] },
  sub: { expr: 'x - y', ref: (x, y) => x - y, dtype: 'same', grad: [(g) => g, (g) => g.neg()] },
  mul: { expr: 'x * y', ref: (x, y) => x * y, dtype: 'same', grad: [(g, _a, b) => g.mul(b), (g, a) => g.mul(a)] },
  // d(a/b) = 1/b da - a/b^2 db
  div: { expr: 'x / y', ref: (x, y) => x / y, dtype: 'float', grad: [(g, _a, b) => g.div(b), (g, a, b) => g.mul(a).div(b.square()).neg()] },
  divFloor: { expr: 'floordiv(x, y)', ref: scalarMath.floordiv, dtype: 'same', grad: zeros2 },
  divTrunc: { expr: 'trunc(x / y)', ref: (x, y) => Math.trunc(x / y), dtype: 'same', grad: zeros2 },
  // remainder(a, b) = a - floor(a/b) b
  remainder: {
    expr: 'pymod(x, y)', ref: scalarMath.pymod, dtype: 'same',
    grad: [(g) => g, (g, a, b) => g.mul(a.div(b, { roundingMode: 'floor' })).neg()],
  },
  fmod: { expr: 'fmod(x, y)', ref: (x, y) => x % y, dtype: 'same', grad: [(g) => g, (g, a, b) => g.mul(a.div(b, { roundingMode: 'trunc' })).neg()] },
  // d a^b = b a^(b-1) da + a^b log(a) db. PyTorch's conventions at the edges: the da term is 0
  // where b = 0 (0^0 has slope 0), the db term 0 where a = 0 and b >= 0.
  pow: {
    expr: 'pow(x, y)', ref: scalarMath.pow, dtype: 'same', savesOutput: true,
    grad: [
      (g, a, b) => g.mul(b).mul(a.pow(b.sub(1))).where(b.ne(0), 0),
      (g, a, b, out) => g.mul(out).mul(a.log()).where(a.eq(0).logicalAnd(b.ge(0)).logicalNot(), 0),
    ],
  },
  // d atan2(a, b) = (b da - a db) / (a^2 + b^2)
  atan2: {
    expr: 'atan2(x, y)', ref: Math.atan2, dtype: 'float',
    grad: [(g, a, b) => g.mul(b).div(a.square().add(b.square())), (g, a, b) => g.mul(a).neg().div(a.square().add(b.square()))],
  },
  // NOTE: NaN in either input propagates, as in PyTorch's minimum/maximum.
  maximum: { expr: 'x != x ? x : (y != y ? y : (x > y ? x : y))', ref: (x, y) => (x !== x || y !== y ? NaN : Math.max(x, y)), dtype: 'same', grad: [minMaxGrad('lt', 'a'), minMaxGrad('lt', 'b')] },
  minimum: { expr: 'x != x ? x : (y != y ? y : (x < y ? x : y))', ref: (x, y) => (x !== x || y !== y ? NaN : Math.min(x, y)), dtype: 'same', grad: [minMaxGrad('gt', 'a'), minMaxGrad('gt', 'b')] },
  eq: { expr: 'x == y', ref: (x, y) => Number(x === y), dtype: 'bool' },
  ne: { expr: 'x != y', ref: (x, y) => Number(x !== y), dtype: 'bool' },
  lt: { expr: 'x < y', ref: (x, y) => Number(x < y), dtype: 'bool' },
  le: { expr: 'x <= y', ref: (x, y) => Number(x <= y), dtype: 'bool' },
  gt: { expr: 'x > y', ref: (x, y) => Number(x > y), dtype: 'bool' },
  ge: { expr: 'x >= y', ref: (x, y) => Number(x >= y), dtype: 'bool' },
  logicalAnd: { expr: '(x != 0) && (y != 0)', ref: (x, y) => Number(x !== 0 && y !== 0), dtype: 'bool' },
  logicalOr: { expr: '(x != 0) || (y != 0)', ref: (x, y) => Number(x !== 0 || y !== 0), dtype: 'bool' },
  logicalXor: { expr: '(x != 0) != (y != 0)', ref: (x, y) => Number((x !== 0) !== (y !== 0)), dtype: 'bool' },
} satisfies Record<string, BinaryDef>;

export type BinaryOpName = keyof typeof binaryOps;
