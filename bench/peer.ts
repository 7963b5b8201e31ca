// The PyTorch peer (a long-lived torch_peer.py child) and the contention meter that tells how
// much of the machine other processes took while each side ran.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Workload } from './workloads.js';

// --- the PyTorch peer ----------------------------------------------------------------------

/** The repository root: the working directory (npm run bench), else two levels above dist/bench. */
export function repoRoot(): string {
  const candidates = [process.cwd(), fileURLToPath(new URL('../../', import.meta.url))];
  return candidates.find((d) => existsSync(path.join(d, 'bench', 'torch_peer.py'))) ?? process.cwd();
}

/**
 * OpenMP threads spin this many rounds (a few microseconds) before sleeping, on both sides: the
 * default spins long enough that one side's idle threads take a core from the side being timed.
 */
export const SPINCOUNT = '30000';

/**
 * torch_peer.py as a long-lived child answering one request at a time, so that PyTorch's rounds
 * of a workload alternate with Fiamma's (bench/run.ts) and both see the same machine (neighbours
 * on a shared machine come and go within seconds).
 */
export class Peer {
  /** PyTorch's version and the threads it runs on, as the peer reports them. */
  torch = '';
  threads = 0;
  private stderr = '';
  private readonly lines: AsyncIterator<string>;
  /** Ends a peer that hangs on a request (re-armed by each), so that the bench fails instead of waiting forever. */
  private readonly watchdog = setTimeout(() => this.child.kill(), 150_000);

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /**
   * Starts the peer, or says why it cannot. NOTE: our machines may set OPENBLAS_CORETYPE and
   * OPENBLAS_L2_SIZE to hold OpenBLAS to AVX2; they are removed for this child only, so PyTorch
   * runs with the kernels it would pick by default. GOMP_SPINCOUNT is bounded on both sides
   * (run.ts sets it for Fiamma): idle OpenMP threads otherwise spin for long after each parallel region, and on
   * a 2-core machine the idle side's spinning threads take a core from the side being timed.
   */
  static async start(root: string, threads: number): Promise<Peer | string> {
    const python = '/usr/bin/python3';
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    env.GOMP_SPINCOUNT = SPINCOUNT;
    if (!existsSync(python)) return 'no /usr/bin/python3';
    const probe = spawnSync(python, ['-c', 'import torch'], { env, encoding: 'utf8' });
    if (probe.status !== 0) return `import torch failed: ${(probe.stderr ?? '').trim().split('\n').pop() ?? ''}`;
    const peer = new Peer(spawn(python, [path.join(root, 'bench', 'torch_peer.py')], { env }));
    let hello: { torch: string; threads: number };
    try {
      hello = (await peer.request({ threads })) as typeof hello;
    } catch (e) {
      peer.close();
      return (e as Error).message;
    }
    peer.torch = hello.torch;
    peer.threads = hello.threads;
    return peer;
  }

  /** The peer's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * Seconds per op of each of `batches` timed batches of `w`, measured by PyTorch after `warmup`
   * untimed ones. The peer keeps the workload it last set up, so later rounds of the same
   * workload time the same tensors.
   */
  async time(w: Workload, batches = w.batches, warmup = w.warmup): Promise<number[]> {
    const { key, size, batch } = w;
    return ((await this.request({ key, size, batch, batches, warmup })) as { samples: number[] }).samples;
  }

  close(): void {
    clearTimeout(this.watchdog);
    this.child.stdin.end();
  }

  private async request(message: object): Promise<unknown> {
    this.watchdog.refresh();
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error(`torch_peer.py exited (status ${this.child.exitCode}): ${this.stderr.trim().slice(-2000)}`);
    return JSON.parse(line.value);
  }
}

// --- contention ----------------------------------------------------------------------------

/** Clock ticks the machine spent busy (steal included) and in total, and those the bench's own processes used. */
interface CpuSample {
  busy: number;
  total: number;
  mine: number;
}

/** Clock ticks a process used (all its threads), from /proc/<pid>/stat: utime and stime, fields 14 and 15. */
function processTicks(pid: number | 'self'): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name start at field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return f[11]! + f[12]!;
}

/** Clock ticks the whole machine spent busy (steal included) and in total, from /proc/stat (Linux only: throws elsewhere). */
export function machineTicks(): { busy: number; total: number } {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, total: busy + idle! + iowait! };
}

/** Reads /proc (Linux) for this process and the running peer `pids`; null elsewhere. */
function cpuSample(pids: readonly number[]): CpuSample | null {
  try {
    return { ...machineTicks(), mine: pids.reduce((t, pid) => t + processTicks(pid), processTicks('self')) };
  } catch {
    return null;
  }
}

/** CPU time summed over the stretches one side was measuring. */
export class CpuMeter {
  private busy = 0;
  private total = 0;
  private mine = 0;
  private ok = true;

  constructor(private readonly pids: readonly number[]) {}

  /** Runs `f` and adds the stretch to the meter. */
  async measure<T>(f: () => T | Promise<T>): Promise<T> {
    const a = cpuSample(this.pids);
    const result = await f();
    const b = cpuSample(this.pids);
    if (a === null || b === null) this.ok = false;
    else {
      this.busy += b.busy - a.busy;
      this.total += b.total - a.total;
      this.mine += b.mine - a.mine;
    }
    return result;
  }

  /**
   * The share of the machine's CPU time that other processes (and the hypervisor) took: load
   * from other tenants shares this machine's cores and skews every figure.
   */
  othersShare(): number | null {
    return this.ok && this.total > 0 ? Math.max(0, (this.busy - this.mine) / this.total) : null;
  }
}

