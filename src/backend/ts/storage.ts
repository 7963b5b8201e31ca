// Storage of the ts backend: a typed array that the garbage collector owns.
import { bytesPerElement, typedArrayFor, type DType, type TypedArray } from '../../dtype.js';
import type { StorageHandle } from '../interface.js';

export class TsStorage implements StorageHandle {
  constructor(
    readonly dtype: DType,
    public data: TypedArray,
  ) {}
  get numel(): number {
    return this.data.length;
  }
}

/** From this many bytes, storage is taken uninitialised (Buffer.allocUnsafe) rather than zeroed. */
const UNINITIALISED_MIN_BYTES = 4096;

/**
 * New storage with unspecified contents, as the backend interface allows (every op writes all of
 * its output). Large arrays skip the zero-fill that `new Float32Array(n)` performs: it cost a fifth
 * of a CNN training step. Small ones stay ordinary typed arrays (fast, on V8's heap).
 */
export function allocate(dtype: DType, numel: number): TsStorage {
  const bytes = numel * bytesPerElement(dtype);
  if (bytes < UNINITIALISED_MIN_BYTES) return new TsStorage(dtype, typedArrayFor(dtype, numel));
  const buf = Buffer.allocUnsafe(bytes);
  const Ctor = typedArrayFor(dtype, 0).constructor as new (b: ArrayBufferLike, offset: number, length: number) => TypedArray;
  return new TsStorage(dtype, new Ctor(buf.buffer, buf.byteOffset, numel));
}

export function write(storage: TsStorage, values: TypedArray, offset: number): void {
  (storage.data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(values, offset);
}

export function read(storage: TsStorage, offset: number, numel: number): TypedArray {
  return storage.data.slice(offset, offset + numel);
}
