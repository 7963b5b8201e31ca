// Builds the cpu backend's shared library on first use: the generated kernels and the C files in
// csrc/ are compiled with the system compiler (-O3 -march=native, OpenMP) into a cache folder keyed
// by the sources, the compiler and its flags. Several processes may start at once: one compiles
// (holding a lock file) while the others wait for its result; every file is written, then renamed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onceDeclarations, onceDefinitions } from './codegen.js';

/** The C sources beside the generated ones: src/backend/cpu/csrc (found from src/ or dist/src/). */
export function csrcDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromRoot = (root: string) => path.join(root, 'src', 'backend', 'cpu', 'csrc');
  for (const dir of [path.join(here, 'csrc'), fromRoot(path.join(here, '..', '..', '..', '..')), fromRoot(process.cwd())]) {
    if (fs.existsSync(path.join(dir, 'gemm.c'))) return dir;
  }
  throw new Error(`cannot find the C sources (csrc/gemm.c) near ${here}`);
}

/** Where compiled libraries live: FIAMMA_CACHE_DIR, else the user's cache directory. */
export function cacheDir(): string {
  const base = process.env.FIAMMA_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'fiamma');
  return path.join(base, 'kernels');
}

/** The C compiler: $CC, else cc. Its version goes into the cache key. */
function compiler(): { cc: string; version: string } | { error: string } {
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { error: `no C compiler found ('${cc}' ${r.error ? r.error.message : `exited with ${r.status}`})` };
  return { cc, version: r.stdout.split('\n')[0] ?? '' };
}

