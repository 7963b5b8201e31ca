// DDP weak scaling on this machine: the MLP in Fiamma's DistributedDataParallel on the mpi backend
// (1 and 2 processes under mpirun, bench/ddp_worker.ts) beside PyTorch's DDP on gloo
// (bench/torch_ddp_peer.py), plus 2-rank all-reduce; writes the scaling model's --measured JSON.
//   node dist/bench/ddp.js        (also the last part of `npm run bench`)
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SPINCOUNT, machineTicks, repoRoot } from './peer.js';
import { measuredReport, mlpParams, type Measured } from './scaling_model.js';
import { localDate, table } from './report.js';

/** The line prefix of a worker's (either framework's) JSON result. */
export const RESULT_PREFIX = 'DDP_WORKER_RESULT ';
/** Elements of the large all-reduce: 4 MiB of float32. */
export const ALL_REDUCE_BIG_NUMEL = 1 << 20;
const STEPS = 300;
const WARMUP = 30;
const JOB_TIMEOUT_MS = 120_000;
/** How long a job may take to exit after rank 0 printed its result. */
const JOB_EXIT_GRACE_MS = 15_000;

/** Median milliseconds of a step and of its phases (each phase's own median). */
export interface PhaseMs {
  stepMs: number;
  /** The mean step: what throughput sees, tails included. */
  meanStepMs: number;
  forwardMs: number;
  backwardMs: number;
  optimizerMs: number;
}

/** What a worker's rank 0 prints (Fiamma's and PyTorch's alike). */
export interface WorkerResult {
  nproc: number;
  threads: number;
  steps: number;
  warmup: number;
  /** Gradient buckets of the DDP module (Fiamma; null for PyTorch, which does not expose them). */
  buckets: number | null;
  /** Synchronised steps: forward, backward with the gradient all-reduce, SGD step. */
  ddp: PhaseMs;
  /** The same steps in noSync / no_sync: no communication, the compute alone. */
  noSync: PhaseMs;
  perRank: { ddp: PhaseMs; noSync: PhaseMs }[];
  /** 2-rank all-reduce (sum) of 4 MiB and of one float32; null unless asked for and nproc > 1. */
  allReduce: { bigBytes: number; bigSec: number; tinySec: number; bigSamplesSec: number[] } | null;
  cpuKernels?: string;
  torch?: string;
}

/** One configuration (processes x threads each) in both frameworks. */
export interface DdpConfigResult {
  label: string;
  nproc: number;
  threads: number;
  fiamma: WorkerResult | null;
  pytorch: WorkerResult | null;
  /** Why a side has no result. */
  errors: { fiamma?: string; pytorch?: string };
  /** PyTorch ms/step / Fiamma ms/step: > 1 means Fiamma is faster. */
  speedRatio: number | null;
  /** The share of the machine's CPU time other processes took while each side ran. */
  othersCpuShare: { fiamma: number | null; pytorch: number | null };
}

/** What ddpBench returns (and run.ts stores under `ddp`). */
export interface DdpResults {
  model: string;
  convention: string;
  pytorchStatus: string;
  configs: DdpConfigResult[];
  /** step(1 process x 1 thread) / step(2 processes x 1 thread). */
  weakScalingEfficiency: { fiamma: number | null; pytorch: number | null };
  /** 2-rank all-reduce: bytes / time of 4 MiB, and half the time of one element (the ring model's alpha). */
  allReduce: { fiamma: AllReduceFigures | null; pytorch: AllReduceFigures | null };
  measured: Measured | null;
  measuredFile: string | null;
  modelReport: string[];
}

/** A 2-rank all-reduce as the scaling model reads it. */
export interface AllReduceFigures {
  bytesPerSec: number;
  latencySec: number;
  bigSec: number;
  tinySec: number;
}

/** The q-quantile of `xs` (nearest rank). */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((p, r) => p - r);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Why the DDP bench cannot run here, or null: it needs mpirun (Open MPI) on PATH. */
export function whyNoDdp(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    try {
      if (dir !== '') {
        accessSync(path.join(dir, 'mpirun'), constants.X_OK);
        return null;
      }
    } catch {
      // not in this folder
    }
  }
  return 'mpirun (Open MPI) not found on PATH; install openmpi-bin to measure DDP scaling';
}

// --- running one job ---------------------------------------------------------------------------

