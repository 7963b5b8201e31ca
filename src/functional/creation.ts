// Creating tensors: from JS values, filled (zeros, ones, full, eye), ranges, and the *Like forms.
import { Tensor } from '../tensor/tensor.js';
import { Device, type DeviceLike } from '../device.js';
import { getDefaultDtype, isReducedFloat, typedArrayFor, type DType, type TypedArray } from '../dtype.js';
import { toReducedBits } from '../half.js';
import { DTypeError, ValueError } from '../errors.js';
import { emptyTensor } from '../ops/dispatch.js';
import { fmtShape } from '../tensor/shape.js';

/** Options shared by the creation functions. */
export interface TensorOptions {
  dtype?: DType;
  device?: DeviceLike;
  requiresGrad?: boolean;
}

/** Nested arrays of numbers, booleans or bigints (rectangular). */
export type NestedInput = number | boolean | bigint | readonly NestedInput[];

const cpu = Device.of('cpu');

function finish(t: Tensor, opts: TensorOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad_(true);
  return t;
}

function deviceOf(opts: TensorOptions | undefined): Device {
  return opts?.device === undefined ? cpu : Device.of(opts.device);
}

/** Typed arrays that widen to a Fiamma dtype: Int8/Int16/Uint16 to int32, Uint32/BigUint64 to int64, clamped bytes to uint8. */
export type WideningArray = Int8Array | Int16Array | Uint16Array | Uint32Array | BigUint64Array | Uint8ClampedArray;

function dtypeOfTyped(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'uint8';
  // Typed arrays without a Fiamma dtype of their own widen to one that holds every value.
  if (a instanceof Int8Array || a instanceof Int16Array || a instanceof Uint16Array) return 'int32';
  if (a instanceof Uint32Array || a instanceof BigUint64Array) return 'int64';
  throw new DTypeError('tensor', `cannot make a tensor from a ${(a as object).constructor.name}`);
}

/** Shape and flat values of a rectangular nested array; a ValueError names the first ragged place. */
function flatten(data: NestedInput): { shape: number[]; flat: (number | boolean | bigint)[] } {
  const shape: number[] = [];
  for (let d: NestedInput = data; Array.isArray(d); d = (d as readonly NestedInput[])[0]!) {
    shape.push((d as readonly NestedInput[]).length);
    if ((d as readonly NestedInput[]).length === 0) break;
  }
  const flat: (number | boolean | bigint)[] = [];
  const walk = (d: NestedInput, depth: number, path: number[]) => {
    if (depth === shape.length) {
      if (Array.isArray(d)) throw new ValueError('tensor', `ragged nested array: expected a scalar at index [${path.join(', ')}], got an array`);
      if (typeof d !== 'number' && typeof d !== 'boolean' && typeof d !== 'bigint') {
        throw new ValueError('tensor', `expected numbers, booleans or bigints, got ${typeof d} at index [${path.join(', ')}]`);
      }
      flat.push(d as number | boolean | bigint);
      return;
    }
    if (!Array.isArray(d) || d.length !== shape[depth]) {
      const got = Array.isArray(d) ? `${d.length} elements` : 'a scalar';
      throw new ValueError('tensor', `ragged nested array: expected ${shape[depth]} elements at index [${path.join(', ')}] (dim ${depth}), got ${got}`);
    }
    (d as readonly NestedInput[]).forEach((e, i) => walk(e, depth + 1, [...path, i]));
  };
  walk(data, 0, []);
  return { shape, flat };
}

/** Converts JS values to a typed array of `dtype`. */
function toTyped(flat: readonly (number | boolean | bigint)[], dtype: DType): TypedArray {
  if (isReducedFloat(dtype)) return toReducedBits(flat as ArrayLike<number | bigint>, dtype); // Number() of each, booleans included
  const out = typedArrayFor(dtype, flat.length);
  if (dtype === 'int64') {
    const o = out as BigInt64Array;
    flat.forEach((v, i) => (o[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))));
  } else if (dtype === 'bool') {
    flat.forEach((v, i) => (out[i] = Number(v) !== 0 || (typeof v === 'number' && Number.isNaN(v)) ? 1 : 0));
  } else {
    const o = out as Float64Array;
    flat.forEach((v, i) => (o[i] = Number(v)));
  }
  return out;
}

