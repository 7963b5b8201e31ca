// The GPU benchmark: each workload timed in Fiamma, then in PyTorch (bench/torch_cuda_peer.py,
// run by this script on the same GPU right after), with the ratio. Writes JSON to the path given
// as the first argument (default bench/results/cuda-latest.json). Run by `npm run check:cuda`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fm from '../src/index.js';
import { gptStep, resnet18Step } from './gpu_models.js';

/** Mean seconds per call of fn over `iters` calls after `warm` calls, the GPU drained at both ends. */
function time(fn: () => void, iters: number, warm = 3): number {
  for (let i = 0; i < warm; i++) fn();
  fm.cuda.synchronize();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) fn();
  fm.cuda.synchronize();
  return Number(process.hrtime.bigint() - t0) / 1e9 / iters;
}

const dev = 'cuda';
const run = (f: () => fm.Tensor) => () => f().dispose();

function mlp(scoped = true, autocast = false): () => void {
  const g = new fm.Generator().manualSeed(0);
  const sizes = [784, 256, 256, 10];
  const params: fm.Tensor[] = [];
  for (let i = 0; i < 3; i++) {
    params.push(fm.randn([sizes[i]!, sizes[i + 1]!], { generator: g }).mul(0.05).to(dev).requiresGrad_());
    params.push(fm.zeros([sizes[i + 1]!], { device: dev }).requiresGrad_());
  }
  const x = fm.randn([128, 784], { generator: g }).to(dev);
  const t = fm.randint(0, 10, [128, 1], { generator: g }).to(dev);
  const forward = () => {
    let h = x;
    for (let i = 0; i < 3; i++) {
      h = h.matmul(params[2 * i]!).add(params[2 * i + 1]!);
      if (i < 2) h = h.relu();
    }
    return h.logSoftmax(1).gather(1, t).mean().neg();
  };
  const step = () => {
    (autocast ? fm.autocast({ deviceType: 'cuda', dtype: 'bfloat16' }, forward) : forward()).backward();
    fm.noGrad(() => {
      for (const p of params) {
        p.sub_(p.grad!.mul(0.01));
        p.grad = null;
      }
    });
  };
  return scoped ? () => fm.scope(step) : step;
}

/**
 * Device memory of a plain loop that disposes nothing and yields to the event loop each step (as
 * `for await` over a DataLoader does): the garbage collector's finalizers return the memory.
 */
async function memoryFlatness(steps: number): Promise<Record<string, number>> {
  const step = mlp(false);
  const seen: Record<string, number> = {};
  for (let i = 1; i <= steps; i++) {
    step();
    await new Promise((r) => setImmediate(r));
    if (i === 100 || i === steps / 2 || i === steps) seen[`MiB allocated after step ${i}`] = fm.cuda.memoryAllocated() / 2 ** 20;
  }
  seen['MiB peak'] = fm.cuda.maxMemoryAllocated() / 2 ** 20;
  return seen;
}

interface Row { name: string; unit: string; fiamma: number; pytorch?: number; ratio?: number; note?: string }

