// One rank of the DDP tests (run by distributed_ddp.test.ts under mpirun): training through DDP
// on a shard of the batch must end where one process training on the whole batch ends.
import assert from 'node:assert/strict';
import * as fm from '../../src/index.js';

const { nn, distributed: dist } = fm;
const mode = process.env['FIAMMA_TEST_WORKER'];

class Net extends nn.Module {
  fc1 = new nn.Linear(6, 8);
  bn = new nn.BatchNorm1d(8);
  fc2 = new nn.Linear(8, 3);
  spare: fm.nn.Linear | null;
  useSpare = false;
  constructor(withSpare: boolean) {
    super();
    this.spare = withSpare ? new nn.Linear(8, 3) : null;
  }
  override forward(x: fm.Tensor): fm.Tensor {
    const h = this.bn(this.fc1(x)).tanh();
    return this.useSpare ? this.fc2(h).add(this.spare!(h)) : this.fc2(h);
  }
}

/** The same weights on every rank only because DDP broadcasts them: each rank seeds differently. */
function makeNet(seed: number, withSpare = false): Net {
  fm.manualSeed(seed);
  return new Net(withSpare);
}

/** The whole batch, the same on every rank. */
function data(n: number): { x: fm.Tensor; y: fm.Tensor } {
  const g = new fm.Generator().manualSeed(1234);
  return { x: fm.randn([n, 6], { generator: g }), y: fm.randint(0, 3, [n], { generator: g }) };
}

function maxDiff(a: fm.Tensor[], b: fm.Tensor[]): number {
  return Math.max(...a.map((t, i) => t.sub(b[i]!).abs().max().item() as number));
}

/** 20 SGD steps (momentum) with 2 micro-batches per step, accumulated under noSync when `accumulate`. */
async function train(accumulate: boolean): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 60_000 });
  const r = dist.getRank();
  const p = dist.getWorldSize();
  const n = 8 * p;
  const { x, y } = data(n);
  const micro = accumulate ? 2 : 1;
  // The reference: one process, the whole batch; the loss averages each rank's micro-batch means.
  const ref = makeNet(0);
  // DDP: each rank starts from different weights (seed r + 1): DDP must broadcast rank 0's.
  const local = makeNet(r === 0 ? 0 : 100 + r);
  const ddp = new nn.parallel.DistributedDataParallel(local, { broadcastBuffers: false });
  assert.deepEqual(Object.keys(ddp.stateDict()), Object.keys(ref.stateDict()), 'state dict keys are the wrapped module\'s');
  const optRef = new fm.optim.SGD(ref.parameters(), { lr: 0.1, momentum: 0.9 });
  const opt = new fm.optim.SGD(ddp.parameters(), { lr: 0.1, momentum: 0.9 });
  // Rank r's shard: rows r, r + p, r + 2p, ... (DistributedSampler's split without shuffling).
  const sampler = new fm.data.DistributedSampler({ length: n, get: (i: number) => i } as unknown as fm.data.Dataset<number>, { shuffle: false });
  const mine = fm.tensor([...sampler], { dtype: 'int64' });
  const shard = (t: fm.Tensor, k: number) => t.indexSelect(0, mine).chunk(micro)[k]!;
  for (let step = 0; step < 20; step++) {
    optRef.zeroGrad();
    let refLoss = fm.zeros([]);
    for (let k = 0; k < micro; k++) {
      for (let q = 0; q < p; q++) {
        const idx = fm.arange(q, n, p).chunk(micro)[k]!;
        // BatchNorm's batch statistics are per rank (no SyncBatchNorm), so the reference runs per shard too.
        refLoss = refLoss.add(fm.nn.F.crossEntropy(ref(x.indexSelect(0, idx)), y.indexSelect(0, idx)).div(p));
      }
    }
    refLoss.backward();
    optRef.step();

    opt.zeroGrad();
    for (let k = 0; k < micro; k++) {
      const run = () => fm.nn.F.crossEntropy(ddp(shard(x, k)), shard(y, k)).backward();
      if (k < micro - 1) ddp.noSync(run);
      else run();
    }
    opt.step();
  }
  const diff = maxDiff(ddp.parameters(), ref.parameters());
  assert.ok(diff < 1e-6, `rank ${r}: parameters differ from one-process training by ${diff}`);
  console.log(`ddp ${accumulate ? 'noSync ' : ''}ok on rank ${r}: max difference ${diff.toExponential(2)}`);
}

