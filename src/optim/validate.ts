// Checks of optimizer and scheduler options, each raising a ValueError that names the class and
// the option (PyTorch raises the same checks, as "Invalid learning rate: -1"), and error helpers.
import { Tensor } from '../tensor/tensor.js';
import { FiammaError, ValueError } from '../errors.js';

/** Raises unless `value >= 0` (NaN fails too). Example: `checkNonNegative('Adam', 'epsilon value', eps)`. */
export function checkNonNegative(op: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0)) throw new ValueError(op, `invalid ${name}: ${String(value)} (expected a number >= 0)`);
}

/** Raises unless `lo <= value < hi` (or `<= hi` when `closed`). Example: `checkRange('Adadelta', 'rho value', rho, 0, 1, true)`. */
export function checkRange(op: string, name: string, value: unknown, lo: number, hi: number, closed = false): void {
  const ok = typeof value === 'number' && value >= lo && (closed ? value <= hi : value < hi);
  if (!ok) throw new ValueError(op, `invalid ${name}: ${String(value)} (expected a number in [${lo}, ${hi}${closed ? ']' : ')'})`);
}

/** Raises unless betas is a pair of numbers in [0, 1). Example: `checkBetas('Adam', [0.9, 0.999])`. */
export function checkBetas(op: string, betas: unknown): void {
  if (!Array.isArray(betas) || betas.length !== 2) throw new ValueError(op, `invalid betas: ${String(betas)} (expected a pair [beta1, beta2])`);
  betas.forEach((b, i) => checkRange(op, `beta parameter at index ${i}`, b, 0, 1));
}

/** Raises unless value is a whole number >= min. Example: `checkInteger('StepLR', 'stepSize', 30, 1)`. */
export function checkInteger(op: string, name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ValueError(op, `expected ${name} to be an integer >= ${min}, got ${String(value)}`);
  }
}

/** Raises unless value is one of `allowed`. Example: `checkOneOf('CyclicLR', 'mode', mode, ['triangular', 'exp_range'])`. */
export function checkOneOf<T>(op: string, name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!allowed.includes(value as T)) throw new ValueError(op, `invalid ${name}: ${JSON.stringify(value)} (expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')})`);
}

/**
 * The same error with its stack taken here. Raised inside noGrad (an AsyncLocalStorage context),
 * its stack would start at node:async_hooks rather than at the user's line.
 * Example: `try { noGrad(update) } catch (e) { throw restack(e) }`.
 */
export function restack(e: unknown): unknown {
  if (!(e instanceof FiammaError)) return e;
  const Kind = e.constructor as new (op: string, message: string) => FiammaError;
  const fresh = new Kind(e.op, e.reason);
  if (fresh.message !== e.message) {
    fresh.stack = fresh.stack?.replace(fresh.message, e.message);
    fresh.message = e.message;
    fresh.hasContext = e.hasContext;
  }
  return fresh;
}

/** A short description of a value for error messages. Example: `describe(3) === 'number 3'`. */
export function describe(v: unknown): string {
  if (v instanceof Tensor) return `a Tensor of shape [${v.shape.join(', ')}]`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? `an object (${v.constructor?.name ?? 'Object'})` : `${typeof v} ${String(v)}`;
}

/** Options with `undefined` entries left out, so that they take the defaults. Example: `definedOptions({ lr: undefined })` is `{}`. */
export function definedOptions<T extends object>(opts: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(opts ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
