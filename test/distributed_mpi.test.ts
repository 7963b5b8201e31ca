// The mpi backend across real processes: every collective for world sizes 2 and 3, and the
// failure cases (a stalled rank times out, a killed rank stops the job) ending in bounded time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mpiSkip, mpirun } from './distributed/mpi_run.js';

for (const np of [2, 3]) {
  test(`mpi: every collective on ${np} ranks`, { skip: mpiSkip }, () => {
    const r = mpirun(np, 'collectives_worker', 'collectives');
    assert.equal(r.status, 0, r.out);
    for (let k = 0; k < np; k++) assert.match(r.out, new RegExp(`collectives ok on rank ${k} of ${np}`));
  });
}

test('mpi: a rank that stalls makes the others fail with the timeout error', { skip: mpiSkip }, () => {
  const r = mpirun(2, 'collectives_worker', 'stall', 60_000);
  assert.notEqual(r.status, 0, r.out);
  assert.match(r.out, /DistributedError: allReduce: timed out after 2 s on rank 0 of 2 \(mpi\): another rank died, stalled, or did not call the same collective/);
  assert.ok(r.seconds < 30, `took ${r.seconds} s`);
});

test('mpi: a rank that is killed stops the job instead of leaving the others waiting', { skip: mpiSkip }, () => {
  const r = mpirun(2, 'collectives_worker', 'kill', 60_000);
  assert.notEqual(r.status, 0, r.out);
  assert.ok(r.seconds < 30, `took ${r.seconds} s`);
});