/** A tensor of `shape` and `dtype` holding `values` (row-major), on `device`. */
export function fromValues(values: TypedArray, shape: readonly number[], dtype: DType, device: Device): Tensor {
  const t = emptyTensor(shape, dtype, device);
  t.storage.backend.write(t.storage.handle, values, 0);
  return t;
}

/**
 * A tensor from nested arrays or a typed array. Numbers give float32 (the default float:
 * JS cannot tell 1 from 1.0, so unlike PyTorch whole numbers do not make int64; pass
 * `{ dtype: 'int64' }`), booleans give bool, bigints int64; a typed array keeps its type.
 * Example: `fm.tensor([[1, 2], [3, 4]], { requiresGrad: true })`.
 */
export function tensor(data: NestedInput | TypedArray | WideningArray, opts?: TensorOptions): Tensor {
  const device = deviceOf(opts);
  if (ArrayBuffer.isView(data)) {
    const typed = data as TypedArray;
    const own = dtypeOfTyped(typed);
    const dtype = opts?.dtype ?? own;
    // A copy in the storage's own array type (a widened Int16Array is copied element by element).
    const exact = dtype === own && typed.constructor === typedArrayFor(dtype, 0).constructor;
    const values = exact ? typed.slice() : toTyped(Array.from(typed as ArrayLike<number | bigint>), dtype);
    return finish(fromValues(values as TypedArray, [typed.length], dtype, device), opts);
  }
  const { shape, flat } = flatten(data as NestedInput);
  let dtype = opts?.dtype;
  if (dtype === undefined) {
    const first = flat[0];
    const allBool = flat.length > 0 && flat.every((v) => typeof v === 'boolean');
    dtype = allBool ? 'bool' : typeof first === 'bigint' && flat.every((v) => typeof v === 'bigint') ? 'int64' : getDefaultDtype();
  }
  return finish(fromValues(toTyped(flat, dtype), shape, dtype, device), opts);
}

/** A 0-dim tensor holding `value` (used for scalar operands of ops). */
export function scalarTensor(value: number | boolean, dtype: DType, device: Device): Tensor {
  const t = emptyTensor([], dtype, device);
  t.storage.backend.fill(t.view_(), Number(value));
  return t;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!shape.every((n) => Number.isInteger(n) && n >= 0)) throw new ValueError(op, `invalid shape ${fmtShape(shape)}: sizes must be non-negative integers`);
}

/** A tensor of `shape` filled with `value`. Example: `fm.full([2, 2], 7)`. */
export function full(shape: readonly number[], value: number | boolean, opts?: TensorOptions): Tensor {
  checkShape('full', shape);
  const dtype = opts?.dtype ?? (typeof value === 'boolean' ? 'bool' : getDefaultDtype());
  const t = emptyTensor(shape, dtype, deviceOf(opts));
  if (t.numel() > 0) t.storage.backend.fill(t.view_(), Number(value));
  return finish(t, opts);
}

/** Zeros of `shape`. Example: `fm.zeros([2, 3])`. */
export function zeros(shape: readonly number[], opts?: TensorOptions): Tensor {
  return full(shape, 0, opts);
}
/** Ones of `shape`. Example: `fm.ones([3])`. */
export function ones(shape: readonly number[], opts?: TensorOptions): Tensor {
  return full(shape, 1, opts);
}
/** A tensor of `shape` with unspecified contents (PyTorch's `empty`). Example: `fm.empty([4])`. */
export function empty(shape: readonly number[], opts?: TensorOptions): Tensor {
  checkShape('empty', shape);
  return finish(emptyTensor(shape, opts?.dtype ?? getDefaultDtype(), deviceOf(opts)), opts);
}