/** Clock ticks the machine spent busy and in total, and those this process and its reaped children used. */
function ticks(): { busy: number; total: number; mine: number } | null {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields 14-17 (utime, stime, cutime, cstime); the launched ranks are reaped children (of mpirun, of python).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return { ...machineTicks(), mine: f[11]! + f[12]! + f[13]! + f[14]! };
  } catch {
    return null;
  }
}

/** Runs a job to its end; its rank 0's result, or why there is none, and the CPU share others took meanwhile. */
function runJob(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ result: WorkerResult | null; error?: string; othersShare: number | null }> {
  return new Promise((resolve) => {
    const before = ticks();
    // Its own process group, so that a timeout stops the ranks it started too (a hung gloo rank
    // once kept the pipes open and the bench waiting).
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const kill = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const resultLine = (): string | undefined => out.split('\n').slice(0, -1).find((l) => l.startsWith(RESULT_PREFIX));
    let grace: NodeJS.Timeout | undefined;
    const onData = (d: string): void => {
      out += d;
      // Once rank 0 has printed its result, the job gets a short while to exit: a gloo rank once
      // hung in its teardown after the measurement was done.
      if (!grace && resultLine()) grace = setTimeout(kill, JOB_EXIT_GRACE_MS);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const timer = setTimeout(kill, JOB_TIMEOUT_MS);
    const done = (why: string | null): void => {
      clearTimeout(timer);
      clearTimeout(grace);
      const after = ticks();
      const othersShare = before && after && after.total > before.total
        ? Math.max(0, (after.busy - before.busy - (after.mine - before.mine)) / (after.total - before.total)) : null;
      const line = resultLine();
      if (line) {
        const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as WorkerResult;
        if (why !== null) console.log(`${path.basename(cmd)}: the job printed its result, then ${why} (killed ${JOB_EXIT_GRACE_MS / 1000} s later); the result is kept`);
        resolve({ result, othersShare });
      } else resolve({ result: null, error: `${why ?? 'no result line'}: ${out.trim().slice(-1500)}`, othersShare });
    };
    child.on('error', (e) => done(`could not start ${cmd}: ${e.message}`));
    child.on('close', (code, signal) => done(code === 0 ? null : `${path.basename(cmd)} exited with ${signal ?? code}`));
  });
}

/** PyTorch's environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed, as for bench/peer.ts's peer. */
function torchEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GOMP_SPINCOUNT: SPINCOUNT, OMP_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Whether PyTorch with torch.distributed's gloo can run here, or why not. */
function torchStatus(): string {
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return 'no /usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch, torch.distributed as d; assert d.is_gloo_available(), "no gloo"; print(torch.__version__)'], { env: torchEnv(1), encoding: 'utf8' });
  return probe.status === 0 ? 'ok' : `import torch failed: ${(probe.stderr ?? '').trim().split('\n').pop() ?? ''}`;
}

// --- the bench ---------------------------------------------------------------------------------

const CONFIGS = [
  { label: '1 process x 1 thread', nproc: 1, threads: 1 },
  { label: '2 processes x 1 thread', nproc: 2, threads: 1 },
  { label: '1 process x 2 threads (ref)', nproc: 1, threads: 2 },
] as const;

function fmt(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined) return 'n/a';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(digits);
}
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : `${(100 * v).toFixed(0)}%`);

function allReduceFigures(r: WorkerResult | null): AllReduceFigures | null {
  const a = r?.allReduce;
  // For 2 ranks the ring moves the whole buffer once: bus bandwidth = bytes / time; alpha = half a tiny all-reduce.
  return a ? { bytesPerSec: a.bigBytes / a.bigSec, latencySec: a.tinySec / 2, bigSec: a.bigSec, tinySec: a.tinySec } : null;
}

/**
 * Runs Fiamma (mpi) and PyTorch (gloo) DDP on 1 and 2 processes of one thread, and 1 process of
 * two threads for reference; prints the table and the scaling model's prediction beside the
 * measurement, writes bench/results/<date>-<host>-ddp-measured.json, and returns the figures.
 * Example: `const r = await ddpBench(repoRoot()); r.weakScalingEfficiency.fiamma`.
 */
