// The IDX format of MNIST-style files: a magic number (0, 0, type, ndim), ndim big-endian uint32
// sizes, then the values big-endian; plain or gzip-compressed (recognised by its magic bytes).
import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { typedArrayFor, type DType, type TypedArray } from '../../dtype.js';
import { fromValues } from '../../functional/creation.js';
import { Device } from '../../device.js';
import { fmtShape } from '../../tensor/shape.js';

interface IdxType {
  name: string;
  bytes: number;
  /** Fiamma has no int8/int16: those widen to int32. */
  dtype: DType;
  get(v: DataView, at: number): number;
}

/** The element types by IDX type code. */
const idxTypes: Record<number, IdxType> = {
  0x08: { name: 'uint8', bytes: 1, dtype: 'uint8', get: (v, at) => v.getUint8(at) },
  0x09: { name: 'int8', bytes: 1, dtype: 'int32', get: (v, at) => v.getInt8(at) },
  0x0b: { name: 'int16', bytes: 2, dtype: 'int32', get: (v, at) => v.getInt16(at) },
  0x0c: { name: 'int32', bytes: 4, dtype: 'int32', get: (v, at) => v.getInt32(at) },
  0x0d: { name: 'float32', bytes: 4, dtype: 'float32', get: (v, at) => v.getFloat32(at) },
  0x0e: { name: 'float64', bytes: 8, dtype: 'float64', get: (v, at) => v.getFloat64(at) },
};

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/**
 * The tensor held by IDX bytes (`source` names them in messages). uint8, int32, float32 and
 * float64 keep their type; int8 and int16 become int32.
 * Example: `fm.data.datasets.parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))` is `[7, 9]` (uint8).
 */
export function parseIdx(raw: Uint8Array, source = 'the IDX data'): Tensor {
  let bytes = raw;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new ValueError('readIdx', `${source} looks gzip-compressed but does not decompress: ${(e as Error).message}`);
    }
  }
  if (bytes.length < 4) throw new ValueError('readIdx', `${source} is too short for an IDX header (${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new ValueError('readIdx', `${source} is not an IDX file: bad magic number ${[...bytes.subarray(0, 4)].map(hex).join(' ')} (expected 0x00 0x00 <type> <ndim>)`);
  }
  const type = idxTypes[bytes[2]!];
  if (!type) throw new ValueError('readIdx', `${source} has unknown IDX data type ${hex(bytes[2]!)} (known: 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64)`);
  const ndim = bytes[3]!;
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new ValueError('readIdx', `${source} is truncated: its header declares ${ndim} dims (${header} bytes), but it has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: ndim }, (_, d) => view.getUint32(4 + 4 * d));
  const n = shape.reduce((a, b) => a * b, 1);
  const need = n * type.bytes;
  const got = bytes.length - header;
  if (got !== need) {
    const what = got < need ? 'is truncated' : 'has trailing bytes';
    throw new ValueError('readIdx', `${source} ${what}: shape ${fmtShape(shape)} of ${type.name} needs ${need} data bytes, got ${got}`);
  }
  let values: TypedArray;
  if (type.name === 'uint8') values = bytes.slice(header);
  else {
    values = typedArrayFor(type.dtype, n);
    const out = values as Float64Array;
    for (let i = 0; i < n; i++) out[i] = type.get(view, header + i * type.bytes);
  }
  return fromValues(values, shape, type.dtype, Device.of('cpu'));
}

/**
 * Reads an IDX file (plain or gzipped) into a tensor, as used by MNIST and Fashion-MNIST:
 * `train-images-idx3-ubyte.gz` gives a [60000, 28, 28] uint8 tensor. Sizes are checked against
 * the header; a bad magic number, an unknown type or a truncated file raises a ValueError.
 * Example: `const labels = fm.data.datasets.readIdx('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz');`
 */
export function readIdx(path: string): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw new ValueError('readIdx', `cannot read '${path}': ${(e as Error).message}`);
  }
  return parseIdx(bytes, `'${path}'`);
}
