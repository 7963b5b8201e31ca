// Text form of a tensor: a port of PyTorch's torch/_tensor_str.py, so Fiamma prints what `repr(tensor)` prints,
// digit for digit, in Fiamma's spelling of the suffixes (dtype=float64, requiresGrad=true, gradFn=<Mul>).
// Pure: it reads a flat row-major value array and a shape, and knows nothing of storage or backends.
import { getDefaultDtype, isFloating, type DType } from './dtype.js';
import { ShapeError, ValueError } from './errors.js';

/**
 * What `formatTensor` needs to know about a tensor.
 * Example: `{ values: [1, 2], shape: [2], dtype: 'float32', device: 'cpu', requiresGrad: false }`.
 */
export interface FormatInput {
  /** Row-major (C order) values of the whole tensor; for bool dtype, 0/1. */
  values: ArrayLike<number | bigint>;
  shape: readonly number[];
  dtype: DType;
  /** `'cpu'`, `'cuda:0'`, ... */
  device: string;
  /** Printed only when true and `gradFn` is undefined (a leaf). */
  requiresGrad: boolean;
  /** Name of the op that made the tensor, printed as `gradFn=<Name>`. */
  gradFn?: string;
}

/**
 * Options of `torch.set_printoptions`; `sciMode: undefined` lets each tensor choose.
 * Example: `getPrintOptions().precision === 4`.
 */
export interface PrintOptions {
  precision: number;
  threshold: number;
  edgeitems: number;
  linewidth: number;
  sciMode: boolean | undefined;
}

type Profile = 'default' | 'short' | 'full';
const profiles: Record<Profile, Omit<PrintOptions, 'sciMode'>> = {
  default: { precision: 4, threshold: 1000, edgeitems: 3, linewidth: 80 },
  short: { precision: 2, threshold: 1000, edgeitems: 2, linewidth: 80 },
  full: { precision: 4, threshold: Infinity, edgeitems: 3, linewidth: 80 },
};
let opts: PrintOptions = { ...profiles.default, sciMode: undefined };

/**
 * Sets print options, like `torch.set_printoptions`: a profile first, then the fields given.
 * As in PyTorch, every call resets `sciMode` unless the call names it.
 * Example: `setPrintOptions({ precision: 2 })`, then `setPrintOptions({ profile: 'default' })` to restore.
 */