/** glibc on x86-64 ships libmvec (SIMD math functions): linked when present (see codegen.ts). */
const libmvec = os.arch() === 'x64' && (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime !== undefined;
const linkFlags = ['-shared', '-fopenmp', '-Wl,-z,nodelete'];
/** Libraries go after the objects (linkers drop unused libraries named before them). */
const linkLibs = [...(libmvec ? ['-lmvec'] : []), '-lm'];
// No errno from math functions and no floating-point traps: nothing reads them, and either keeps
// loops scalar (a sqrt checking its argument; an operation under a condition not computed for
// every lane: Adam's update). Values are unchanged: no reassociation, contraction as before.
/** The flags that shape the kernels' code, whatever the target (test/c/gemm_check.c's builds use them too). */
export const codeFlags = ['-O3', '-fno-math-errno', '-fno-trapping-math', '-fopenmp', '-Wall', '-Wno-unused-function', '-std=gnu11'];
const flags = [...(libmvec ? ['-DFIAMMA_CPU_LIBMVEC'] : []), ...codeFlags, `-march=${targetArch()}`, '-fPIC'];

/**
 * The instruction set the kernels are compiled for: the host's own (native), or the -march value
 * FIAMMA_CPU_ARCH names (x86-64-v3 for AVX2, x86-64 for SSE2, ...), so that CI tests the kernels
 * at the narrower vector widths too. A value the compiler rejects is a compile error: reported,
 * and the ts kernels run.
 */
function targetArch(): string {
  return process.env.FIAMMA_CPU_ARCH || 'native';
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The path of the compiled library for `generated` (plus csrc/*.c and their headers), compiling it when the cache
 * has none. Throws an Error carrying the compiler's message when compilation fails.
 */
export function buildLibrary(generated: string): string {
  const found = compiler();
  if ('error' in found) throw new Error(found.error);
  const dir = csrcDir();
  const sources = fs.readdirSync(dir).filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
  const handwritten = sources.filter((f) => f.endsWith('.c'));
  const hash = createHash('sha256');
  hash.update(generated);
  // The headers too: a change to one changes the files that include it.
  for (const f of sources) hash.update(f).update(fs.readFileSync(path.join(dir, f)));
  hash.update(found.version).update(flags.join(' ')).update(linkFlags.join(' ')).update(linkLibs.join(' ')).update(os.arch());
  const key = hash.digest('hex').slice(0, 24);
  const cache = cacheDir();
  const lib = path.join(cache, `fiamma-cpu-${key}.so`);
  if (fs.existsSync(lib)) return lib;
  fs.mkdirSync(cache, { recursive: true });

  // One process compiles; others wait for its library. A lock is stale when its process is gone
  // (killed mid-compile) or it is older than 10 minutes.
  const lock = `${lib}.lock`;
  for (;;) {
    try {
      fs.writeFileSync(lock, `${process.pid} ${os.hostname()}`, { flag: 'wx' });
      break;
    } catch {
      if (fs.existsSync(lib)) return lib;
      try {
        if (isStale(lock)) fs.rmSync(lock, { force: true });
      } catch { /* the lock went away: try again */ }
      sleep(200);
    }
  }
  try {
    if (fs.existsSync(lib)) return lib;
    const work = fs.mkdtempSync(path.join(cache, 'build-'));
    try {
      // The generated kernels in two halves and each handwritten file: compiled in parallel.
      const parts = splitSource(generated, 2);
      const units = parts.map((src, i) => {
        const file = path.join(work, `generated${i}.c`);
        fs.writeFileSync(file, src);
        return file;
      });
      units.push(...handwritten.map((f) => path.join(dir, f)));
      const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
      const jobs = units.map((u, i) => `(${q(found.cc)} ${flags.join(' ')} -c ${q(u)} -o ${q(path.join(work, `u${i}.o`))} 2>${q(path.join(work, `u${i}.err`))} || echo ${i} >> ${q(path.join(work, 'failed'))}) &`);
      execFileSync('sh', ['-c', `${jobs.join(' ')} wait`]);
      if (fs.existsSync(path.join(work, 'failed'))) {
        const failed = fs.readFileSync(path.join(work, 'failed'), 'utf8').trim().split('\n').map(Number);
        const messages = failed.map((i) => fs.readFileSync(path.join(work, `u${i}.err`), 'utf8')).join('\n');
        throw new Error(`the C compiler failed:\n${messages.slice(0, 4000)}`);
      }
      const tmp = path.join(work, 'lib.so');
      // -z nodelete: never unmapped at exit while OpenMP's threads still run (that crashes the process).
      execFileSync(found.cc, [...linkFlags, '-o', tmp, ...units.map((_, i) => path.join(work, `u${i}.o`)), ...linkLibs], { stdio: 'pipe' });
      fs.renameSync(tmp, lib);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    return lib;
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** True when a compile lock was left by a process that is gone, or is older than 10 minutes. */
export function isStale(lock: string): boolean {
  if (Date.now() - fs.statSync(lock).mtimeMs > 600_000) return true;
  const [pid, host] = fs.readFileSync(lock, 'utf8').split(' ');
  if (host !== os.hostname() || !pid) return false; // another machine sharing the cache: trust the age
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Splits generated C (a prelude, then functions starting at column 0) into `n` units sharing the
 * prelude. A static helper is visible in its own unit only, so a unit ends only where no helper
 * defined before is called after (a split between fm_maxpool_plane and fm_maxpool2d, or between
 * a short-rows helper and its kernel, would not compile).
 */
export function splitSource(src: string, n: number): string[] {
  const marker = '\nvoid fm_u_';
  const start = src.indexOf(marker);
  const prelude = src.slice(0, start);
  const fns = src.slice(start).split(/\n(?=(?:static )?(?:void|int64_t|int) fm_\w+\()/);
  const helper = fns.map((f) => /^static \w+ (fm_\w+)\(/.exec(f)?.[1]);
  const canCut = (at: number): boolean => {
    const rest = fns.slice(at).join('\n');
    return helper.slice(0, at).every((name) => name === undefined || !rest.includes(`${name}(`));
  };
  const cuts = [0];
  for (let i = 1; i < n; i++) {
    let at = Math.max(cuts[i - 1]!, Math.round((fns.length * i) / n));
    while (at < fns.length && !canCut(at)) at++;
    cuts.push(at);
  }
  cuts.push(fns.length);
  // The prelude's globals are defined once; the other units see them as extern.
  return Array.from({ length: n }, (_, i) => (i === 0 ? prelude : prelude.replace(onceDefinitions, onceDeclarations)) + fns.slice(cuts[i], cuts[i + 1]).join('\n'));
}