/** Options of the *Like forms: by default the dtype and device of the model tensor. */
function likeOpts(t: Tensor, opts?: TensorOptions): TensorOptions {
  return { dtype: opts?.dtype ?? t.dtype, device: opts?.device ?? t.device, requiresGrad: opts?.requiresGrad };
}
/** Zeros with `t`'s shape, dtype and device. Example: `fm.zerosLike(x)`. */
export function zerosLike(t: Tensor, opts?: TensorOptions): Tensor {
  return zeros(t.shape, likeOpts(t, opts));
}
/** Ones with `t`'s shape, dtype and device. Example: `fm.onesLike(x)`. */
export function onesLike(t: Tensor, opts?: TensorOptions): Tensor {
  return ones(t.shape, likeOpts(t, opts));
}
/** `value` everywhere, with `t`'s shape, dtype and device. Example: `fm.fullLike(x, -1)`. */
export function fullLike(t: Tensor, value: number | boolean, opts?: TensorOptions): Tensor {
  return full(t.shape, value, likeOpts(t, opts));
}
/** Uninitialised, with `t`'s shape, dtype and device. Example: `fm.emptyLike(x)`. */
export function emptyLike(t: Tensor, opts?: TensorOptions): Tensor {
  return empty(t.shape, likeOpts(t, opts));
}

/**
 * Values from `start` to `end` (exclusive) by `step`. As in PyTorch, int64 when all arguments
 * are whole numbers, the default float otherwise. Example: `fm.arange(5)`, `fm.arange(0, 1, 0.25)`.
 */
export function arange(end: number, opts?: TensorOptions): Tensor;
export function arange(start: number, end: number, step?: number, opts?: TensorOptions): Tensor;
export function arange(a: number, b?: number | TensorOptions, c?: number | TensorOptions, d?: TensorOptions): Tensor {
  const [start, end, step, opts] = typeof b === 'number' ? [a, b, typeof c === 'number' ? c : 1, typeof c === 'object' ? c : d] : [0, a, 1, b];
  if (step === 0) throw new ValueError('arange', 'step must be nonzero');
  if (![start, end, step].every(Number.isFinite)) throw new ValueError('arange', `unsupported range: ${start} -> ${end} by ${step}`);
  if ((end - start) / step < 0) throw new ValueError('arange', `upper bound and larger bound inconsistent with step sign (${start} -> ${end} by ${step})`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = opts?.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int64' : getDefaultDtype());
  const values = Array.from({ length: n }, (_, i) => start + i * step);
  return finish(fromValues(toTyped(values, dtype), [n], dtype, deviceOf(opts)), opts);
}

/** `steps` evenly spaced values from `start` to `end` inclusive. Example: `fm.linspace(0, 1, 5)`. */
export function linspace(start: number, end: number, steps: number, opts?: TensorOptions): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError('linspace', `number of steps must be a non-negative integer, got ${steps}`);
  const dtype = opts?.dtype ?? getDefaultDtype();
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  // NOTE: the second half counts back from `end`, as PyTorch does, so the last value is exactly `end`.
  const values = Array.from({ length: steps }, (_, i) => (i < steps / 2 ? start + i * step : end - (steps - 1 - i) * step));
  return finish(fromValues(toTyped(values, dtype), [steps], dtype, deviceOf(opts)), opts);
}

/** The identity matrix, `n` x `m` (m defaults to n). Example: `fm.eye(3)`. */
export function eye(n: number, m: number | TensorOptions = n, opts?: TensorOptions): Tensor {
  const [cols, o] = typeof m === 'number' ? [m, opts] : [n, m];
  checkShape('eye', [n, cols]);
  const dtype = o?.dtype ?? getDefaultDtype();
  const values = new Array<number>(n * cols).fill(0);
  for (let i = 0; i < Math.min(n, cols); i++) values[i * cols + i] = 1;
  return finish(fromValues(toTyped(values, dtype), [n, cols], dtype, deviceOf(o)), o);
}