export function setPrintOptions(o: Partial<PrintOptions> & { profile?: Profile }): void {
  const next: PrintOptions = { ...opts };
  if (o.profile !== undefined) {
    if (!(o.profile in profiles)) throw new ValueError('setPrintOptions', `unknown profile '${o.profile}'`);
    Object.assign(next, profiles[o.profile]);
  }
  for (const k of ['precision', 'threshold', 'edgeitems', 'linewidth'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    // threshold may be Infinity (the 'full' profile); the others are counts that index strings and arrays.
    const ok = k === 'threshold' ? v >= 0 : Number.isInteger(v) && v >= (k === 'linewidth' ? 1 : 0);
    if (!ok) throw new ValueError('setPrintOptions', `${k} must be a non-negative integer, got ${v}`);
    next[k] = v;
  }
  next.sciMode = o.sciMode;
  opts = next;
}

/** The current print options (a copy). Example: `getPrintOptions().linewidth === 80`. */
export function getPrintOptions(): PrintOptions {
  return { ...opts };
}

// ---- Python's '{:.Nf}' and '{:.Ne}' ----
// JS toFixed/toExponential round exact ties away from zero (1.03125 -> '1.0313') where Python rounds them to
// even ('1.0312'), and toFixed gives up above 1e21. Every double is a finite decimal, so we format it exactly.

const view = new DataView(new ArrayBuffer(8));

/** The exact value of finite x >= 0 as [n, s], meaning n / 10^s. */
function exactDecimal(x: number): [bigint, number] {
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = biased === 0 ? frac : frac | (1n << 52n);
  const e = biased === 0 ? -1074 : biased - 1075; // x = mant * 2^e
  // m / 2^k = m * 5^k / 10^k
  return e >= 0 ? [mant << BigInt(e), 0] : [mant * 5n ** BigInt(-e), -e];
}

/** n / 10^k rounded half to even (k may be negative). */
function roundDiv(n: bigint, k: number): bigint {
  if (k <= 0) return n * 10n ** BigInt(-k);
  const d = 10n ** BigInt(k);
  const q = n / d;
  const twice = 2n * (n % d);
  return twice > d || (twice === d && (q & 1n) === 1n) ? q + 1n : q;
}

function nonFinite(x: number): string {
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}

const signOf = (x: number): string => (x < 0 || Object.is(x, -0) ? '-' : '');

/** Python's `'{:.pf}'.format(x)`. */
function fixed(x: number, p: number): string {
  if (!Number.isFinite(x)) return nonFinite(x);
  const [n, s] = exactDecimal(Math.abs(x));
  const digits = roundDiv(n, s - p).toString().padStart(p + 1, '0');
  return signOf(x) + (p === 0 ? digits : `${digits.slice(0, -p)}.${digits.slice(-p)}`);
}

/** Python's `'{:.pe}'.format(x)`: exponent signed and at least two digits. */
function sci(x: number, p: number): string {
  if (!Number.isFinite(x)) return nonFinite(x);
  let q = 0n;
  let exp = 0;
  if (x !== 0) {
    const [n, s] = exactDecimal(Math.abs(x));
    const len = n.toString().length;
    exp = len - 1 - s;
    q = roundDiv(n, len - (p + 1));
    if (q.toString().length > p + 1) [q, exp] = [q / 10n, exp + 1]; // 9.99995 rounded up to 10.0000
  }
  const d = q.toString().padStart(p + 1, '0');
  const e = `e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return signOf(x) + d[0] + (p > 0 ? `.${d.slice(1)}` : '') + e;
}

// ---- _Formatter: one width and one notation for the whole tensor ----

interface Formatter {
  width: number;
  format(i: number): string; // element at flat index i, left-padded to width
}

function makeFormatter(t: FormatInput, sample: readonly number[]): Formatter {
  const { precision: p } = opts;
  const pad = (s: string, w: number) => ' '.repeat(Math.max(0, w - s.length)) + s;
  if (!isFloating(t.dtype)) {
    const str = t.dtype === 'bool' ? (i: number) => (Number(t.values[i]) ? 'true' : 'false') : (i: number) => String(t.values[i]);
    const width = sample.reduce((w, i) => Math.max(w, str(i).length), 1);
    return { width, format: (i) => pad(str(i), width) };
  }
  // Values are rounded to the dtype as storage would be, so a plain number array prints like the stored tensor.
  const val = t.dtype === 'float32' ? (i: number) => Math.fround(Number(t.values[i])) : (i: number) => Number(t.values[i]);
  const nz = sample.map(val).filter((v) => Number.isFinite(v) && v !== 0);
  let intMode = true;
  let sciMode = false;
  let width = 1;
  if (nz.length > 0) {
    let min = Infinity;
    let max = 0;
    for (const v of nz) [min, max] = [Math.min(min, Math.abs(v)), Math.max(max, Math.abs(v))];
    intMode = nz.every(Number.isInteger);
    sciMode = max / min > 1000 || max > 1e8 || (!intMode && min < 1e-4);
    const str = sciMode ? (v: number) => sci(v, p) : intMode ? (v: number) => fixed(v, 0) + '.' : (v: number) => fixed(v, p);
    width = nz.reduce((w, v) => Math.max(w, str(v).length), 1);
    // PyTorch returns early when there is no nonzero finite value, so the option cannot force sci mode then.
    if (opts.sciMode !== undefined) sciMode = opts.sciMode;
  }
  const format = (i: number): string => {
    const v = val(i);
    if (sciMode) return pad(sci(v, p), width);
    if (intMode) return pad(fixed(v, 0) + (Number.isFinite(v) ? '.' : ''), width);
    return pad(fixed(v, p), width);
  };
  return { width, format };
}

// ---- layout ----

/** Indices shown along a dim of this size; -1 stands for the '...' of a summarized dim. */
function shownIndices(size: number, summarize: boolean): number[] {
  const edge = opts.edgeitems;
  const all = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
  return summarize && size > 2 * edge ? [...all(0, edge), -1, ...all(size - edge, size)] : all(0, size);
}

function tensorStr(t: FormatInput, indent: number): string {
  const { shape } = t;
  const nd = shape.length;
  const strides: number[] = new Array(nd);
  for (let d = nd - 1, s = 1; d >= 0; s *= shape[d], d--) strides[d] = s;
  const numel = shape.reduce((a, b) => a * b, 1);
  const summarize = numel > opts.threshold;

  // The formatter sees only the elements that will be printed (PyTorch's get_summarized_data).
  const sample: number[] = [];
  const collect = (d: number, offset: number): void => {
    if (d === nd) return void sample.push(offset);
    for (const i of shownIndices(shape[d], summarize)) if (i >= 0) collect(d + 1, offset + i * strides[d]);
  };
  collect(0, 0);
  const fmt = makeFormatter(t, sample);
  if (nd === 0) return fmt.format(0);

  const render = (d: number, offset: number, ind: number): string => {
    const idx = shownIndices(shape[d], summarize);
    if (d === nd - 1) {
      const data = idx.map((i) => (i < 0 ? ' ...' : fmt.format(offset + i * strides[d])));
      // element width plus ', '; lines break by count, as in PyTorch's _vector_str
      const perLine = Math.max(1, Math.floor((opts.linewidth - ind) / (fmt.width + 2)));
      const lines: string[] = [];
      for (let k = 0; k < data.length; k += perLine) lines.push(data.slice(k, k + perLine).join(', '));
      return '[' + lines.join(',\n' + ' '.repeat(ind + 1)) + ']';
    }
    const slices = idx.map((i) => (i < 0 ? '...' : render(d + 1, offset + i * strides[d], ind + 1)));
    // one blank line between 3-D blocks, two between 4-D blocks, ...
    return '[' + slices.join(',' + '\n'.repeat(nd - d - 1) + ' '.repeat(ind + 1)) + ']';
  };
  return render(0, 0, indent);
}

function addSuffixes(text: string, suffixes: readonly string[], indent: number): string {
  // PyTorch's arithmetic, 2 more than the last line's length when there is no newline; kept so wraps match.
  let last = text.length - text.lastIndexOf('\n') + 1;
  let out = text;
  for (const s of suffixes) {
    if (last + s.length + 2 > opts.linewidth) {
      out += ',\n' + ' '.repeat(indent) + s;
      last = indent + s.length;
    } else {
      out += ', ' + s;
      last += s.length + 2;
    }
  }
  return out + ')';
}

/**
 * The text of a tensor, as PyTorch's `repr` in Fiamma's spelling, under the current print options.
 * Example: `formatTensor({ values: [1, 2], shape: [2], dtype: 'float64', device: 'cpu', requiresGrad: true })`
 * gives `'tensor([1., 2.], dtype=float64, requiresGrad=true)'`.
 */
export function formatTensor(t: FormatInput): string {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.values.length !== numel) {
    throw new ShapeError('formatTensor', `${t.values.length} values for shape [${t.shape.join(', ')}]`);
  }
  const prefix = 'tensor(';
  const suffixes: string[] = [];
  if (t.device !== 'cpu') suffixes.push(`device='${t.device}'`);
  let body = '[]';
  if (numel === 0) {
    // No elements to tell ints from floats, so PyTorch names any non-default dtype, int64 and bool included.
    if (t.shape.length !== 1) suffixes.push(`size=[${t.shape.join(', ')}]`);
    if (t.dtype !== getDefaultDtype()) suffixes.push(`dtype=${t.dtype}`);
  } else {
    if (t.dtype !== getDefaultDtype() && t.dtype !== 'int64' && t.dtype !== 'bool') suffixes.push(`dtype=${t.dtype}`);
    body = tensorStr(t, prefix.length);
  }
  if (t.gradFn !== undefined) suffixes.push(`gradFn=<${t.gradFn}>`);
  else if (t.requiresGrad) suffixes.push('requiresGrad=true');
  return addSuffixes(prefix + body, suffixes, prefix.length);
}