export async function ddpBench(root: string): Promise<DdpResults> {
  const started = new Date();
  const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));
  const worker = fileURLToPath(new URL('./ddp_worker.js', import.meta.url));
  const peer = path.join(root, 'bench', 'torch_ddp_peer.py');
  const pytorchStatus = torchStatus();
  const common = ['--steps', String(STEPS), '--warmup', String(WARMUP)];
  console.log(`\nDDP weak scaling (MLP 784-256-256-10, batch 128 per process, SGD): Fiamma on Open MPI vs PyTorch on gloo${pytorchStatus === 'ok' ? '' : ` (PyTorch: ${pytorchStatus})`}`);

  const configs: DdpConfigResult[] = [];
  for (const c of CONFIGS) {
    const extra = c.nproc > 1 ? ['--allreduce'] : [];
    // Each pair runs back to back, so that both see the same neighbours on a shared machine.
    const env = { ...process.env, OMP_NUM_THREADS: String(c.threads), GOMP_SPINCOUNT: SPINCOUNT };
    const f = await runJob(process.execPath, [cli, 'run', '--mpi', '--nproc-per-node', String(c.nproc), worker, ...common, ...extra], env);
    const t = pytorchStatus === 'ok'
      ? await runJob('/usr/bin/python3', [peer, '--nproc', String(c.nproc), '--threads', String(c.threads), ...common, ...extra], torchEnv(c.threads))
      : { result: null, error: pytorchStatus, othersShare: null };
    const speedRatio = f.result && t.result ? t.result.ddp.stepMs / f.result.ddp.stepMs : null;
    process.stderr.write(`ddp ${c.label}: Fiamma ${fmt(f.result?.ddp.stepMs)} ms, PyTorch ${fmt(t.result?.ddp.stepMs)} ms\n`);
    if (f.error) console.log(`Fiamma ${c.label} failed: ${f.error}`);
    if (t.error && pytorchStatus === 'ok') console.log(`PyTorch ${c.label} failed: ${t.error}`);
    configs.push({
      label: c.label, nproc: c.nproc, threads: c.threads, fiamma: f.result, pytorch: t.result,
      errors: { ...(f.error ? { fiamma: f.error } : {}), ...(t.error ? { pytorch: t.error } : {}) },
      speedRatio, othersCpuShare: { fiamma: f.othersShare, pytorch: t.othersShare },
    });
  }

  const [one, two] = configs;
  const eff = (side: 'fiamma' | 'pytorch'): number | null => {
    const a = one![side];
    const b = two![side];
    return a && b ? a.ddp.stepMs / b.ddp.stepMs : null;
  };
  const weakScalingEfficiency = { fiamma: eff('fiamma'), pytorch: eff('pytorch') };
  const allReduce = { fiamma: allReduceFigures(two!.fiamma), pytorch: allReduceFigures(two!.pytorch) };

  const rows = [['configuration', 'Fiamma ms/step', 'PyTorch ms/step', 'vs PyTorch', 'Fiamma no-sync', 'PyTorch no-sync', 'others CPU F/P']];
  for (const c of configs) {
    rows.push([c.label, fmt(c.fiamma?.ddp.stepMs), fmt(c.pytorch?.ddp.stepMs), c.speedRatio === null ? '' : `${fmt(c.speedRatio)}x`,
      fmt(c.fiamma?.noSync.stepMs), fmt(c.pytorch?.noSync.stepMs), `${pct(c.othersCpuShare.fiamma)} / ${pct(c.othersCpuShare.pytorch)}`]);
  }
  const noSyncEff = (side: 'fiamma' | 'pytorch'): string => {
    const a = one![side];
    const b = two![side];
    return a && b ? pct(a.noSync.stepMs / b.noSync.stepMs) : 'n/a';
  };
  rows.push(['weak-scaling efficiency 1p/2p', pct(weakScalingEfficiency.fiamma), pct(weakScalingEfficiency.pytorch), '', noSyncEff('fiamma'), noSyncEff('pytorch'), '']);
  console.log('ms/step: median of synchronised DDP steps (forward, backward with the gradient all-reduce, SGD); no-sync: the same steps');
  console.log(`in noSync (compute alone); vs PyTorch = PyTorch time / Fiamma time (>1: Fiamma faster); ${STEPS} steps each after ${WARMUP} warm-up\n`);
  console.log(table(rows));

  const arRows = [['2-rank all-reduce', 'Fiamma (mpi)', 'PyTorch (gloo)', 'vs PyTorch']];
  const ratio = (p: number | undefined, q: number | undefined): string => (p !== undefined && q !== undefined ? `${fmt(p / q)}x` : '');
  const af = allReduce.fiamma;
  const ap = allReduce.pytorch;
  arRows.push([`${ALL_REDUCE_BIG_NUMEL * 4 / 2 ** 20} MiB float32, ms`, fmt(af && af.bigSec * 1e3), fmt(ap && ap.bigSec * 1e3), ratio(ap?.bigSec, af?.bigSec)]);
  const spread = (a: WorkerResult | null): string => {
    const xs = a?.allReduce?.bigSamplesSec;
    return xs ? `${fmt(quantile(xs, 0.1) * 1e3)} / ${fmt(quantile(xs, 0.9) * 1e3)}` : 'n/a';
  };
  arRows.push(['  p10 / p90, ms', spread(two!.fiamma), spread(two!.pytorch), '']);
  arRows.push(['  bandwidth, GB/s (bytes / time)', fmt(af && af.bytesPerSec / 1e9), fmt(ap && ap.bytesPerSec / 1e9), ratio(af?.bytesPerSec, ap?.bytesPerSec)]);
  arRows.push(['1 float32, us', fmt(af && af.tinySec * 1e6), fmt(ap && ap.tinySec * 1e6), ratio(ap?.tinySec, af?.tinySec)]);
  arRows.push(['  latency alpha = half, us', fmt(af && af.latencySec * 1e6), fmt(ap && ap.latencySec * 1e6), '']);
  console.log(`\n${table(arRows)}`);

  // Where a 2-process step's extra time goes: communication (sync - no-sync) vs slower compute (no-sync 2p - no-sync 1p).
  for (const side of ['fiamma', 'pytorch'] as const) {
    const a = one![side];
    const b = two![side];
    if (!a || !b) continue;
    const name = side === 'fiamma' ? 'Fiamma' : 'PyTorch';
    console.log(`${name}, 2 processes: step ${fmt(b.ddp.stepMs)} ms = no-sync ${fmt(b.noSync.stepMs)} ms (1 process: ${fmt(a.noSync.stepMs)}) + synchronisation ${fmt(b.ddp.stepMs - b.noSync.stepMs)} ms` +
      ` (backward ${fmt(b.ddp.backwardMs)} vs ${fmt(b.noSync.backwardMs)} ms no-sync; 1 process pays ${fmt(a.ddp.stepMs - a.noSync.stepMs)} ms${b.buckets ? `; ${b.buckets} buckets` : ''});` +
      ` mean steps ${fmt(a.ddp.meanStepMs)} -> ${fmt(b.ddp.meanStepMs)} ms, efficiency ${pct(a.ddp.meanStepMs / b.ddp.meanStepMs)} by means`);
  }
  const busy = configs.some((c) => Math.max(c.othersCpuShare.fiamma ?? 0, c.othersCpuShare.pytorch ?? 0) > 0.1);
  if (busy) console.log('WARNING: other processes took over 10% of the CPU during some runs (see "others CPU"); the figures are skewed, rerun on a quiet machine');

  let measured: Measured | null = null;
  let measuredFile: string | null = null;
  let modelReport: string[] = [];
  if (one!.fiamma && two!.fiamma && af) {
    measured = {
      mlpStepMs1: one!.fiamma.ddp.stepMs,
      mlpStepMs2: two!.fiamma.ddp.stepMs,
      allReduceBytesPerSec: af.bytesPerSec,
      allReduceLatencySec: af.latencySec,
      paramBytes: mlpParams() * 4,
    };
    const dir = path.join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    measuredFile = path.join(dir, `${localDate(started)}-${os.hostname()}-ddp-measured.json`);
    writeFileSync(measuredFile, `${JSON.stringify(measured, null, 2)}\n`);
    modelReport = measuredReport(measured);
    console.log(`\n${modelReport.join('\n')}`);
    console.log(`wrote ${path.relative(process.cwd(), measuredFile)} (node dist/bench/scaling_model.js --measured ${path.relative(process.cwd(), measuredFile)})`);
  }
  return {
    model: 'MLP 784-256-256-10 (nn.Linear, ReLU), batch 128 per process, cross-entropy, SGD lr 0.01, DDP (Fiamma: mpi backend under mpirun; PyTorch: gloo)',
    convention: 'speedRatio = PyTorch ms/step / Fiamma ms/step (> 1: Fiamma faster); weakScalingEfficiency = step(1 process) / step(2 processes), 1 thread each',
    pytorchStatus, configs, weakScalingEfficiency, allReduce, measured, measuredFile, modelReport,
  };
}

// Run as a script (node dist/bench/ddp.js); importing the module (run.ts, the worker) runs nothing.
const entry = process.argv[1];
if (entry !== undefined && existsSync(entry) && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  const why = whyNoDdp();
  if (why) console.log(`DDP bench skipped: ${why}`);
  else await ddpBench(repoRoot());
}
