// Bytes in and out of files: ranges read from an open file or a buffer through one interface, and
// files replaced atomically (temporary file in the same folder, fsync, rename over the target).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SafetensorsError, withFileErrors } from './errors.js';

/** Random access to the bytes of a file or a buffer. */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes from `position` (a view for buffers, a new array for files). */
  read(position: number, length: number): Uint8Array;
}

/** A buffer as a ByteSource. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (position, length) => bytes.subarray(position, position + length) };
}

/** Opens `file` as a ByteSource for the duration of fn. */
export function withFileSource<T>(op: string, file: string, fn: (source: ByteSource) => T): T {
  const fd = withFileErrors(op, file, () => fs.openSync(file, 'r'));
  try {
    const size = withFileErrors(op, file, () => fs.fstatSync(fd).size);
    return fn({
      size,
      read(position, length) {
        const out = new Uint8Array(length);
        for (let done = 0; done < length; ) {
          const n = withFileErrors(op, file, () => fs.readSync(fd, out, done, length - done, position + done));
          if (n === 0) throw new SafetensorsError(op, `'${file}' ended at byte ${position + done} while reading (was it truncated meanwhile?)`);
          done += n;
        }
        return out;
      },
    });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replaces `file` with the concatenated `parts` (each produced only when its turn comes), such
 * that a failure or a crash at any point leaves the previous file whole: the bytes go to a
 * temporary file beside it, which is flushed to disk and then renamed over it (rename is atomic
 * within a folder). An error in a part removes the temporary file and is raised as it is.
 */
export function writeFileAtomic(op: string, file: string, parts: Iterable<Uint8Array>): void {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  // Keep the permissions of the file being replaced.
  const mode = existingMode(target);
  const fd = withFileErrors(op, tmp, () => fs.openSync(tmp, 'wx', mode ?? 0o666));
  try {
    withFileErrors(op, tmp, () => {
      if (mode !== undefined) fs.fchmodSync(fd, mode);
      for (const part of parts) for (let done = 0; done < part.length; ) done += fs.writeSync(fd, part, done);
      fs.fsyncSync(fd);
    });
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  try {
    withFileErrors(op, file, () => fs.renameSync(tmp, target));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncFolder(dir);
}

function existingMode(file: string): number | undefined {
  try {
    return fs.statSync(file).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/** Flushes a folder's entries so the rename itself survives a crash (not possible everywhere). */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // NOTE: Windows cannot open folders; the rename is still atomic, only its durability waits.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
