// The nccl backend on the GPU in a world of one rank (the GPU machine has one GPU, and NCCL refuses
// two ranks on one device): every collective, a subgroup, DDP on cuda. Skips without a GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { cudaSkip } from './helpers.js';

const { distributed: dist, nn } = fm;

test('nccl, world of one: every collective, a subgroup and DDP on cuda', { skip: cudaSkip }, async () => {
  await dist.initProcessGroup({ backend: 'nccl', timeout: 60_000 });
  try {
    assert.equal(dist.getWorldSize(), 1);
    const dev = 'cuda';
    const t = fm.tensor([1, -2, 3], { device: dev });
    dist.allReduce(t);
    assert.deepEqual(t.toArray(), [1, -2, 3]);
    dist.allReduce(t, { op: 'avg' });
    dist.allReduce(t, { op: 'max' });
    assert.deepEqual(t.toArray(), [1, -2, 3]);
    const ints = fm.tensor([5, 7], { dtype: 'int64', device: dev });
    dist.allReduce(ints, { op: 'product' });
    assert.deepEqual(ints.toArray(), [5, 7]);
    const flags = fm.tensor([true, false], { device: dev });
    dist.allReduce(flags);
    assert.deepEqual(flags.toArray(), [true, false]);
    const big = fm.ones([1 << 22], { device: dev });
    const w = dist.allReduce(big, { asyncOp: true });
    w.wait();
    assert.equal(w.isCompleted(), true);
    assert.equal(big.sum().item(), 1 << 22);

    // On a side stream (non-blocking: not ordered with the legacy stream): the collective queues
    // behind the kernel that made its input there, so an out-of-place allGather copies the
    // finished input (queued on the legacy stream, it could copy before the kernel ran).
    const side = new fm.cuda.Stream();
    fm.cuda.stream(side, () => {
      const onSide = fm.ones([1 << 24], { device: dev }).mul(3);
      const gathered = [fm.zeros([1 << 24], { device: dev })];
      dist.allGather(gathered, onSide, { asyncOp: true }).wait();
      assert.equal(gathered[0]!.sum().item(), 3 * (1 << 24));
    });
    side.synchronize();
    side.dispose();

    dist.broadcast(t, 0);
    dist.reduce(t, 0);
    assert.deepEqual(t.toArray(), [1, -2, 3]);
    const parts = [fm.zeros([3], { device: dev })];
    dist.allGather(parts, t);
    assert.deepEqual(parts[0]!.toArray(), [1, -2, 3]);
    const whole = fm.zeros([3], { device: dev });
    dist.allGatherIntoTensor(whole, t);
    assert.deepEqual(whole.toArray(), [1, -2, 3]);
    const gl = [fm.zeros([3], { device: dev })];
    dist.gather(t, { gatherList: gl, dst: 0 });
    assert.deepEqual(gl[0]!.toArray(), [1, -2, 3]);
    const sc = fm.zeros([2], { device: dev });
    dist.scatter(sc, { scatterList: [fm.tensor([4, 5], { device: dev })], src: 0 });
    assert.deepEqual(sc.toArray(), [4, 5]);
    const rs = fm.zeros([2], { device: dev });
    dist.reduceScatter(rs, [fm.tensor([6, 7], { device: dev })]);
    assert.deepEqual(rs.toArray(), [6, 7]);
    const a2a = [fm.zeros([1], { device: dev })];
    dist.allToAll(a2a, [fm.tensor([9], { device: dev })]);
    assert.deepEqual(a2a[0]!.toArray(), [9]);
    dist.barrier();

    const solo = dist.newGroup([0]);
    const s = fm.tensor([2], { device: dev });
    dist.allReduce(s, { group: solo });
    assert.deepEqual(s.toArray(), [2]);
    dist.destroyProcessGroup(solo);

    assert.throws(() => dist.allReduce(fm.ones([2])), /allReduce: the nccl backend works on cuda tensors, but the tensor is a \[2\] float32 tensor on cpu/);

    // DDP on the GPU: the same gradients as the plain module in a world of one.
    fm.manualSeed(0);
    const plain = new nn.Linear(8, 4).to(dev);
    fm.manualSeed(0);
    const ddp = new nn.parallel.DistributedDataParallel(new nn.Linear(8, 4).to(dev), { deviceIds: [0] });
    const x = fm.randn([16, 8], { device: dev });
    plain(x).square().mean().backward();
    ddp(x).square().mean().backward();
    const diff = ddp.module.weight.grad!.sub(plain.weight.grad!).abs().max().item() as number;
    assert.ok(diff < 1e-6, `DDP gradient differs by ${diff}`);
    assert.throws(() => new nn.parallel.DistributedDataParallel(new nn.Linear(2, 2)), /the module is on cpu, but the nccl backend reduces cuda tensors/);
  } finally {
    dist.destroyProcessGroup();
  }
});
