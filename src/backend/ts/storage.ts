// Storage of the ts backend: a typed array that the garbage collector owns.
import { typedArrayFor, type DType, type TypedArray } from '../../dtype.js';
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

export function allocate(dtype: DType, numel: number): TsStorage {
  return new TsStorage(dtype, typedArrayFor(dtype, numel));
}

export function write(storage: TsStorage, values: TypedArray, offset: number): void {
  (storage.data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(values, offset);
}

export function read(storage: TsStorage, offset: number, numel: number): TypedArray {
  return storage.data.slice(offset, offset + numel);
}
