// Runs a worker script under mpirun for the distributed tests, and the skip reason where Open MPI is missing.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** Why MPI tests skip on this machine (undefined when mpirun and libmpi are there). */
export const mpiSkip: string | undefined = spawnSync('mpirun', ['--version']).status === 0 ? undefined : 'Open MPI (mpirun) is not installed: apt-get install openmpi-bin libopenmpi-dev';

/** mpirun's flags for a test: more ranks than cores, and root (CI containers). */
export function mpirunFlags(np: number): string[] {
  return ['-np', String(np), '--oversubscribe', ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []), '--mca', 'btl', 'self,vader,tcp'];
}

/** Runs dist/test/distributed/<worker>.js on `np` ranks with FIAMMA_TEST_WORKER=mode; returns status, output and seconds. */
export function mpirun(np: number, worker: string, mode: string, timeoutMs = 120_000, extraEnv: Record<string, string> = {}): { status: number | null; out: string; seconds: number } {
  const script = path.join(process.cwd(), 'dist', 'test', 'distributed', `${worker}.js`);
  const t0 = Date.now();
  const r = spawnSync('mpirun', [...mpirunFlags(np), process.execPath, script], {
    env: { ...process.env, ...extraEnv, FIAMMA_TEST_WORKER: mode },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - t0) / 1000 };
}
