// The element types of safetensors files: their sizes, the Fiamma dtype each loads as, and the
// conversion between a file's little-endian bytes and typed arrays.
import { typedArrayFor, type DType, type TypedArray } from '../dtype.js';

interface FileDTypeInfo {
  /** Bytes per element in the file. */
  readonly size: number;
  /** The Fiamma dtype it loads as: wider than the file's for I8 and I16. */
  readonly dtype: DType;
  /** Position in safetensors' `Dtype` enum (increasing alignment); writers order tensors by it, descending. */
  readonly rank: number;
}

/**
 * The safetensors dtypes Fiamma reads. I8 and I16 load widened to int32 (exactly), until Fiamma has
 * those dtypes; F16 and BF16 load as float16 and bfloat16, bit for bit.
 */
export const fileDTypes = {
  BOOL: { size: 1, dtype: 'bool', rank: 0 },
  U8: { size: 1, dtype: 'uint8', rank: 1 },
  I8: { size: 1, dtype: 'int32', rank: 2 },
  I16: { size: 2, dtype: 'int32', rank: 5 },
  F16: { size: 2, dtype: 'float16', rank: 7 },
  BF16: { size: 2, dtype: 'bfloat16', rank: 8 },
  I32: { size: 4, dtype: 'int32', rank: 9 },
  F32: { size: 4, dtype: 'float32', rank: 11 },
  F64: { size: 8, dtype: 'float64', rank: 12 },
  I64: { size: 8, dtype: 'int64', rank: 13 },
} as const satisfies Record<string, FileDTypeInfo>;

/** A safetensors dtype name Fiamma reads ('F32', 'BF16', ...). */
export type FileDType = keyof typeof fileDTypes;

/** The safetensors name each Fiamma dtype is written as. */
export const fileDTypeOf = {
  bool: 'BOOL', uint8: 'U8', int32: 'I32', int64: 'I64', float16: 'F16', bfloat16: 'BF16', float32: 'F32', float64: 'F64',
} as const satisfies Record<DType, FileDType>;

export function isFileDType(s: string): s is FileDType {
  return Object.prototype.hasOwnProperty.call(fileDTypes, s);
}

// NOTE: files are little-endian; typed arrays use the host's order, so big-endian hosts swap.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let k = 0; k < size; k++) out[i + k] = bytes[i + size - 1 - k]!;
  return out;
}

/** The little-endian bytes of a typed array's elements (a view of it where the host is little-endian). */
export function toFileBytes(values: TypedArray): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return hostIsLittleEndian ? bytes : swapped(bytes, values.BYTES_PER_ELEMENT);
}

/** Typed array constructors of the dtypes stored as they are in files (F16 and BF16: their bits). */
const arrayOf = { U8: Uint8Array, I32: Int32Array, F16: Uint16Array, BF16: Uint16Array, F32: Float32Array, F64: Float64Array, I64: BigInt64Array } as const;

/**
 * The `n` elements of a file's `bytes` as a typed array of the dtype they load as. The result may
 * view `bytes` (when aligned and nothing needs converting): callers copy it into storage.
 */
export function fromFileBytes(code: FileDType, bytes: Uint8Array, n: number): TypedArray {
  const { size, dtype } = fileDTypes[code];
  const le = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (code) {
    case 'I8':
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
    case 'I16':
      return Int32Array.from({ length: n }, (_, i) => le.getInt16(2 * i, true));
    case 'BOOL':
      // Any nonzero byte is true; storage holds exactly 0 or 1.
      return bytes.every((b) => b <= 1) ? bytes.subarray(0, n) : Uint8Array.from(bytes.subarray(0, n), (b) => (b !== 0 ? 1 : 0));
    default: {
      const src = hostIsLittleEndian ? bytes : swapped(bytes, size);
      if (src.byteOffset % size === 0) return new arrayOf[code](src.buffer as ArrayBuffer, src.byteOffset, n);
      const out = typedArrayFor(dtype, n); // unaligned: copy
      new Uint8Array(out.buffer).set(src.subarray(0, n * size));
      return out;
    }
  }
}
