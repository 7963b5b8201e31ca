// The ts backend: plain TypeScript over typed arrays. The reference every other backend is
// tested against, and the fallback where no native kernels exist.
import type { Backend } from '../interface.js';
import { TsStorage, allocate, free, read, write } from './storage.js';
import { copy, fill, unary, binary, where } from './elementwise.js';
import { reduce, scan } from './reduce.js';
import { softmax, softmaxBackward } from './softmax.js';
import { crossEntropy, crossEntropyBackward } from './cross_entropy.js';
import { layerNorm, layerNormBackward } from './layer_norm.js';
import { maxPool2d, maxPool2dBackward } from './pool.js';
import { matmul } from './matmul.js';
import { gather, scatter, argsort, accumulate } from './indexing.js';
import { fillRandom } from './philox.js';

/** The ts backend object. Example: `registerBackend('cpu', tsBackend)`. */
export const tsBackend: Backend<TsStorage> = {
  name: 'ts',
  allocate,
  free,
  write,
  read,
  copy,
  fill,
  unary,
  binary,
  where,
  reduce,
  scan,
  softmax,
  softmaxBackward,
  crossEntropy,
  crossEntropyBackward,
  layerNorm,
  layerNormBackward,
  maxPool2d,
  maxPool2dBackward,
  matmul,
  gather,
  scatter,
  accumulate,
  argsort,
  random(out, dist, seed, offset, a, b) {
    const n = out.shape.reduce((p, q) => p * q, 1);
    const data = out.storage.data;
    if (!(data instanceof Float32Array || data instanceof Float64Array)) throw new TypeError(`random: ${out.dtype} output`);
    fillRandom(data.subarray(out.offset, out.offset + n), dist, seed, offset, a, b);
  },
  synchronize() {},
};

export { TsStorage };
