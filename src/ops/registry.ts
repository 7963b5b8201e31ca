// The one op registry: every primitive, by name, with its attribute type. The mapped type makes
// a primitive without an entry a compile error.
import type { DType } from '../dtype.js';
import type { Device } from '../device.js';
import type { UnaryOpName, BinaryOpName } from './elementwise.js';
import type { OpDef } from './op_def.js';
import { unaryDefs, binaryDefs, copyDefs } from './prims/elementwise.js';
import { movementDefs, type SliceAttrs } from './prims/movement.js';
import { reduceDefs, type ReduceAttrs } from './prims/reduce.js';
import { indexDefs, type GatherBackwardAttrs } from './prims/index.js';
import { normDefs, type NormAttrs } from './prims/norm.js';
import { stridedDefs, type StridedAttrs } from './prims/strided.js';
import { softmaxDefs, type SoftmaxAttrs } from './prims/softmax.js';
import { poolDefs, type MaxPoolAttrs } from './prims/pool.js';
import { crossEntropyDefs, type CrossEntropyAttrs } from './prims/cross_entropy.js';
import { layerNormDefs, type LayerNormAttrs } from './prims/layer_norm.js';
import { convDefs, type Conv2dAttrs } from './prims/conv.js';

/** Each primitive's attributes (the non-tensor arguments). */
export type PrimAttrs = { [K in UnaryOpName]: readonly number[] } & { [K in BinaryOpName]: null } & {
  where: null;
  cast: DType;
  clone: null;
  toDevice: { from: Device; to: Device; nonBlocking?: boolean };
  reshape: readonly number[];
  permute: readonly number[];
  expand: readonly number[];
  slice: SliceAttrs;
  sliceBackward: SliceAttrs & { readonly shape: readonly number[] };
  sum: ReduceAttrs;
  prod: ReduceAttrs;
  amax: ReduceAttrs;
  amin: ReduceAttrs;
  argmax: ReduceAttrs;
  argmin: ReduceAttrs;
  all: ReduceAttrs;
  any: ReduceAttrs;
  cumsum: number;
  cumprod: number;
  norm: NormAttrs;
  softmax: SoftmaxAttrs;
  softmaxBackward: SoftmaxAttrs;
  crossEntropy: CrossEntropyAttrs;
  crossEntropyBackward: CrossEntropyAttrs;
  layerNorm: LayerNormAttrs;
  maxPool2d: MaxPoolAttrs;
  conv2d: Conv2dAttrs;
  gather: number;
  gatherBackward: GatherBackwardAttrs;
  scatter: number;
  scatterAdd: number;
  cat: number;
  argsort: { dim: number; descending: boolean };
  matmul: null;
  asStrided: StridedAttrs;
  asStridedBackward: StridedAttrs & { readonly inputShape: readonly number[] };
};

export type PrimName = keyof PrimAttrs;

export const registry: { readonly [K in PrimName]: OpDef<PrimAttrs[K]> } = {
  ...unaryDefs,
  ...binaryDefs,
  ...copyDefs,
  ...movementDefs,
  ...reduceDefs,
  ...normDefs,
  ...softmaxDefs,
  ...poolDefs,
  ...convDefs,
  ...crossEntropyDefs,
  ...layerNormDefs,
  ...indexDefs,
  ...stridedDefs,
};