const workloads: { name: string; unit: string; iters: number; make: () => () => void; value: (s: number) => number }[] = [
  { name: 'tiny add (1 element), time per op', unit: 'us', iters: 20000, make: () => { const a = fm.ones([1], { device: dev }); const b = fm.ones([1], { device: dev }); return run(() => a.add(b)); }, value: (s) => s * 1e6 },
  { name: 'add 64M float32', unit: 'GB/s', iters: 50, make: () => { const a = fm.ones([64 << 20], { device: dev }); const b = fm.ones([64 << 20], { device: dev }); return run(() => a.add(b)); }, value: (s) => (3 * 4 * (64 << 20)) / s / 1e9 },
  { name: 'exp 64M float32', unit: 'GB/s', iters: 50, make: () => { const a = fm.ones([64 << 20], { device: dev }); return run(() => a.exp()); }, value: (s) => (2 * 4 * (64 << 20)) / s / 1e9 },
  { name: 'sum 64M float32', unit: 'GB/s', iters: 50, make: () => { const a = fm.ones([64 << 20], { device: dev }); return run(() => a.sum()); }, value: (s) => (4 * (64 << 20)) / s / 1e9 },
  { name: 'softmax 4096x4096 (dim 1)', unit: 'ms', iters: 50, make: () => { const a = fm.randn([4096, 4096]).to(dev); return run(() => a.softmax(1)); }, value: (s) => s * 1e3 },
  { name: 'fp32 GEMM 4096', unit: 'TFLOP/s', iters: 20, make: () => { const a = fm.randn([4096, 4096]).to(dev); return run(() => a.matmul(a)); }, value: (s) => (2 * 4096 ** 3) / s / 1e12 },
  { name: 'TF32 GEMM 4096', unit: 'TFLOP/s', iters: 50, make: () => { fm.setFloat32MatmulPrecision('high'); const a = fm.randn([4096, 4096]).to(dev); return run(() => a.matmul(a)); }, value: (s) => (2 * 4096 ** 3) / s / 1e12 },
  ...(['bfloat16', 'float16'] as const).map((d) => ({ name: `${d === 'bfloat16' ? 'bf16' : 'fp16'} GEMM 4096`, unit: 'TFLOP/s', iters: 50, make: () => { const a = fm.randn([4096, 4096]).to(dev).to(d); return run(() => a.matmul(a)); }, value: (s: number) => (2 * 4096 ** 3) / s / 1e12 })),
  { name: 'MLP 784-256-256-10 train step, batch 128', unit: 'ms', iters: 200, make: () => { fm.setFloat32MatmulPrecision('highest'); return mlp(); }, value: (s) => s * 1e3 },
  { name: 'MLP 784-256-256-10 train step, batch 128, bf16 autocast', unit: 'ms', iters: 200, make: () => mlp(true, true), value: (s) => s * 1e3 },
  ...[false, true].flatMap((amp) => [
    { name: `ResNet-18 32x32 train step, batch 256${amp ? ', bf16 autocast' : ''}`, unit: 'ms', iters: 10, make: () => resnet18Step(dev, amp), value: (s: number) => s * 1e3 },
    { name: `GPT 6x384 ctx 256 train step, batch 32, AdamW${amp ? ', bf16 autocast' : ''}`, unit: 'ms', iters: 10, make: () => gptStep(dev, amp), value: (s: number) => s * 1e3 },
  ]),
];

const out = process.argv[2] ?? 'bench/results/cuda-latest.json';
const rows: Row[] = [];
for (const w of workloads) {
  try {
    const f = w.make();
    rows.push({ name: w.name, unit: w.unit, fiamma: w.value(time(f, w.iters)) });
  } catch (e) {
    rows.push({ name: w.name, unit: w.unit, fiamma: NaN, note: `failed: ${(e as Error).message.slice(0, 300)}` });
  }
  console.log(JSON.stringify(rows[rows.length - 1]));
}
const peer = spawnSync('python3', ['bench/torch_cuda_peer.py'], { encoding: 'utf8' });
let torchInfo = `PyTorch peer failed: ${peer.stderr?.slice(-500)}`;
if (peer.status === 0) {
  const p = JSON.parse(peer.stdout) as { version: string; rows: Record<string, number> };
  torchInfo = `PyTorch ${p.version}`;
  for (const r of rows) {
    r.pytorch = p.rows[r.name];
    if (r.pytorch !== undefined) {
      // ratio > 1 means Fiamma is better: higher throughput, or lower time.
      r.ratio = r.unit === 'us' || r.unit === 'ms' ? r.pytorch / r.fiamma : r.fiamma / r.pytorch;
    }
  }
}
const memory = await memoryFlatness(Number(process.env.FIAMMA_MEMORY_STEPS ?? 4000));
console.log(JSON.stringify(memory));
const result = { memory, date: new Date().toISOString(), device: fm.cuda.getDeviceName(), peer: torchInfo, note: 'ratio > 1: Fiamma better (time: pytorch/fiamma; throughput: fiamma/pytorch)', rows };
fs.writeFileSync(out, JSON.stringify(result, null, 2));
console.log(JSON.stringify(result, null, 2));
