// Every error Fiamma raises: one base class so users can catch them all, subclasses by kind.
// Frames inside Fiamma are trimmed from the stack so that it starts at the user's line.
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

// The package's compiled source folder (dist/src): frames under it are internal.
const internalDir = path.dirname(fileURLToPath(import.meta.url));

/** Removes Fiamma's own frames from a stack trace, so it starts at the user's line. */
export function trimInternalFrames(stack: string | undefined): string | undefined {
  if (!stack) return stack;
  const lines = stack.split('\n');
  const head: string[] = [];
  const frames: string[] = [];
  for (const line of lines) (/^\s+at /.test(line) ? frames : head).push(line);
  // Node's own frames (node:internal/..., AsyncLocalStorage.run in node:async_hooks) are never the user's.
  const external = frames.filter((f) => !f.includes(internalDir) && !/[( ]node:[a-z_]/.test(f));
  // Builtin frames (Array.map inside Fiamma) before the user's first line say nothing to the user.
  while (external.length > 1 && /\((<anonymous>|native)\)$/.test(external[0]!)) external.shift();
  // Keep internal frames only when nothing else is left (an error raised from Fiamma's own code).
  return [...head, ...(external.length > 0 ? external : frames)].join('\n');
}

/** Base class of every error Fiamma raises. `op` names the operation that failed. */
export class FiammaError extends Error {
  /** The operation that raised the error, e.g. `'matmul'`. */
  readonly op: string;
  /** The message without the op's name. */
  readonly reason: string;
  /** True once the inputs' description was added to the message. */
  hasContext = false;
  constructor(op: string, message: string) {
    // Deep enough to reach past Fiamma's own frames to the user's line.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = Math.max(limit, 100);
    super(op ? `${op}: ${message}` : message);
    Error.stackTraceLimit = limit;
    this.name = new.target.name;
    this.op = op;
    this.reason = message;
    this.stack = trimInternalFrames(this.stack);
  }
}

/**
 * Appends a note (such as the inputs' shapes, dtypes and devices) to an error's message and stack,
 * once. Used where an op knows more than the helper that raised.
 */
export function addErrorContext(e: FiammaError, note: string): void {
  if (e.hasContext) return;
  e.hasContext = true;
  const old = e.message;
  e.message = `${old} ${note}`;
  if (e.stack) e.stack = e.stack.replace(old, e.message);
}

/**
 * The same error raised by the public op a user called rather than the primitive that found it
 * (indexSelect is a gather inside). Other errors pass through unchanged.
 */
export function asOpError(e: unknown, op: string): unknown {
  if (!(e instanceof FiammaError) || e.op === op) return e;
  const Kind = e.constructor as new (op: string, message: string) => FiammaError;
  return new Kind(op, e.reason);
}

/** Shapes that do not fit the operation (broadcasting, matmul, view, cat, ...). */
export class ShapeError extends FiammaError {}
/** A dtype the operation cannot take. */
export class DTypeError extends FiammaError {}
/** Tensors on different devices, or a device that is not available. */
export class DeviceError extends FiammaError {}
/** A device could not hold a new tensor (the message says what was asked, allocated, cached and free). */
export class OutOfMemoryError extends DeviceError {}
/** A dim or an index out of range, or an index of the wrong kind. */
export class IndexError extends FiammaError {}
/** A value that is not allowed (ragged nested arrays, bad options, ...). */
export class ValueError extends FiammaError {}
/** Misuse of the autograd graph (backward twice, in-place change of a saved tensor, ...). */
export class AutogradError extends FiammaError {}
/** A backward that produced NaN or Inf under `autograd.detectAnomaly`. */
export class AnomalyError extends AutogradError {}
/**
 * A failure of distributed training: a process group used before `initProcessGroup`, a collective
 * that timed out because a rank died or stalled, or an error from the collective library (MPI, NCCL).
 */
export class DistributedError extends FiammaError {}
