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

/**
 * Lets glibc's malloc reuse freed tensor memory. Node allocates ArrayBuffers with calloc, and by
 * default glibc maps every block over 128 KiB fresh from the kernel and unmaps it on free, so each
 * new large tensor pays a page fault per 4 KiB on first touch (measured: 1.5 ms of a 1.9 ms relu
 * of 1.4M floats). Keeping blocks up to 32 MiB on the heap makes that a memset.
 * FIAMMA_CPU_MALLOC=default leaves malloc as it is; other C libraries than glibc are left alone.
 */
function tuneMalloc(koffi: typeof import('koffi')): void {
  if (process.env.FIAMMA_CPU_MALLOC === 'default' || process.platform !== 'linux') return;
  try {
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)') as (p: number, v: number) => number;
    const [M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD] = [-1, -2, -3];
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
  } catch {
    // Not glibc: nothing to tune.
  }
}

/** Compiles (or finds in the cache) and loads the kernel library. Throws with the reason on failure. */
export function loadNative(): NativeLib {
  const koffi = require('koffi') as typeof import('koffi');
  tuneMalloc(koffi);
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
