// Data-parallel training across processes: each process trains a replica of an MLP on its shard of
// MNIST, and DistributedDataParallel averages the gradients, so every replica takes the same steps.
//
//   npx fiamma run --mpi --nproc-per-node 2 dist/examples/ddp_mnist.js       (cpu, Open MPI)
//   npx fiamma run --nproc-per-node 8 dist/examples/ddp_mnist.js --device cuda (one GPU per process, NCCL)
//
// The code is PyTorch's DDP recipe: initProcessGroup, DistributedSampler, wrap the model, train.
import { parseArgs } from 'node:util';
import * as fm from '../src/index.js';

const { nn, optim, data, distributed: dist } = fm;
const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.05' },
    device: { type: 'string', default: 'cpu' },
    out: { type: 'string', default: 'runs/ddp_mnist.safetensors' },
  },
});
const onGpu = args.device!.startsWith('cuda');
if (onGpu) fm.cuda.setDevice(dist.getLocalRank()); // one GPU per process
await dist.initProcessGroup({ backend: onGpu ? 'nccl' : 'mpi' });
const rank = dist.getRank();
const world = dist.getWorldSize();
const device = onGpu ? `cuda:${dist.getLocalRank()}` : 'cpu';
fm.manualSeed(0); // DDP broadcasts rank 0's weights anyway

const train = new data.datasets.MNIST({ train: true });
const test = new data.datasets.MNIST({ train: false });
const sampler = new data.DistributedSampler(train, { shuffle: true, seed: 0 });
// The global batch is batch-size x world: each process takes its share of it.
const loader = new data.DataLoader(train, { batchSize: Number(args['batch-size']), sampler });

const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10)).to(device);
const ddp = new nn.parallel.DistributedDataParallel(model, onGpu ? { deviceIds: [device] } : {});
const opt = new optim.SGD(ddp.parameters(), { lr: Number(args.lr), momentum: 0.9 });
if (rank === 0) console.log(`${world} processes, ${sampler.length} of ${train.length} digits each per epoch, on ${device}`);

for (let epoch = 0; epoch < Number(args.epochs); epoch++) {
  sampler.setEpoch(epoch); // a different shuffle each epoch, the same on every rank
  const t0 = performance.now();
  let lossSum = 0;
  for await (const [x, y] of loader) {
    fm.scope(() => {
      opt.zeroGrad();
      const loss = nn.F.crossEntropy(ddp(x.to(device)), y.to(device));
      loss.backward();
      opt.step();
      lossSum += loss.item();
    });
  }
  // The mean training loss over every rank's batches.
  const mean = fm.tensor([lossSum / loader.length], { device });
  dist.allReduce(mean, { op: 'avg' });
  if (rank === 0) console.log(`epoch ${epoch + 1}: loss ${(mean.item() as number).toFixed(4)}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

if (rank === 0) {
  let correct = 0;
  fm.noGrad(() => {
    for (const [x, y] of new data.DataLoader(test, { batchSize: 500 })) correct += model(x.to(device)).argmax(1).eq(y.to(device)).sum().item() as number;
  });
  console.log(`held-out accuracy ${((100 * correct) / test.length).toFixed(2)}%`);
  fm.save(ddp.stateDict(), args.out!); // the plain model's keys: loads without DDP
  console.log(`saved ${args.out}`);
}
dist.barrier();
dist.destroyProcessGroup();
