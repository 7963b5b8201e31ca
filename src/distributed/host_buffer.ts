// The memory of a dense cpu tensor as a typed array over exactly its elements, for a collective
// engine to read and write in place.
import type { TypedArray } from '../dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TsStorage } from '../backend/ts/storage.js';

type ArrayCtor = new (b: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;

/**
 * A typed-array view of `t`'s elements (t is contiguous and on the cpu). NOTE: taking `.buffer`
 * moves a small typed array's contents off V8's heap for good, so the address an engine holds
 * while a nonblocking collective runs stays valid: the garbage collector never moves it.
 */
export function hostBuffer(t: Tensor): TypedArray {
  const data = (t.storage.handle as TsStorage).data;
  const ctor = data.constructor as ArrayCtor;
  return new ctor(data.buffer, data.byteOffset + t.offset * data.BYTES_PER_ELEMENT, t.numel());
}
