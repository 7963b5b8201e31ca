// Finds and loads the CUDA libraries through koffi: the driver (libcuda), NVRTC, cuBLAS and NCCL.
// Where each is looked for, in order: FIAMMA_CUDA_LIB_DIRS (':'-separated), CUDA_HOME / CUDA_PATH,
// the usual install folders, NVIDIA's pip wheels (site-packages/nvidia/*/lib), then the system
// loader's own search. A failure names the missing library and every place that was tried.
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LibraryHandle } from 'koffi';

const require = createRequire(import.meta.url);

/** The sonames tried for each library, newest first (CUDA 13, then 12). */
export const libraryNames = {
  driver: ['libcuda.so.1', 'libcuda.so'],
  nvrtc: ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so'],
  cublas: ['libcublas.so.13', 'libcublas.so.12', 'libcublas.so'],
  nccl: ['libnccl.so.2', 'libnccl.so'],
} as const;
export type LibraryKind = keyof typeof libraryNames;

/** pip wheel folders under a site-packages: nvidia/cu13/lib (CUDA 13 wheels), nvidia/<lib>/lib (CUDA 12). */
function wheelDirs(sitePackages: string): string[] {
  const nv = path.join(sitePackages, 'nvidia');
  if (!fs.existsSync(nv)) return [];
  return fs.readdirSync(nv).map((d) => path.join(nv, d, 'lib')).filter((d) => fs.existsSync(d));
}

/** site-packages folders of the active Python environments (virtualenv, conda) and the system's. */
function sitePackagesDirs(env: NodeJS.ProcessEnv): string[] {
  const roots = [env.VIRTUAL_ENV, env.CONDA_PREFIX, '/usr/local', '/usr'].filter((r): r is string => !!r);
  const out: string[] = [];
  for (const root of roots) {
    const lib = path.join(root, 'lib');
    if (!fs.existsSync(lib)) continue;
    for (const py of fs.readdirSync(lib).filter((d) => /^python3/.test(d))) {
      for (const sp of ['site-packages', 'dist-packages']) {
        const dir = path.join(lib, py, sp);
        if (fs.existsSync(dir)) out.push(dir);
      }
    }
  }
  return out;
}

/** Every folder searched, in order (duplicates removed). */
export function searchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  for (const d of (env.FIAMMA_CUDA_LIB_DIRS ?? '').split(':')) if (d) dirs.push(d);
  for (const home of [env.CUDA_HOME, env.CUDA_PATH]) {
    if (home) dirs.push(path.join(home, 'lib64'), path.join(home, 'lib'), path.join(home, 'targets', 'x86_64-linux', 'lib'));
  }
  dirs.push('/usr/local/nvidia/lib64', '/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib');
  for (const sp of sitePackagesDirs(env)) dirs.push(...wheelDirs(sp));
  return [...new Set(dirs)];
}

/** A library that could not be loaded: which, and where it was looked for. */
export class LibraryNotFound extends Error {
  constructor(readonly kind: LibraryKind, readonly looked: readonly string[], readonly why: readonly string[]) {
    super(`${libraryNames[kind][0]} (${kindLabel[kind]}) was not found: looked in ${looked.join(', ')} and the system loader's paths` +
      `${why.length > 0 ? `; ${why.join('; ')}` : ''}. Set FIAMMA_CUDA_LIB_DIRS to the folder that holds it`);
  }
}

const kindLabel: Record<LibraryKind, string> = {
  driver: 'the NVIDIA driver', nvrtc: 'the CUDA runtime compiler, NVRTC', cublas: 'cuBLAS', nccl: 'NCCL, for the nccl backend of distributed',
};

/** Loads one CUDA library: the first of its names found in searchDirs(), else by bare name through the loader. */
export function loadLibrary(kind: LibraryKind): { lib: LibraryHandle; path: string } {
  const hit = loaded.get(kind);
  if (hit) return hit;
  const found = find(kind);
  loaded.set(kind, found);
  return found;
}
const loaded = new Map<LibraryKind, { lib: LibraryHandle; path: string }>();

function find(kind: LibraryKind): { lib: LibraryHandle; path: string } {
  const koffi = require('koffi') as typeof import('koffi');
  const dirs = searchDirs();
  const why: string[] = [];
  for (const dir of dirs) {
    for (const name of libraryNames[kind]) {
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) continue;
      try {
        return { lib: koffi.load(file), path: file };
      } catch (e) {
        why.push(`${file}: ${(e as Error).message}`);
      }
    }
  }
  for (const name of libraryNames[kind]) {
    try {
      return { lib: koffi.load(name), path: name };
    } catch {
      // not on the loader's path either
    }
  }
  throw new LibraryNotFound(kind, dirs, why);
}
