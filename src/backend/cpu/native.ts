// Loads the compiled kernel library through koffi and binds its functions on first use.
import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';
import { buildLibrary } from './compile.js';
import { generatedSource } from './codegen.js';

const require = createRequire(import.meta.url);

/** A bound C function. */
export type NativeFn = (...args: unknown[]) => unknown;

/** The loaded library: kernels by name, bound once each. */
export interface NativeLib {
  fn(name: string, result: string, args: readonly string[]): NativeFn;
  readonly path: string;
}

/** Compiles (or finds in the cache) and loads the kernel library. Throws with the reason on failure. */
export function loadNative(): NativeLib {
  const koffi = require('koffi') as typeof import('koffi');
  const libPath = buildLibrary(generatedSource());
  const lib: LibraryHandle = koffi.load(libPath);
  const bound = new Map<string, NativeFn>();
  return {
    path: libPath,
    fn(name, result, args) {
      let f = bound.get(name);
      if (!f) bound.set(name, (f = lib.func(name, result, [...args]) as unknown as NativeFn));
      return f;
    },
  };
}
