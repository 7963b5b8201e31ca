// Shared test helpers: the devices to run on, fixtures, and closeness checks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import type { Backend } from '../src/backend/interface.js';

/** Devices every device-parameterised test runs on; cuda is listed only when a backend serves it. */
export const devices: string[] = ['cpu', ...(fm.isBackendAvailable('cuda') ? ['cuda'] : [])];
/** Why cuda cases are skipped on this machine (undefined when they run). */
export const cudaSkip = fm.isBackendAvailable('cuda') ? undefined : 'no CUDA device/backend on this machine';

/** Reads test/fixtures/<name> (tests run from the repository root). */
export function fixture<T = unknown>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(process.cwd(), 'test', 'fixtures', name), 'utf8')) as T;
}

/** Flattens nested arrays of numbers/booleans. */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [Number(x)];
}

/** Asserts elementwise |a - e| <= atol + rtol |e| (NaN matches NaN, infinities must be equal). */
export function assertClose(actual: fm.Tensor | number[], expected: unknown, opts: { rtol?: number; atol?: number; msg?: string } = {}): void {
  const a = actual instanceof fm.Tensor ? flat(actual.toArray()) : actual;
  const e = flat(expected);
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  assert.equal(a.length, e.length, `${opts.msg ?? ''} length ${a.length} != ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      assert.equal(x, y, `${opts.msg ?? ''} element ${i}: ${x} != ${y}`);
      continue;
    }
    assert.ok(Math.abs(x - y) <= atol + rtol * Math.abs(y), `${opts.msg ?? ''} element ${i}: ${x} vs expected ${y}`);
  }
}

type ErrorClass = new (...args: never[]) => fm.FiammaError;

/**
 * Runs fn expecting a `cls` (a FiammaError) raised by `op`, with a message that names the op and
 * matches `re`, and whose stack's first frame is the calling test file (`file`), not Fiamma.
 */
export function expectError(fn: () => unknown, cls: ErrorClass, op: string, re: RegExp, file: RegExp): fm.FiammaError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected ${cls.name} matching ${re}, but nothing was thrown`);
  assert.ok(caught instanceof fm.FiammaError, `not a FiammaError: ${String(caught)}`);
  assert.ok(caught instanceof Error);
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught.name}: ${caught.message}`);
  assert.equal(caught.name, cls.name);
  assert.equal(caught.op, op);
  assert.ok(caught.message.startsWith(`${op}: `), `message names the op: ${caught.message}`);
  assert.match(caught.message, re);
  const firstFrame = caught.stack!.split('\n').find((l) => /^\s+at /.test(l));
  assert.ok(firstFrame !== undefined, 'the stack has frames');
  assert.match(firstFrame, file, `first frame should be the user's line, got: ${firstFrame}`);
  assert.doesNotMatch(firstFrame, /[/\\]src[/\\]/);
  return caught;
}

/**
 * Runs f with `backend` serving cpu (tensors made inside live on it, so their ops run there), then
 * restores `restore`. Example: a backend without a fused kernel, to run an op's composite.
 */
export function withCpuBackend<T>(backend: Backend, restore: Backend, f: () => T): T {
  fm.registerBackend('cpu', backend);
  try {
    return f();
  } finally {
    fm.registerBackend('cpu', restore);
  }
}
