// Device memory of a plain training loop on cuda that disposes nothing (DESIGN.md, Memory): an
// nn.Module MLP, Adam, `for await` over a DataLoader, as a user writes it. Prints one JSON line:
// memory allocated every `every` steps; flat means the garbage collector's finalizers keep up.
//   node dist/bench/cuda_memory.js [steps] [every]
import * as fm from '../src/index.js';

const { nn, optim, data } = fm;
const steps = Number(process.argv[2] ?? 10_000);
const every = Number(process.argv[3] ?? 1000);
const dev = 'cuda';

fm.manualSeed(0);
const x = fm.randn([128 * 64, 784]);
const y = fm.randint(0, 10, [128 * 64]);
const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 128, shuffle: true });
const model = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10)).to(dev);
const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });

const mib = () => Math.round((fm.cuda.memoryAllocated() / 2 ** 20) * 10) / 10;
const seen: Record<string, number> = {};
const t0 = performance.now();
let step = 0;
while (step < steps) {
  for await (const [xb, yb] of loader) {
    opt.zeroGrad();
    const loss = nn.F.crossEntropy(model(xb.to(dev)), yb.to(dev));
    loss.backward();
    opt.step();
    if (++step % every === 0) seen[`step ${step}`] = mib();
    if (step === steps) break;
  }
}
console.log(JSON.stringify({
  device: fm.cuda.getDeviceName(), steps, 'MiB allocated by step': seen, 'MiB peak': fm.cuda.maxMemoryAllocated() / 2 ** 20,
  'MiB reserved': fm.cuda.memoryReserved() / 2 ** 20, 'ms per step': (performance.now() - t0) / steps,
}));
