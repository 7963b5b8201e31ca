// DistributedDataParallel across 2 processes on the mpi backend: the same parameters as one
// process training on the whole batch, gradient accumulation with noSync, unused parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fm from '../src/index.js';
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

test('ddp: the example trains MNIST on 2 processes through `fiamma run --mpi`, and its checkpoint loads without DDP', { skip: mpiSkip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-ddp-'));
  const out = path.join(dir, 'mlp.safetensors');
  const r = spawnSync(process.execPath, ['dist/src/cli.js', 'run', '--mpi', '--nproc-per-node', '2', 'dist/examples/ddp_mnist.js', '--epochs', '1', '--out', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /2 processes, 4000 of 8000 digits each per epoch, on cpu/);
  const acc = Number(/held-out accuracy ([\d.]+)%/.exec(r.stdout)?.[1]);
  assert.ok(acc > 80, `accuracy ${acc}%`);
  const sd = fm.load(out);
  assert.deepEqual(Object.keys(sd).sort(), ['1.bias', '1.weight', '3.bias', '3.weight', '5.bias', '5.weight']);
  fs.rmSync(dir, { recursive: true, force: true });
});
