// The errors of saving and loading: a malformed safetensors file, and a failure of the file system.
import { FiammaError } from '../errors.js';

/**
 * A safetensors file (or checkpoint) that is malformed, truncated or hostile: the message says
 * which rule it breaks. Raised before any large allocation.
 * Example: `try { fm.load('x.safetensors') } catch (e) { if (e instanceof fm.SafetensorsError) ... }`.
 */
export class SafetensorsError extends FiammaError {}

/**
 * The file system refused a read or write (missing file, no permission, disk full). `code` is
 * Node's error code (`'ENOENT'`, ...) and `cause` the original error.
 * Example: `try { fm.load('missing.safetensors') } catch (e) { (e as fm.FileError).code === 'ENOENT' }`.
 */
export class FileError extends FiammaError {
  /** Node's error code, such as `'ENOENT'` or `'EACCES'` (undefined when there was none). */
  readonly code: string | undefined;
  constructor(op: string, message: string, cause?: unknown) {
    super(op, message);
    this.code = (cause as { code?: unknown } | undefined)?.code as string | undefined;
    if (cause !== undefined) this.cause = cause;
  }
}

/** Runs fn, turning a Node file system error into a FileError that names the op and the path. */
export function withFileErrors<T>(op: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FiammaError || !(e instanceof Error) || !('code' in e)) throw e;
    throw new FileError(op, `cannot access '${file}': ${e.message}`, e);
  }
}
