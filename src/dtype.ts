// Data types: storage layout, categories, and PyTorch's type promotion rules.
import { DTypeError } from './errors.js';

/** Element types a tensor can hold. `int64` is the default integer type, `float32` the default float. */
export type DType = 'float16' | 'bfloat16' | 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';

/** The typed arrays that hold each dtype's elements (float16 and bfloat16: their bits, in Uint16Array). */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

type Category = 0 | 1 | 2; // bool < integer < floating

interface DTypeInfo {
  readonly array: { new (n: number): TypedArray; new (b: ArrayBufferLike, byteOffset: number, length: number): TypedArray; BYTES_PER_ELEMENT: number };
  readonly category: Category;
  /** Position in the promotion lattice within the category (wider is larger). */
  readonly rank: number;
}

const info: Record<DType, DTypeInfo> = {
  bool: { array: Uint8Array, category: 0, rank: 0 },
  uint8: { array: Uint8Array, category: 1, rank: 1 },
  int32: { array: Int32Array, category: 1, rank: 3 },
  int64: { array: BigInt64Array, category: 1, rank: 4 },
  // float16 and bfloat16 share a rank: neither holds the other, so together they promote to float32.
  float16: { array: Uint16Array, category: 2, rank: 5 },
  bfloat16: { array: Uint16Array, category: 2, rank: 5 },
  float32: { array: Float32Array, category: 2, rank: 6 },
  float64: { array: Float64Array, category: 2, rank: 7 },
};

/** All dtypes, in promotion order. */
export const dtypes: readonly DType[] = ['bool', 'uint8', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'float64'];

/** True for the names of Fiamma's dtypes. */
export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && x in info;
}
/** True for the float dtypes (float16, bfloat16, float32, float64). Example: `fm.isFloating(x.dtype)`. */
export function isFloating(d: DType): boolean {
  return info[d].category === 2;
}
/** True for the integer dtypes (and bool when asked). */
export function isIntegral(d: DType, includeBool = false): boolean {
  return info[d].category === 1 || (includeBool && d === 'bool');
}
/**
 * True for float16 and bfloat16: storage holds their bits (Uint16Array) and kernels compute in
 * float32, rounding each result, as PyTorch's CPU kernels do.
 */
export type ReducedFloat = 'float16' | 'bfloat16';
export function isReducedFloat(d: DType): d is ReducedFloat {
  return d === 'float16' || d === 'bfloat16';
}
/** Bytes one element takes in storage. */
export function bytesPerElement(d: DType): number {
  return info[d].array.BYTES_PER_ELEMENT;
}
/** A zeroed typed array holding n elements of dtype d (the bits, for float16 and bfloat16). */
export function typedArrayFor(d: DType, n: number): TypedArray {
  return new info[d].array(n);
}

/** A typed array of dtype d over `n` elements of existing memory (no copy). */
export function typedArrayOver(d: DType, buffer: ArrayBufferLike, byteOffset: number, n: number): TypedArray {
  return new info[d].array(buffer, byteOffset, n);
}

let defaultFloat: 'float32' | 'float64' = 'float32';
/** The dtype of float tensors created without one (PyTorch's `torch.get_default_dtype()`). */
export function getDefaultDtype(): 'float32' | 'float64' {
  return defaultFloat;
}
/** Sets the default float dtype. Example: `setDefaultDtype('float64')`. */
export function setDefaultDtype(d: DType): void {
  if (d !== 'float32' && d !== 'float64') throw new DTypeError('setDefaultDtype', `expected float32 or float64, got ${d}`);
  defaultFloat = d;
}

/** The smallest dtype both `a` and `b` convert to without losing their kind (PyTorch's `promote_types`). */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (info[a].rank === info[b].rank) return 'float32'; // float16 with bfloat16
  // uint8 with a signed integer type widens past both (as in PyTorch, uint8 + int8 -> int16);
  // our only signed types are int32 and int64, which already hold every uint8.
  return info[a].rank >= info[b].rank ? a : b;
}

/** An operand of a type-promoting op: a tensor's dtype and dim, or a JS number/boolean. */
export type PromotionOperand = { dtype: DType; ndim: number } | number | boolean;

/**
 * PyTorch's `result_type`: dimensioned tensors decide first, then zero-dim tensors, then plain
 * numbers; a lower tier only matters when it belongs to a higher category (bool < int < float).
 * Example: int64 tensor + 2.5 -> float32; float32 tensor + float64 zero-dim tensor -> float32.
 */
export function resultType(operands: readonly PromotionOperand[]): DType {
  const tiers: (DType | undefined)[] = [undefined, undefined, undefined];
  for (const o of operands) {
    let tier: number;
    let d: DType;
    if (typeof o === 'number') {
      tier = 2;
      d = Number.isInteger(o) ? 'int64' : defaultFloat;
    } else if (typeof o === 'boolean') {
      tier = 2;
      d = 'bool';
    } else {
      tier = o.ndim > 0 ? 0 : 1;
      d = o.dtype;
    }
    const prev = tiers[tier];
    tiers[tier] = prev === undefined ? d : promoteTypes(prev, d);
  }
  let result: DType | undefined;
  for (const d of tiers) {
    if (d === undefined) continue;
    if (result === undefined) result = d;
    // Numbers already stand as their category's default type (int64, the default float).
    else if (info[d].category > info[result].category) result = d;
  }
  if (result === undefined) throw new DTypeError('resultType', 'no operands');
  return result;
}

/** The float dtype an op computes in when it needs floats: floats stay, the rest go to the default. */
export function toFloating(d: DType): DType {
  return isFloating(d) ? d : defaultFloat;
}
