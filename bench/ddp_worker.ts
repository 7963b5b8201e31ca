// One rank of the DDP scaling bench (bench/ddp.ts starts it with `fiamma run --mpi`): the MLP
// 784-256-256-10 in DistributedDataParallel, batch 128 of fixed random data per process, SGD;
// times steps with and without gradient synchronisation, optionally all-reduce; rank 0 prints JSON.
import { parseArgs } from 'node:util';
import * as fm from '../src/index.js';
import { ALL_REDUCE_BIG_NUMEL, RESULT_PREFIX, type PhaseMs, type WorkerResult } from './ddp.js';
import { median } from './report.js';

const { nn, optim, distributed: dist } = fm;
const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '150' },
    warmup: { type: 'string', default: '20' },
    allreduce: { type: 'boolean', default: false },
  },
});
const steps = Number(args.steps);
const warmup = Number(args.warmup);
/** Steps of one mode between barriers. */
const BLOCK = 25;

await dist.initProcessGroup({ backend: 'mpi' });
const rank = dist.getRank();
const world = dist.getWorldSize();

fm.manualSeed(0); // DDP broadcasts rank 0's weights anyway
const model = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10));
const ddp = new nn.parallel.DistributedDataParallel(model);
const opt = new optim.SGD(ddp.parameters(), { lr: 0.01 });
fm.manualSeed(1 + rank); // each rank its own batch, as a DistributedSampler would give
const x = fm.randn([128, 784]);
const y = fm.randint(0, 10, [128]);

/** Seconds of forward, backward and optimizer of one step; `sync` false runs it in noSync (no communication). */
function step(sync: boolean): [number, number, number] {
  return fm.scope(() => {
    const t0 = performance.now();
    opt.zeroGrad();
    // DDP's all-reduce of the last buckets and the copy back into .grad run at the end of backward.
    const fwdBwd = (): [fm.Tensor, number] => {
      const loss = nn.F.crossEntropy(ddp(x), y);
      const t1 = performance.now();
      loss.backward();
      return [loss, t1];
    };
    const [loss, t1] = sync ? fwdBwd() : ddp.noSync(fwdBwd);
    const t2 = performance.now();
    opt.step();
    loss.item();
    const t3 = performance.now();
    return [t1 - t0, t2 - t1, t3 - t2];
  });
}

const phases = { sync: [] as [number, number, number][], noSync: [] as [number, number, number][] };
for (let i = 0; i < warmup; i++) {
  step(true);
  step(false);
}
// Blocks of each mode in turn (ABBA), so both see the same machine. Not step by step: a no-sync
// step lets the ranks drift apart, and the next synchronised step would pay for that drift.
for (let block = 0; block * BLOCK < steps; block++) {
  for (const sync of block % 2 === 0 ? [true, false] : [false, true]) {
    dist.barrier();
    for (let i = block * BLOCK; i < Math.min(steps, (block + 1) * BLOCK); i++) phases[sync ? 'sync' : 'noSync'].push(step(sync));
  }
}

function summary(samples: [number, number, number][]): PhaseMs {
  const totals = samples.map(([f, b, o]) => f + b + o);
  return {
    stepMs: median(totals),
    meanStepMs: totals.reduce((a, b) => a + b, 0) / totals.length,
    forwardMs: median(samples.map((s) => s[0])),
    backwardMs: median(samples.map((s) => s[1])),
    optimizerMs: median(samples.map((s) => s[2])),
  };
}
const mine = { ddp: summary(phases.sync), noSync: summary(phases.noSync) };

/** Seconds of each of `iters` back-to-back all-reduces (sum) of `numel` float32 zeros (zeros stay zeros). */
function timeAllReduce(numel: number, iters: number, warm: number): number[] {
  const t = fm.zeros([numel]);
  for (let i = 0; i < warm; i++) dist.allReduce(t);
  dist.barrier();
  const samples: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    dist.allReduce(t);
    samples.push((performance.now() - t0) / 1e3);
  }
  return samples;
}
const allReduce = args.allreduce && world > 1 ? { big: timeAllReduce(ALL_REDUCE_BIG_NUMEL, 60, 10), tiny: timeAllReduce(1, 1000, 100) } : null;

// Every rank's medians, so a straggler shows.
const fields = (s: PhaseMs) => [s.stepMs, s.meanStepMs, s.forwardMs, s.backwardMs, s.optimizerMs];
const local = fm.tensor([...fields(mine.ddp), ...fields(mine.noSync)], { dtype: 'float64' });
const all = fm.zeros([world * 10], { dtype: 'float64' });
dist.allGatherIntoTensor(all, local);
const flat = all.toArray() as number[];
const unpack = (v: number[]): PhaseMs => ({ stepMs: v[0]!, meanStepMs: v[1]!, forwardMs: v[2]!, backwardMs: v[3]!, optimizerMs: v[4]! });

if (rank === 0) {
  const result: WorkerResult = {
    nproc: world,
    threads: fm.getNumThreads(),
    cpuKernels: fm.cpuKernelsInUse(),
    steps,
    warmup,
    buckets: ddp.bucketLayout().length,
    ddp: mine.ddp,
    noSync: mine.noSync,
    perRank: Array.from({ length: world }, (_, r) => ({ ddp: unpack(flat.slice(10 * r, 10 * r + 5)), noSync: unpack(flat.slice(10 * r + 5, 10 * r + 10)) })),
    allReduce: allReduce && { bigBytes: 4 * ALL_REDUCE_BIG_NUMEL, bigSec: median(allReduce.big), tinySec: median(allReduce.tiny), bigSamplesSec: allReduce.big },
  };
  console.log(RESULT_PREFIX + JSON.stringify(result));
}
dist.barrier();
dist.destroyProcessGroup();
