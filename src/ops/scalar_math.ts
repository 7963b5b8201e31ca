// The functions elementwise expressions may call, with a JS body (ts backend, reference) and a C
// body where C's <math.h> lacks them. Native backends compile the same expressions against these.

/** erf to double precision: a positive series below 3 (no cancellation), a continued fraction above. */
function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax < 3) {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (2n+1)!!
    let term = ax;
    let sum = ax;
    const t = 2 * ax * ax;
    for (let n = 1; n < 200 && term > sum * 1e-17; n++) {
      term *= t / (2 * n + 1);
      sum += term;
    }
    const r = (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), by Lentz's method.
  const tiny = 1e-300;
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = ax + a * d;
    d = d === 0 ? tiny : 1 / d;
    c = ax + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** Round half to even, as C's rint in the default rounding mode (PyTorch's round). */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Python's remainder: the result takes the divisor's sign (PyTorch's remainder). */
function pymod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

/**
 * Python's a // b (PyTorch's floor division): computed from fmod so that it agrees with
 * remainder, e.g. 1 // 0.1 is 9 although floor(1 / 0.1) is 10.
 */
function floordiv(a: number, b: number): number {
  if (b === 0) return a / b;
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && b < 0 !== mod < 0) div -= 1;
  if (div === 0) return Math.sign(a / b) * 0;
  let f = Math.floor(div);
  if (div - f > 0.5) f += 1;
  return f;
}

/** C's pow: unlike JS, pow(1, y) and pow(x, 0) are 1 even for NaN, and pow(-1, +-Inf) is 1. */
function cpow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return Math.pow(x, y);
}

/** The callable names of the expression language, with their JS implementations. */
export const scalarMath = {
  exp: Math.exp, exp2: (x: number) => 2 ** x, log: Math.log, log2: Math.log2, log10: Math.log10,
  log1p: Math.log1p, expm1: Math.expm1, sqrt: Math.sqrt, sin: Math.sin, cos: Math.cos, tan: Math.tan,
  asin: Math.asin, acos: Math.acos, atan: Math.atan, sinh: Math.sinh, cosh: Math.cosh, tanh: Math.tanh,
  fabs: Math.abs, floor: Math.floor, ceil: Math.ceil, trunc: Math.trunc, rint, erf, pow: cpow,
  atan2: Math.atan2, fmod: (a: number, b: number) => a % b, pymod, floordiv,
  isnan: (x: number) => x !== x, isinf: (x: number) => x === Infinity || x === -Infinity,
  isfinite: Number.isFinite,
} as const;

/** C definitions of the helpers that <math.h> does not provide. */
export const scalarMathC = `
static inline double pymod(double a, double b) { double r = fmod(a, b); return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
static inline double floordiv(double a, double b) {
  if (b == 0) return a / b;
  double mod = fmod(a, b), div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return copysign(0.0, a / b);
  double f = floor(div);
  if (div - f > 0.5) f += 1;
  return f;
}
`;
