// Batching samples as PyTorch's default_collate: tensors and typed arrays are stacked, numbers,
// booleans and bigints become tensors, strings stay strings, arrays and objects recurse.
import { Tensor } from '../tensor/tensor.js';
import { DeviceError, ShapeError, ValueError } from '../errors.js';
import { promoteTypes, typedArrayFor, type DType, type TypedArray } from '../dtype.js';
import { fromValues, tensor } from '../functional/creation.js';
import { stack } from '../functional/shape.js';
import { fmtShape } from '../tensor/shape.js';
import { Device } from '../device.js';
import { isPlainObject } from './transfer.js';

/** The typed arrays a sample may hold; each batches to a tensor (see `defaultCollate`). Example: `new Float32Array(784)`. */
export type TypedArrayLike = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint8ClampedArray | Uint16Array | Uint32Array | BigInt64Array;

/** What `defaultCollate` makes of samples of type T. Example: `Collated<[Tensor, number]>` is `[Tensor, Tensor]`. */
export type Collated<T> = T extends Tensor | number | boolean | bigint | TypedArrayLike
  ? Tensor
  : T extends string
    ? string[]
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Collated<T[K]> }
      : T extends object
        ? { [K in keyof T]: Collated<T[K]> }
        : never;

/** The dtype each typed array batches to (types Fiamma lacks widen: int8, int16, uint16 to int32, uint32 to int64). */
const typedDtypes: [new (...a: never[]) => TypedArrayLike, DType][] = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32'], [BigInt64Array, 'int64'],
  [Uint8Array, 'uint8'], [Uint8ClampedArray, 'uint8'], [Int8Array, 'int32'], [Int16Array, 'int32'],
  [Uint16Array, 'int32'], [Uint32Array, 'int64'],
];

function typedDtype(x: unknown): DType | undefined {
  return typedDtypes.find(([C]) => x instanceof C)?.[1];
}

type Kind = 'Tensor' | 'number' | 'boolean' | 'bigint' | 'string' | 'typed array' | 'array' | 'object';

function kindOf(x: unknown): Kind | undefined {
  if (x instanceof Tensor) return 'Tensor';
  const t = typeof x;
  if (t === 'number' || t === 'boolean' || t === 'bigint' || t === 'string') return t as Kind;
  if (typedDtype(x) !== undefined) return 'typed array';
  if (Array.isArray(x)) return 'array';
  if (isPlainObject(x)) return 'object';
  return undefined;
}

