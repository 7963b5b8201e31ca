// The benchmark driver (`npm run bench`): times per-op overhead and a few representative ops on
// the cpu device, runs the same workloads in PyTorch (bench/torch_peer.py), prints both with the
// speed ratio, and writes bench/results/<date>-<host>.json and bench/results/latest.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { N4M, workloads, type Timing, type Workload } from './workloads.js';
import { CpuMeter, Peer, SPINCOUNT, repoRoot } from './peer.js';
import { startTfjs, tfjsWorkload } from './tfjs_peer.js';
import { cpuKernelsInUse, getNumThreads } from '../src/index.js';
import { ddpBench, whyNoDdp, type DdpResults } from './ddp.js';
import { gemmKernelVsBlas } from './gemm_kernel.js';
import { localDate, median, table } from './report.js';

// --- timing --------------------------------------------------------------------------------

/**
 * Each workload is timed in rounds that alternate between Fiamma and PyTorch (ours, theirs, ours,
 * ...), each round a share of the batches after one untimed batch, and each side's figure is the
 * median of all its samples: on this shared machine the load drifts within seconds, and timing
 * one side's batches all before the other's let one side take a quiet stretch and the other a
 * busy one (the same MLP step read 0.95x in one run and 1.25x in the next).
 */
const ROUNDS = 3;

/** Sets `w` up and warms it; the returned function times `batches` batches (seconds per op, each). */
function timer(w: Workload): (batches: number) => number[] {
  const run = w.setup();
  for (let i = 0; i < w.warmup; i++) run(w.batch);
  return (batches) => {
    const samples: number[] = [];
    for (let i = 0; i < batches; i++) {
      const t0 = process.hrtime.bigint();
      run(w.batch);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e9 / w.batch);
    }
    return samples;
  };
}

function time(w: Workload): Timing {
  const samples = timer(w)(w.batches);
  return { secondsPerOp: median(samples), samples };
}

/** The figure in the workload's unit. */
function figure(w: Workload, secondsPerOp: number): number {
  switch (w.unit) {
    case 'us/op': return secondsPerOp * 1e6;
    case 'ms/op': return secondsPerOp * 1e3;
    case 'GB/s':
    case 'GFLOP/s': return w.work! / secondsPerOp / 1e9;
  }
}

// --- output --------------------------------------------------------------------------------