/** Without findUnusedParameters, a parameter without gradient is named; with it, training goes on. */
async function unused(): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 60_000 });
  const r = dist.getRank();
  const { x, y } = data(8);
  const strict = new nn.parallel.DistributedDataParallel(makeNet(0, true));
  assert.throws(() => fm.nn.F.crossEntropy(strict(x), y).backward(),
    /DistributedDataParallel: 2 parameters got no gradient in this backward: 'spare.weight' \[3, 8\], 'spare.bias' \[3\]\. They did not take part in computing the loss; pass \{ findUnusedParameters: true \}/);

  const net = makeNet(0, true);
  const ddp = new nn.parallel.DistributedDataParallel(net, { findUnusedParameters: true, bucketCapMb: 0.0001 });
  assert.ok(ddp.bucketLayout().length > 1, 'small buckets: several all-reduces');
  // Rank 1 uses the spare layer, rank 0 does not: the spare layer's gradient is rank 1's divided by 2.
  net.useSpare = r === 1;
  fm.nn.F.crossEntropy(ddp(x), y).backward();
  const spareGrad = net.spare!.weight.grad!.clone();
  // Nobody uses it: its gradient stays null.
  net.zeroGrad({ setToNone: true });
  net.useSpare = false;
  fm.nn.F.crossEntropy(ddp(x), y).backward();
  assert.equal(net.spare!.weight.grad, null);
  const all = fm.zeros([dist.getWorldSize(), 3, 8]);
  dist.allGatherIntoTensor(all, spareGrad);
  assert.ok((all.select(0, 0).sub(all.select(0, 1)).abs().max().item() as number) === 0, 'every rank holds the same averaged gradient');

  // eval mode still synchronises (as PyTorch): fine-tuning with frozen batch norm statistics.
  const frozen = makeNet(0);
  const ddpEval = new nn.parallel.DistributedDataParallel(frozen);
  ddpEval.eval();
  ddpEval(x.mul(r + 1)).sum().backward();
  const g = frozen.fc2.weight.grad!.clone();
  const both = fm.zeros([dist.getWorldSize(), 3, 8]);
  dist.allGatherIntoTensor(both, g);
  assert.equal(both.select(0, 0).sub(both.select(0, 1)).abs().max().item(), 0, 'eval-mode gradients are averaged');

  // A parameter the output does not use, but the loss does: named, rather than silently unsynchronised.
  const net3 = makeNet(0, true);
  const ddp3 = new nn.parallel.DistributedDataParallel(net3, { findUnusedParameters: true });
  assert.throws(() => fm.nn.F.crossEntropy(ddp3(x), y).add(net3.spare!.weight.sum()).backward(),
    /DistributedDataParallel: parameter 'spare.weight' got a gradient although the forward's output does not use it/);
  dist.barrier();
  console.log(`ddp unused ok on rank ${r}`);
}

/** broadcastBuffers: every rank's batch-norm statistics are rank 0's after each forward. */
async function buffers(): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 60_000 });
  const r = dist.getRank();
  const net = makeNet(0);
  const ddp = new nn.parallel.DistributedDataParallel(net);
  const { x } = data(16);
  ddp(x.narrow(0, 8 * (r % 2), 8)).sum().backward();
  ddp(x).sum().backward();
  const mean = net.bn.runningMean!.clone();
  const all = fm.zeros([dist.getWorldSize(), 8]);
  dist.allGatherIntoTensor(all, mean);
  assert.equal(all.select(0, 0).sub(all.select(0, 1)).abs().max().item(), 0);
  console.log(`ddp buffers ok on rank ${r}`);
}

const modes: Record<string, () => Promise<void>> = { train: () => train(false), accumulate: () => train(true), unused, buffers };
if (mode && modes[mode]) await modes[mode]!();
