// DistributedDataParallel across 2 processes on the mpi backend: the same parameters as one
// process training on the whole batch, gradient accumulation with noSync, unused parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mpiSkip, mpirun } from './distributed/mpi_run.js';

const cases: [string, string, RegExp][] = [
  ['20 steps through DDP on 2 ranks end where one process on the whole batch ends', 'train', /ddp ok on rank 1/],
  ['gradient accumulation with noSync matches the whole batch', 'accumulate', /ddp noSync ok on rank 1/],
  ['a parameter without gradient is named; findUnusedParameters reduces what some rank used', 'unused', /ddp unused ok on rank 1/],
  ['broadcastBuffers gives every rank rank 0\'s batch-norm statistics', 'buffers', /ddp buffers ok on rank 1/],
];
for (const [name, mode, expect] of cases) {
  test(`ddp: ${name}`, { skip: mpiSkip }, () => {
    const r = mpirun(2, 'ddp_worker', mode);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, expect);
    assert.match(r.out, expect.source.includes('rank 1') ? new RegExp(expect.source.replace('rank 1', 'rank 0')) : expect);
  });
}