/** How messages name a value: `a number`, `a Float32Array`, `null`, `a Date`. */
function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'object' || typeof x === 'function') {
    const name = (x as { constructor?: { name?: string } }).constructor?.name || 'object';
    return `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
  }
  return `a ${typeof x}`;
}

/** Where a batch's samples came from, for messages. */
interface Ctx {
  readonly indices: readonly number[] | undefined;
}

function sampleName(ctx: Ctx, j: number): string {
  const i = ctx.indices?.[j];
  return i === undefined ? `sample ${j}` : `sample ${j} (dataset index ${i})`;
}
const at = (path: string) => (path ? ` at ${path}` : '');

/** Stacks typed arrays of one length into a [batch, length] tensor of their promoted dtype. */
function stackTyped(items: readonly TypedArrayLike[], path: string, ctx: Ctx): Tensor {
  const n = items[0]!.length;
  items.forEach((a, j) => {
    if (a.length !== n) throw new ShapeError('defaultCollate', `${sampleName(ctx, j)} has a typed array of length ${a.length}${at(path)}, but sample 0 has length ${n}; arrays at one position must share a length`);
  });
  const dtype = items.map((a) => typedDtype(a)!).reduce(promoteTypes);
  const out = typedArrayFor(dtype, items.length * n);
  items.forEach((a, j) => {
    if (dtype === 'int64' && !(a instanceof BigInt64Array)) for (let k = 0; k < n; k++) out[j * n + k] = BigInt(a[k] as number);
    else if (dtype !== 'int64' && a instanceof BigInt64Array) for (let k = 0; k < n; k++) out[j * n + k] = Number(a[k]);
    else (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(a, j * n);
  });
  return fromValues(out as TypedArray, [items.length, n], dtype, Device.of('cpu'));
}

function stackTensors(items: readonly Tensor[], path: string, ctx: Ctx): Tensor {
  const first = items[0]!;
  items.forEach((t, j) => {
    if (t.shape.length !== first.shape.length || t.shape.some((s, d) => s !== first.shape[d])) {
      throw new ShapeError('defaultCollate', `${sampleName(ctx, j)} has a tensor of shape ${fmtShape(t.shape)}${at(path)}, but sample 0 has shape ${fmtShape(first.shape)}; tensors at one position must share a shape (pad them in a collateFn)`);
    }
    if (t.device !== first.device) throw new DeviceError('defaultCollate', `${sampleName(ctx, j)} has a tensor on ${t.device}${at(path)}, but sample 0 has one on ${first.device}`);
  });
  return stack(items);
}

function collateAt(items: readonly unknown[], path: string, ctx: Ctx): unknown {
  const kind = kindOf(items[0]);
  items.forEach((x, j) => {
    const k = kindOf(x);
    if (k === undefined) {
      throw new ValueError('defaultCollate', `${sampleName(ctx, j)} has ${describe(x)}${at(path)}; defaultCollate batches tensors, numbers, booleans, bigints, strings, typed arrays, arrays and plain objects (write a collateFn for others)`);
    }
    if (k !== kind) throw new ValueError('defaultCollate', `${sampleName(ctx, j)} has ${describe(x)}${at(path)}, but sample 0 has ${describe(items[0])}; every sample must have the same structure`);
  });
  switch (kind!) {
    case 'Tensor':
      return stackTensors(items as Tensor[], path, ctx);
    case 'typed array':
      return stackTyped(items as TypedArrayLike[], path, ctx);
    case 'number': {
      // NOTE: JS cannot tell 1 from 1.0: all whole numbers stand for Python ints (int64), else float64.
      const nums = items as number[];
      return tensor(nums, { dtype: nums.every(Number.isInteger) ? 'int64' : 'float64' });
    }
    case 'boolean':
      return tensor(items as boolean[], { dtype: 'bool' });
    case 'bigint':
      return tensor(items as bigint[], { dtype: 'int64' });
    case 'string':
      return [...items];
    case 'array': {
      const arrays = items as unknown[][];
      const n = arrays[0]!.length;
      arrays.forEach((a, j) => {
        if (a.length !== n) throw new ValueError('defaultCollate', `${sampleName(ctx, j)} has an array of ${a.length} elements${at(path)}, but sample 0 has ${n}; each sample must have the same length`);
      });
      return Array.from({ length: n }, (_, k) => collateAt(arrays.map((a) => a[k]), `${path}[${k}]`, ctx));
    }
    case 'object': {
      const objects = items as Record<string, unknown>[];
      const keys = Object.keys(objects[0]!);
      const sorted = [...keys].sort().join(', ');
      objects.forEach((o, j) => {
        const own = Object.keys(o).sort().join(', ');
        if (own !== sorted) throw new ValueError('defaultCollate', `${sampleName(ctx, j)} has keys {${own}}${at(path)}, but sample 0 has keys {${sorted}}`);
      });
      return Object.fromEntries(keys.map((k) => [k, collateAt(objects.map((o) => o[k]), `${path}.${k}`, ctx)]));
    }
  }
}

/**
 * Collates samples into a batch, with `indices` (the samples' dataset indices) named in messages.
 * The DataLoader calls this; `defaultCollate` is the public form.
 */
export function collateSamples(batch: readonly unknown[], indices?: readonly number[]): unknown {
  if (!Array.isArray(batch)) throw new ValueError('defaultCollate', `expected an array of samples, got ${describe(batch)}`);
  if (batch.length === 0) throw new ValueError('defaultCollate', 'the batch is empty');
  return collateAt(batch, '', { indices });
}

/**
 * Merges a list of samples into a batch, as PyTorch's `default_collate`:
 * - tensors of one shape are stacked into a new first dim (dtypes promote, as in `fm.stack`);
 * - numbers become a 1-D tensor: int64 when every one is a whole number (JS cannot tell `1` from
 *   `1.0`; PyTorch makes int64 of Python ints), float64 otherwise;
 * - booleans a bool tensor, bigints an int64 tensor;
 * - typed arrays of one length a [batch, length] tensor of their dtype (Int8/Int16/Uint16Array
 *   widen to int32, Uint32Array to int64: Fiamma has no narrower signed types);
 * - strings stay an array of strings;
 * - arrays (tuples) are collated position by position and objects key by key.
 * A sample collate cannot batch (a shape, a length or a type that differs from sample 0's, a
 * value of another kind) raises an error naming the sample and where inside it the problem lies.
 * Example: `fm.data.defaultCollate([{ x: fm.ones([2]), y: 1 }, { x: fm.zeros([2]), y: 0 }])` is
 * `{ x: <[2, 2] float32>, y: <[2] int64> }`.
 */
export function defaultCollate<T>(batch: readonly T[]): Collated<T> {
  return collateSamples(batch) as Collated<T>;
}
