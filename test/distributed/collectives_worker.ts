// One rank of the collectives test (run by distributed_mpi.test.ts under mpirun): every collective
// on several dtypes against values computed by hand from the ranks' inputs. Exits non-zero on a mismatch.
import assert from 'node:assert/strict';
import * as fm from '../../src/index.js';
import { assertClose } from '../helpers.js';

const dist = fm.distributed;
const mode = process.env['FIAMMA_TEST_WORKER'];

function range<T = number>(n: number, f: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

async function collectives(): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 60_000 });
  const r = dist.getRank();
  const p = dist.getWorldSize();
  const ranks = range(p, (i) => i);
  assert.equal(dist.isInitialized(), true);

  // allReduce: every op on every dtype; rank r holds [r + 1, 2(r + 1), ...].
  for (const dtype of ['float32', 'float64', 'int32', 'int64', 'uint8'] as const) {
    const vals = (rank: number) => range(5, (i) => (rank + 1) * (i + 1));
    for (const op of ['sum', 'max', 'min', 'product'] as const) {
      const t = fm.tensor(vals(r), { dtype });
      dist.allReduce(t, { op });
      const expect = range(5, (i) => {
        const xs = ranks.map((k) => vals(k)[i]!);
        return op === 'sum' ? xs.reduce((a, b) => a + b) : op === 'max' ? Math.max(...xs) : op === 'min' ? Math.min(...xs) : xs.reduce((a, b) => a * b);
      });
      assertClose(t, dtype === 'uint8' ? expect.map((v) => v % 256) : expect, { msg: `allReduce ${op} ${dtype}` });
    }
  }
  const avg = fm.tensor([r, 2 * r], { dtype: 'float64' });
  dist.allReduce(avg, { op: dist.ReduceOp.AVG });
  assertClose(avg, [(p - 1) / 2, p - 1], { msg: 'allReduce avg' });
  // bool: sum is logical or, product logical and.
  const anyT = fm.tensor([r === 0, false]);
  dist.allReduce(anyT, { op: 'sum' });
  assert.deepEqual(anyT.toArray(), [true, false]);
  const allT = fm.tensor([r === 0, true]);
  dist.allReduce(allT, { op: 'product' });
  assert.deepEqual(allT.toArray(), [false, true]);

  // A large tensor, and a contiguous window at an offset of a bigger storage.
  const big = fm.full([1 << 20], r + 1);
  dist.allReduce(big);
  assert.equal(big.sum().item(), (p * (p + 1) / 2) * (1 << 20));
  const base = fm.zeros([4, 3]).add(r);
  const row = base.select(0, 2);
  dist.allReduce(row);
  assertClose(base, [...range(6, () => r), ...range(3, () => (p * (p - 1)) / 2), ...range(3, () => r)], { msg: 'window' });

  // Async work handles.
  const w = dist.allReduce(fm.ones([3]), { asyncOp: true });
  w.wait();
  assert.equal(w.isCompleted(), true);

  for (let src = 0; src < p; src++) {
    const b = fm.tensor([r, r, r], { dtype: 'int64' });
    dist.broadcast(b, src);
    assert.deepEqual(b.toArray(), [src, src, src]);
  }
  const red = fm.tensor([r + 1]);
  dist.reduce(red, p - 1);
  if (r === p - 1) assertClose(red, [(p * (p + 1)) / 2]);

  const parts = range(p, () => fm.zeros([2, 2]));
  dist.allGather(parts, fm.full([2, 2], r * 10));
  parts.forEach((t, k) => assertClose(t, range(4, () => k * 10), { msg: `allGather part ${k}` }));
  const gathered = fm.zeros([p * 2]);
  dist.allGatherIntoTensor(gathered, fm.tensor([r, -r]));
  assertClose(gathered, ranks.flatMap((k) => [k, -k]));

  const dst = 1 % p;
  const glist = r === dst ? range(p, () => fm.zeros([3])) : null;
  dist.gather(fm.full([3], r + 0.5), { gatherList: glist, dst });
  if (glist) glist.forEach((t, k) => assertClose(t, [k + 0.5, k + 0.5, k + 0.5]));

  const mine = fm.zeros([2], { dtype: 'int32' });
  dist.scatter(mine, { scatterList: r === 0 ? range(p, (k) => fm.tensor([k, k * k], { dtype: 'int32' })) : null, src: 0 });
  assert.deepEqual(mine.toArray(), [r, r * r]);

  // reduceScatter: rank k's input list holds [k + j] at position j; rank r gets sum_k (k + r).
  const rsOut = fm.zeros([2]);
  dist.reduceScatter(rsOut, range(p, (j) => fm.full([2], r + j)));
  assertClose(rsOut, [(p * (p - 1)) / 2 + p * r, (p * (p - 1)) / 2 + p * r]);
  const rsT = fm.zeros([1]);
  dist.reduceScatterTensor(rsT, fm.tensor(range(p, (j) => j * (r + 1))), { op: 'max' });
  assertClose(rsT, [r * p]);

  // allToAll: rank r sends 100 r + s to rank s.
  const outs = range(p, () => fm.zeros([1]));
  dist.allToAll(outs, range(p, (s) => fm.tensor([100 * r + s])));
  outs.forEach((t, k) => assertClose(t, [100 * k + r]));
  const single = fm.zeros([p]);
  dist.allToAllSingle(single, fm.tensor(range(p, (s) => 100 * r + s)));
  assertClose(single, ranks.map((k) => 100 * k + r));

  dist.barrier();

  // Point to point around the ring, with a tag.
  const next = (r + 1) % p;
  const prev = (r + p - 1) % p;
  const sendW = dist.isend(fm.tensor([r * 7]), next, { tag: 3 });
  const got = fm.zeros([1]);
  assert.equal(dist.recv(got, prev, { tag: 3 }), prev);
  sendW.wait();
  assertClose(got, [prev * 7]);

  // A subgroup of ranks 0 and 1; others are not members (their calls do nothing, rank -1).
  const pair = dist.newGroup([0, 1]);
  const inPair = fm.tensor([r + 1]);
  dist.allReduce(inPair, { group: pair });
  if (r < 2) {
    assert.equal(dist.getRank(pair), r);
    assertClose(inPair, [3]);
    dist.broadcast(inPair.fill_(r), 1, { group: pair });
    assertClose(inPair, [1]);
  } else {
    assert.equal(dist.getRank(pair), -1);
    assertClose(inPair, [r + 1]);
  }
  dist.destroyProcessGroup(pair);

  // 16-bit floats travel as their bits; MPI has no 16-bit float type to reduce them with.
  const bf = r === 0 ? fm.tensor([1.5, -2.25, 3e38], { dtype: 'bfloat16' }) : fm.zeros([3], { dtype: 'bfloat16' });
  dist.broadcast(bf, 0);
  assert.deepEqual(bf.toArray(), [1.5, -2.25, fm.tensor(3e38, { dtype: 'bfloat16' }).item()]);
  assert.throws(() => dist.allReduce(fm.zeros([2], { dtype: 'float16' })), /allReduce: the mpi backend cannot reduce float16 \(MPI has no 16-bit float type\)/);

  // Errors name the op and what is wrong.
  assert.throws(() => dist.allReduce(fm.zeros([2, 3]).T), /allReduce: the tensor must be contiguous, got a non-contiguous \[3, 2\] float32 tensor on cpu/);
  assert.throws(() => dist.allReduce(fm.zeros([2], { dtype: 'int32' }), { op: 'avg' }), /allReduce: op 'avg' needs a floating tensor/);
  assert.throws(() => dist.broadcast(fm.zeros([1]), p), new RegExp(`broadcast: source rank ${p} is not in the group`));
  assert.throws(() => dist.allGather([fm.zeros([1])], fm.zeros([1])), new RegExp(`allGather: tensorList must hold one tensor per rank \\(${p}\\), got 1`));
  assert.throws(() => dist.allGather(range(p, () => fm.zeros([2])), fm.zeros([1])), /tensorList\[0\] is a \[2\] float32 tensor on cpu, but every tensor must be a \[1\] float32 tensor/);
  await assert.rejects(dist.initProcessGroup({ backend: 'mpi' }), /already initialized/);
  dist.barrier();
  dist.destroyProcessGroup();
  assert.equal(dist.isInitialized(), false);
  console.log(`collectives ok on rank ${r} of ${p}`);
}

/** Rank 1 never joins the collective: rank 0 must raise the timeout error, not hang. */
async function stall(): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 2000 });
  if (dist.getRank() === 1) {
    await new Promise((r) => setTimeout(r, 60_000));
    return;
  }
  dist.allReduce(fm.ones([4]));
}

/** Rank 1 dies in the middle of training: the others must not hang. */
async function kill(): Promise<void> {
  await dist.initProcessGroup({ backend: 'mpi', timeout: 5000 });
  dist.allReduce(fm.ones([4]));
  if (dist.getRank() === 1) process.kill(process.pid, 'SIGKILL');
  for (let i = 0; i < 100; i++) dist.allReduce(fm.ones([4]));
}

const modes: Record<string, () => Promise<void>> = { collectives, stall, kill };
if (mode && modes[mode]) await modes[mode]!();
