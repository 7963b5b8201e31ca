// Copies of optimizer state for state dicts: plain values copied, tensors kept from scopes, and
// loaded tensors cast to their parameter's dtype and device.
import { Tensor } from '../tensor/tensor.js';
import { isFloating } from '../dtype.js';
import { noGrad } from '../autograd/grad_mode.js';
import { keep } from '../tensor/scope.js';

/** A copy of arrays and plain objects; tensors and other values as they are. Example: `copyPlain([0.9, 0.999])`. */
export function copyPlain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyPlain);
  if (v !== null && typeof v === 'object' && !(v instanceof Tensor) && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyPlain(x)]));
  }
  return v;
}

/** State that PyTorch keeps in 0-dim tensors and Fiamma in numbers (so that a step reads nothing from the device). */
const scalarKeys = new Set(['step', 'mu_product']);

/**
 * A deep copy of a loaded state value for parameter p: floating tensors cast to p's dtype, all
 * tensors moved to p's device; `step` and `mu_product` become numbers (PyTorch has 0-dim tensors).
 */
export function castState(p: Tensor, v: unknown, key: string): unknown {
  if (v instanceof Tensor) {
    if (scalarKeys.has(key)) return v.item();
    let t = v.device === p.device ? v : v.to(p.device);
    if (isFloating(t.dtype) && isFloating(p.dtype) && t.dtype !== p.dtype) t = t.to(p.dtype);
    return t === v ? noGrad(() => v.clone()) : t;
  }
  if (Array.isArray(v)) return v.map((x) => castState(p, x, ''));
  return copyPlain(v);
}

/** Exempts the tensors in a state entry (and its lists) from enclosing scopes; returns it. Example: `keepTensors({ expAvg })`. */
export function keepTensors<T>(value: T): T {
  if (value instanceof Tensor) keep(value);
  else if (Array.isArray(value)) value.forEach(keepTensors);
  else if (value !== null && typeof value === 'object') Object.values(value).forEach(keepTensors);
  return value;
}
