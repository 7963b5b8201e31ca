// Device memory that nobody disposed: the collection policy, and storages of a backend that
// needs release being freed by the FinalizationRegistry after a forced collection and an await.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { tsBackend } from '../src/backend/ts/index.js';
import { CollectionPolicy, forceCollection } from '../src/tensor/collect.js';

test('the policy collects past the floor, then past twice what was held', () => {
  const p = new CollectionPolicy(100);
  let runs = 0;
  const collect = () => (runs++, true);
  assert.equal(p.check(99, collect), false);
  assert.equal(p.check(150, collect), true);
  assert.equal(p.check(299, collect), false, 'next threshold is 300');
  assert.equal(p.check(300, collect), true);
  assert.equal(runs, 2);
});

test('storages nobody disposed are freed after a forced collection and an await', async () => {
  let frees = 0;
  const counting: fm.Backend = { ...(tsBackend as unknown as fm.Backend), name: 'counting', needsRelease: true, free: () => void frees++ };
  fm.registerBackend('cuda', counting);
  const make = () => {
    for (let i = 0; i < 100; i++) fm.ones([4], { device: 'cuda' }).add(1);
  };
  make();
  assert.equal(frees, 0);
  assert.equal(forceCollection(), true);
  for (let i = 0; i < 5 && frees < 200; i++) await new Promise((r) => setImmediate(r));
  assert.ok(frees >= 150, `freed ${frees} of 200 storages`);
  // Disposed ones are freed at once, and never twice.
  const before = frees;
  const t = fm.ones([4], { device: 'cuda' });
  t.dispose();
  assert.equal(frees, before + 1);
  forceCollection();
  await new Promise((r) => setImmediate(r));
  assert.equal(frees, before + 1);
});
