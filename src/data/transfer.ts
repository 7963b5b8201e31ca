// Tensors across threads: batches travel between DataLoader workers and the main thread as
// plain objects whose typed arrays' ArrayBuffers are transferred (moved, not copied).
import { Tensor } from '../tensor/tensor.js';
import { Storage } from '../tensor/storage.js';
import { Device } from '../device.js';
import type { DType, TypedArray } from '../dtype.js';
import { backendFor } from '../backend/registry.js';
import { TsStorage } from '../backend/ts/storage.js';
import { fromValues } from '../functional/creation.js';

/** A tensor as it crosses a thread boundary (always lands on the cpu). */
export interface WireTensor {
  readonly __fiammaTensor: 1;
  readonly dtype: DType;
  readonly shape: number[];
  readonly data: TypedArray;
}

const cpu = Device.of('cpu');

function isWire(x: unknown): x is WireTensor {
  return typeof x === 'object' && x !== null && (x as { __fiammaTensor?: unknown }).__fiammaTensor === 1;
}

/** True for the plain objects (not class instances) that encode and collate walk into. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The host typed array a cpu tensor owns whole (its storage, its buffer), or undefined. */
function ownedArray(t: Tensor): TypedArray | undefined {
  const h = t.storage.handle;
  if (!(h instanceof TsStorage) || t.base !== null || t.offset !== 0 || !t.isContiguous() || h.numel !== t.numel()) return undefined;
  const a = h.data;
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : undefined;
}

/**
 * A tensor's values as a WireTensor whose buffer is added to `transfer`. With `owned` (the tensor
 * is a fresh batch nobody else holds) a cpu tensor's own storage array is sent, copying nothing;
 * otherwise its values are copied out first so the sender's memory stays intact.
 */
export function tensorToWire(t: Tensor, transfer: ArrayBuffer[], owned = false): WireTensor {
  let data = owned ? ownedArray(t) : undefined;
  if (data === undefined || transfer.includes(data.buffer as ArrayBuffer)) data = t.storedData(); // bits for 16-bit floats, as the wire's dtype says
  transfer.push(data.buffer as ArrayBuffer);
  return { __fiammaTensor: 1, dtype: t.dtype, shape: [...t.shape], data };
}

/**
 * The cpu tensor a WireTensor describes. Its array becomes the tensor's storage without a copy
 * when the cpu backend keeps typed arrays (the native and ts backends do).
 */
export function tensorFromWire(w: WireTensor): Tensor {
  const backend = backendFor(cpu);
  // NOTE: adopting the array relies on host backends storing a TsStorage; others get a copy.
  if (backend.name === 'cpu' || backend.name === 'ts') return Tensor.fromStorage(new Storage(new TsStorage(w.dtype, w.data), backend, cpu), w.shape);
  return fromValues(w.data, w.shape, w.dtype, cpu);
}

/** `value` with every tensor in it (nested in arrays and plain objects) replaced by f(tensor). */
export function mapTensors(value: unknown, f: (t: Tensor) => unknown): unknown {
  if (value instanceof Tensor) return f(value);
  if (Array.isArray(value)) return value.map((v) => mapTensors(v, f));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapTensors(v, f)]));
  return value;
}

/** Replaces every tensor inside arrays and plain objects by a WireTensor (buffers into `transfer`). */
export function encode(value: unknown, transfer: ArrayBuffer[], owned: boolean): unknown {
  return mapTensors(value, (t) => tensorToWire(t, transfer, owned));
}

/** The inverse of encode: WireTensors become tensors again. */
export function decode(value: unknown): unknown {
  if (isWire(value)) return tensorFromWire(value);
  if (Array.isArray(value)) return value.map(decode);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  return value;
}
