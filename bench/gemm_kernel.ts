// The GEMM kernels' own comparison: bench/c/gemm_vs_blas.c runs Fiamma's C GEMM and the system
// BLAS's sgemm (what PyTorch's CPU matmul calls: libblas.so.3, OpenBLAS on Debian) in one process,
// round by round, so that the machine's noise and neither runtime's overhead separate them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeFlags, csrcDir } from '../src/backend/cpu/compile.js';
import { SPINCOUNT } from './peer.js';

export interface GemmKernelRow {
  n: number;
  threads: number;
  rounds: number;
  fiammaGflops: { best: number; median: number };
  blasGflops: { best: number; median: number };
  /** The inputs make every sum exact: any differing element is a wrong result. */
  elementsDiffering: number;
}

export interface GemmKernelResults {
  /** The BLAS library the comparison linked (libblas.so.3 resolved), as PyTorch loads it. */
  blas: string;
  rows: GemmKernelRow[];
}

/** The system BLAS, or undefined: Debian's alternatives link, as python3-torch finds it. */
function systemBlas(): string | undefined {
  const triplet = os.arch() === 'x64' ? 'x86_64-linux-gnu' : os.arch() === 'arm64' ? 'aarch64-linux-gnu' : '';
  for (const p of [`/usr/lib/${triplet}/libblas.so.3`, '/usr/lib/libblas.so.3', '/usr/lib64/libblas.so.3']) if (existsSync(p)) return p;
  return undefined;
}

/** Builds and runs the comparison for square sizes `sizes` on `threads` threads; a string says why it could not. */
export function gemmKernelVsBlas(root: string, threads: number, sizes: readonly number[]): GemmKernelResults | string {
  const blas = systemBlas();
  if (!blas) return 'no system BLAS (libblas.so.3; Debian: libopenblas0-openmp)';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fiamma-gemm-blas-'));
  try {
    const exe = path.join(dir, 'gemm_vs_blas');
    const csrc = csrcDir();
    const cc = process.env.CC ?? 'cc';
    const built = spawnSync(cc, [...codeFlags, '-march=native', `-I${csrc}`, path.join(root, 'bench', 'c', 'gemm_vs_blas.c'), path.join(csrc, 'gemm.c'), blas, '-o', exe, '-lm'], { encoding: 'utf8', timeout: 120_000 });
    if (built.status !== 0) return `build failed: ${(built.stderr ?? built.error?.message ?? '').split('\n').slice(0, 4).join(' ')}`;
    // The BLAS as PyTorch runs it: the same threads, OpenBLAS's own kernel choice (see Peer.start).
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), GOMP_SPINCOUNT: SPINCOUNT };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const ran = spawnSync(exe, [String(threads), ...sizes.map(String)], { encoding: 'utf8', env, timeout: 300_000 });
    if (ran.status !== 0) return `run failed (${ran.status ?? ran.signal}): ${ran.stderr}`;
    // Only the program's JSON lines (a BLAS may print warnings of its own).
    const rows = ran.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as GemmKernelRow);
    if (rows.length !== sizes.length) return `expected ${sizes.length} results, got: ${ran.stdout.slice(0, 500)}`;
    return { blas: realpathSync(blas), rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
