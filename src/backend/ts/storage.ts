// Storage of the ts backend: a typed array that the garbage collector owns.
import { bytesPerElement, typedArrayFor, typedArrayOver, type DType, type TypedArray } from '../../dtype.js';
import type { StorageHandle } from '../interface.js';

export class TsStorage implements StorageHandle {
  constructor(
    readonly dtype: DType,
    public data: TypedArray,
    /** For memory the collector does not own (page-locked host memory): gives it back, instead of the pool. */
    readonly release?: () => void,
  ) {}
  get numel(): number {
    return this.data.length;
  }
}

/** The typed array holding a host (ts or native cpu) storage's elements, or undefined for device storage. */
export function hostArray(handle: StorageHandle): TypedArray | undefined {
  return handle instanceof TsStorage ? handle.data : undefined;
}

/** From this many bytes, storage is taken uninitialised (Buffer.allocUnsafe) rather than zeroed. */
const UNINITIALISED_MIN_BYTES = 4096;

/**
 * Freed buffers by byte size, handed out again by allocate: a training loop allocates the same
 * sizes every step, and fresh large ArrayBuffers cost an allocation, page faults and garbage
 * collection (together a third of a small CNN's step before this pool). Only buffers freed
 * through dispose()/scope() come here; a storage that was freed is never read again (tensors
 * check `storage.freed`). POOL_MAX_BYTES bounds what the pool keeps.
 */
const pool = new Map<number, ArrayBuffer[]>();
let pooledBytes = 0;
const POOL_MAX_BYTES = 256 * 2 ** 20;

/**
 * New storage with unspecified contents, as the backend interface allows (every op writes all of
 * its output). Large arrays skip the zero-fill that `new Float32Array(n)` performs: it cost a fifth
 * of a CNN training step. Small ones stay ordinary typed arrays (fast, on V8's heap).
 */
export function allocate(dtype: DType, numel: number): TsStorage {
  const bytes = numel * bytesPerElement(dtype);
  if (bytes < UNINITIALISED_MIN_BYTES) return new TsStorage(dtype, typedArrayFor(dtype, numel));
  const reused = pool.get(bytes)?.pop();
  if (reused) {
    pooledBytes -= bytes;
    return new TsStorage(dtype, typedArrayOver(dtype, reused, 0, numel));
  }
  const buf = Buffer.allocUnsafe(bytes);
  return new TsStorage(dtype, typedArrayOver(dtype, buf.buffer, buf.byteOffset, numel));
}

/** Returns a storage's buffer to the pool (when it owns a whole one) and empties the storage. */
export function free(storage: TsStorage): void {
  if (storage.release) {
    storage.data = new Float32Array(0);
    storage.release();
    return;
  }
  const d = storage.data;
  const buf = d.buffer;
  if (d.byteLength >= UNINITIALISED_MIN_BYTES && d.byteOffset === 0 && buf.byteLength === d.byteLength && buf instanceof ArrayBuffer && pooledBytes + buf.byteLength <= POOL_MAX_BYTES) {
    let list = pool.get(buf.byteLength);
    if (!list) pool.set(buf.byteLength, (list = []));
    list.push(buf);
    pooledBytes += buf.byteLength;
  }
  storage.data = new Float32Array(0);
}

export function write(storage: TsStorage, values: TypedArray, offset: number): void {
  (storage.data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(values, offset);
}

export function read(storage: TsStorage, offset: number, numel: number): TypedArray {
  return storage.data.slice(offset, offset + numel);
}