function fmt(v: number | null): string {
  if (v === null) return '';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** The DDP scaling bench (bench/ddp.ts), or why it did not run; a failure there does not lose the figures above. */
async function runDdp(root: string): Promise<DdpResults | { skipped: string } | { error: string }> {
  const why = whyNoDdp();
  if (why !== null) {
    console.log(`\nDDP scaling: skipped (${why})`);
    return { skipped: why };
  }
  try {
    return await ddpBench(root);
  } catch (e) {
    console.log(`\nDDP scaling failed: ${(e as Error).message}`);
    return { error: (e as Error).message };
  }
}

async function main(): Promise<void> {
  // Read by libgomp when the kernels load (on the first op): see Peer.start for why.
  process.env.GOMP_SPINCOUNT = SPINCOUNT;
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const selected = only ? workloads.filter((w) => only.includes(w.key)) : workloads;
  const cores = os.cpus().length;
  const root = repoRoot();
  const started = new Date();
  // A partial run (for profiling) times Fiamma only, or beside PyTorch with --peer, and writes nothing.
  const peer = only && !process.argv.includes('--peer') ? 'skipped by --only' : await Peer.start(root, cores);
  const peerOk = typeof peer !== 'string';
  if (!peerOk) console.log(`PyTorch: not available (${peer})`);

  // The peer's own threads (idle or spinning down) count as the bench's, not as other load.
  const pids = peerOk && peer.pid !== undefined ? [peer.pid] : [];
  const meters = { fiamma: new CpuMeter(pids), pytorch: new CpuMeter(pids) };
  const rows: string[][] = [['workload', 'unit', 'Fiamma', 'PyTorch', 'vs PyTorch', 'TF.js wasm', 'vs TF.js']];
  const results: Record<string, unknown> = {};
  const ours = new Map<string, number>();
  const theirs = new Map<string, number>();
  const timed: { w: Workload; mine: Timing; their: number[] | null }[] = [];
  try {
    for (const w of selected) {
      const withPeer = typeof peer !== 'string' && !w.noPeer ? peer : null;
      const perRound = withPeer !== null ? Math.ceil(w.batches / ROUNDS) : w.batches;
      const ourBatches = await meters.fiamma.measure(() => timer(w));
      const mine: number[] = [];
      const their: number[] | null = withPeer !== null ? [] : null;
      for (let r = 0; r < (withPeer !== null ? ROUNDS : 1); r++) {
        // After the first round, one untimed batch on each side brings its data back into the caches.
        mine.push(...(await meters.fiamma.measure(() => ourBatches(r === 0 ? perRound : perRound + 1).slice(r === 0 ? 0 : 1))));
        if (withPeer !== null) their!.push(...(await meters.pytorch.measure(() => withPeer.time(w, perRound, r === 0 ? w.warmup : 1))));
      }
      timed.push({ w, mine: { secondsPerOp: median(mine), samples: mine }, their });
    }
  } finally {
    if (peerOk) peer.close();
  }
  // TF.js runs in this process, after Fiamma's timings: loaded earlier, its heap made every garbage
  // collection dearer and Fiamma's small ops measured 3-4x slower (tiny add 1.1 vs 0.3 us).
  const tfjs = only ? 'skipped by --only' : await startTfjs();
  const tfjsOk = typeof tfjs !== 'string';
  if (!tfjsOk) console.log(`TensorFlow.js: not available (${tfjs})`);
  {
    for (const { w, mine, their } of timed) {
      // The same batches; a string says why TF.js cannot run this one.
      const tfRun = tfjsOk ? tfjsWorkload(tfjs.tf, w.key, w.size) : undefined;
      const tf = typeof tfRun === 'function' ? time({ ...w, setup: () => tfRun }) : null;
      const tfRatio = tf === null ? null : tf.secondsPerOp / mine.secondsPerOp;
      const tv = tf === null ? null : figure(w, tf.secondsPerOp);
      const theirSec = their === null ? null : median(their);
      ours.set(w.key, mine.secondsPerOp);
      if (theirSec !== null) theirs.set(w.key, theirSec);
      // Fiamma speed / PyTorch speed: the same for times and rates, since both count the same work.
      const ratio = theirSec === null ? null : theirSec / mine.secondsPerOp;
      const fv = figure(w, mine.secondsPerOp);
      const pv = theirSec === null ? null : figure(w, theirSec);
      process.stderr.write(`${w.key}: Fiamma ${fmt(fv)}, PyTorch ${fmt(pv)}, TF.js ${typeof tfRun === 'string' ? 'n/a' : fmt(tv)} ${w.unit}\n`);
      rows.push([w.label, w.unit, fmt(fv), fmt(pv), ratio === null ? '' : `${fmt(ratio)}x`, typeof tfRun === 'string' ? 'n/a' : fmt(tv), tfRatio === null ? '' : `${fmt(tfRatio)}x`]);
      results[w.key] = {
        label: w.label, unit: w.unit, ...(w.reference ? { reference: true } : {}),
        size: w.size, batch: w.batch, batches: mine.samples.length, warmup: w.warmup,
        fiamma: { value: fv, secondsPerOp: mine.secondsPerOp, samplesSecondsPerOp: mine.samples },
        pytorch: theirSec === null ? null : { value: pv, secondsPerOp: theirSec, samplesSecondsPerOp: their },
        speedRatio: ratio,
        tfjsWasm: typeof tfRun === 'string' ? { unsupported: tfRun } : tf === null ? null : { value: tv, secondsPerOp: tf.secondsPerOp, samplesSecondsPerOp: tf.samples },
        speedRatioVsTfjs: tfRatio,
      };
    }
  }
  if (only) {
    // `--only=ddp` runs the DDP scaling bench alone (it writes its measured JSON, nothing else).
    if (only.includes('ddp')) await runDdp(root);
    return;
  }
  const contention = { fiamma: meters.fiamma.othersShare(), pytorch: peerOk ? meters.pytorch.othersShare() : null };

  // How close add gets to what the memory system does for a plain copy on this machine.
  const addRate = (t: number | null): number | null => (t === null ? null : (3 * 4 * N4M) / t / 1e9);
  const copyJs = (2 * 4 * N4M) / ours.get('copy_4m')! / 1e9;
  const torchAdd = addRate(theirs.get('add_4m') ?? null);
  const derived = {
    jsCopyGBs: copyJs,
    addFractionOfJsCopyBandwidth: { fiamma: addRate(ours.get('add_4m')!)! / copyJs, pytorch: torchAdd === null ? null : torchAdd / copyJs },
  };

  const machine = {
    hostname: os.hostname(), cpu: os.cpus()[0]?.model ?? 'unknown', cores, platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version, pytorch: peerOk ? peer.torch : null, pytorchThreads: peerOk ? peer.threads : null,
    tfjs: tfjsOk ? `${tfjs.version} (wasm backend)` : null, gompSpincount: `${SPINCOUNT} (both sides)`, fiammaCpuKernels: cpuKernelsInUse(), fiammaThreads: getNumThreads(),
    otherProcessesCpuShare: contention,
  };
  const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

  console.log(`\nFiamma ${version} (cpu, ${machine.fiammaCpuKernels} kernels, ${machine.fiammaThreads} threads) vs PyTorch ${machine.pytorch ?? 'n/a'} and TF.js ${machine.tfjs ?? 'n/a'} on ${machine.cpu}, ${cores} cores, Node ${machine.node}`);
  const pct = (v: number | null): string => (v === null ? 'n/a' : `${(100 * v).toFixed(0)}%`);
  const busy = Math.max(contention.fiamma ?? 0, contention.pytorch ?? 0) > 0.1;
  console.log(`other processes took ${pct(contention.fiamma)} of the machine's CPU time during the Fiamma runs, ${pct(contention.pytorch)} during PyTorch's` +
    (busy ? ' (WARNING: above 10%, the figures are skewed; rerun on a quiet machine)' : ''));
  console.log('vs X = Fiamma speed / X speed (>1 means Fiamma is faster); figures are medians of timed batches; ref rows measure the machine\n');
  console.log(table(rows));
  console.log(`\nadd 4M reaches ${(100 * derived.addFractionOfJsCopyBandwidth.fiamma).toFixed(0)}% of this machine's JS copy bandwidth (${fmt(copyJs)} GB/s)` +
    (derived.addFractionOfJsCopyBandwidth.pytorch === null ? '' : `; PyTorch's add reaches ${(100 * derived.addFractionOfJsCopyBandwidth.pytorch).toFixed(0)}%`));

  const gemmKernel = gemmKernelVsBlas(root, getNumThreads(), [256, 1024, 2048]);
  if (typeof gemmKernel === 'string') console.log(`\nGEMM kernels vs the system BLAS: skipped (${gemmKernel})`);
  else {
    console.log(`\nGEMM kernels in one C process, taking turns (${gemmKernel.rows[0]?.rounds} rounds): Fiamma's gemm.c vs sgemm of ${gemmKernel.blas}, ${getNumThreads()} threads, GFLOP/s`);
    console.log(table([['n', 'Fiamma median', 'BLAS median', 'vs BLAS', 'Fiamma best', 'BLAS best', 'results'],
      ...gemmKernel.rows.map((r) => [String(r.n), fmt(r.fiammaGflops.median), fmt(r.blasGflops.median), `${fmt(r.fiammaGflops.median / r.blasGflops.median)}x`,
        fmt(r.fiammaGflops.best), fmt(r.blasGflops.best), r.elementsDiffering === 0 ? 'equal' : `${r.elementsDiffering} differ`])]));
  }

  const ddp = await runDdp(root);

  const out = {
    date: localDate(started), startedAt: started.toISOString(), fiamma: version, machine,
    convention: 'speedRatio = Fiamma speed / PyTorch speed = PyTorch seconds per op / Fiamma seconds per op; > 1 means Fiamma is faster',
    peerStatus: peerOk ? 'ok' : `not available: ${peer}`,
    tfjsStatus: tfjsOk ? 'ok' : `not available: ${tfjs}`,
    workloads: results, derived, gemmKernelVsBlas: typeof gemmKernel === 'string' ? { skipped: gemmKernel } : gemmKernel, ddp,
  };
  const dir = path.join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(out, null, 2)}\n`;
  const file = path.join(dir, `${out.date}-${machine.hostname}.json`);
  writeFileSync(file, text);
  writeFileSync(path.join(dir, 'latest.json'), text);
  console.log(`\nwrote ${path.relative(process.cwd(), file)} and bench/results/latest.json`);
}

await main();
