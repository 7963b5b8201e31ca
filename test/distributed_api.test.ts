// The distributed API in one process: errors before and during initialisation, the launcher's
// environment, and a world of one rank on the mpi backend (an MPI singleton), DDP included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fm from '../src/index.js';
import { mpiSkip } from './distributed/mpi_run.js';

const { distributed: dist, nn } = fm;

test('using a process group before initProcessGroup names the call and the fix', () => {
  assert.equal(dist.isInitialized(), false);
  assert.throws(() => dist.getRank(), (e: unknown) => e instanceof fm.DistributedError && /getRank: the default process group has not been initialized: call `await distributed.initProcessGroup\(\{ backend \}\)` first/.test((e as Error).message));
  assert.throws(() => dist.allReduce(fm.ones([2])), /allReduce: the default process group has not been initialized/);
  assert.throws(() => new nn.parallel.DistributedDataParallel(new nn.Linear(2, 2)), /DistributedDataParallel: the default process group has not been initialized/);
});

test('launchEnv reads torchrun\'s variables, then Open MPI\'s', () => {
  assert.deepEqual(dist.launchEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '4', MASTER_ADDR: 'node0', MASTER_PORT: '29500' }), {
    rank: 3, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'node0', masterPort: 29500, underMpi: false,
  });
  const mpi = dist.launchEnv({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2' });
  assert.deepEqual(mpi, { rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, masterAddr: undefined, masterPort: undefined, underMpi: true });
});

test('initProcessGroup rejects bad options with the reason', async () => {
  await assert.rejects(dist.initProcessGroup({ backend: 'gloo' as 'mpi' }), /initProcessGroup: unknown backend 'gloo' \(expected 'mpi' or 'nccl'\)/);
  await assert.rejects(dist.initProcessGroup({ backend: 'mpi', timeout: -1 }), /initProcessGroup: timeout must be a positive number of milliseconds, got -1/);
  await assert.rejects(dist.initProcessGroup({ backend: 'nccl', rank: 2, worldSize: 2 }), /initProcessGroup: rank 2 is not in a world of 2 processes/);
  await assert.rejects(dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 2, initMethod: 'file:///tmp/x' }), /initMethod 'file:\/\/\/tmp\/x' is not supported/);
  // Started by `fiamma run` without --mpi: MPI would see a world of one, so it is refused up front.
  process.env['WORLD_SIZE'] = '2';
  try {
    await assert.rejects(dist.initProcessGroup({ backend: 'mpi' }), /the mpi backend needs its 2 processes started by MPI: run `fiamma run --mpi --nproc-per-node 2 script.js` or `mpirun -np 2 node script.js`/);
  } finally {
    delete process.env['WORLD_SIZE'];
  }
  assert.equal(dist.isInitialized(), false);
});

test('nccl without a GPU says which library is missing', { skip: fm.cuda.isAvailable() ? 'a GPU is present' : undefined }, async () => {
  await assert.rejects(dist.initProcessGroup({ backend: 'nccl' }), (e: unknown) => e instanceof fm.DistributedError && /initProcessGroup: the nccl backend needs (libnccl\.so\.2 \(NCCL|.*cuda)/i.test((e as Error).message));
});

test('a world of one rank on mpi: collectives, DDP and its argument checks', { skip: mpiSkip }, async () => {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 10_000 });
  try {
    assert.equal(dist.getRank(), 0);
    assert.equal(dist.getWorldSize(), 1);
    const t = fm.tensor([1, 2, 3]);
    dist.allReduce(t, { op: 'avg' });
    assert.deepEqual(t.toArray(), [1, 2, 3]);
    const parts = [fm.zeros([3])];
    dist.allGather(parts, t);
    assert.deepEqual(parts[0]!.toArray(), [1, 2, 3]);
    assert.throws(() => dist.allReduce(t, { op: 'median' as 'sum' }), /allReduce: unknown reduce op 'median'/);

    // DDP in a world of one trains exactly as the plain module.
    fm.manualSeed(0);
    const plain = new nn.Linear(4, 2);
    fm.manualSeed(0);
    const ddp = new nn.parallel.DistributedDataParallel(new nn.Linear(4, 2));
    const x = fm.randn([5, 4]);
    plain(x).square().sum().backward();
    ddp(x).square().sum().backward();
    assert.deepEqual(ddp.module.weight.grad!.toArray(), plain.weight.grad!.toArray());
    assert.deepEqual(Object.keys(ddp.stateDict()), ['weight', 'bias']);
    assert.deepEqual(ddp.bucketLayout(), [['bias', 'weight']]);

    assert.throws(() => new nn.parallel.DistributedDataParallel(new nn.Linear(2, 2), { deviceIds: [0] }), /DistributedDataParallel: deviceIds must be left unset for a cpu module, got \[0\]/);
    assert.throws(() => new nn.parallel.DistributedDataParallel(new nn.Linear(2, 2), { bucketCapMb: 0 }), /bucketCapMb must be positive, got 0/);
    const frozen = new nn.Linear(2, 2).requiresGrad_(false);
    assert.throws(() => new nn.parallel.DistributedDataParallel(frozen), /the module has no parameter that requires a gradient/);
  } finally {
    dist.destroyProcessGroup();
  }
  assert.equal(dist.isInitialized(), false);
});

test('the cpu kernels take their thread count from OMP_NUM_THREADS, as PyTorch (the launcher sets a share per process)', () => {
  const script = "import * as fm from './dist/src/index.js'; console.log(fm.getNumThreads())";
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, OMP_NUM_THREADS: '1' }, encoding: 'utf8' });
  assert.equal(r.stdout.trim(), '1', r.stderr);
});

test('nccl: a rank whose rank 0 never starts fails within the timeout at the rendezvous', async () => {
  const t0 = Date.now();
  await assert.rejects(
    dist.initProcessGroup({ backend: 'nccl', rank: 1, worldSize: 2, initMethod: 'tcp://127.0.0.1:9', timeout: 1500 }),
    (e: unknown) => e instanceof fm.DistributedError && /127\.0\.0\.1:9/.test((e as Error).message),
  );
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  assert.equal(dist.isInitialized(), false);
});
