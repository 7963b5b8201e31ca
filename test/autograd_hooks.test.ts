// registerPostAccumulateGradHook and autograd.queueCallback: the two engine hooks DDP stands on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';

test('registerPostAccumulateGradHook runs after .grad is updated, once per backward, and can be removed', () => {
  const w = fm.tensor([1, 2, 3], { requiresGrad: true });
  const seen: number[][] = [];
  const h = w.registerPostAccumulateGradHook((p) => seen.push(p.grad!.toArray() as number[]));
  // w is used twice: its gradient is summed first, then the hook runs once.
  w.mul(2).add(w).sum().backward();
  assert.deepEqual(seen, [[3, 3, 3]]);
  w.mul(w).sum().backward();
  assert.deepEqual(seen[1], [5, 7, 9]); // accumulated: 3 + 2w
  h.remove();
  w.sum().backward();
  assert.equal(seen.length, 2);
});

test('registerPostAccumulateGradHook refuses non-leaves and tensors without grad', () => {
  const w = fm.tensor([1], { requiresGrad: true });
  assert.throws(() => w.mul(2).registerPostAccumulateGradHook(() => undefined), /registerPostAccumulateGradHook: post accumulate grad hooks can only be registered on leaf tensors/);
  assert.throws(() => fm.tensor([1]).registerPostAccumulateGradHook(() => undefined), /registerPostAccumulateGradHook: cannot register a hook on a tensor that doesn't require gradient/);
});

test('queueCallback runs once backward has finished every node, and only inside backward', () => {
  const a = fm.tensor([1, 2], { requiresGrad: true });
  const b = fm.tensor([3], { requiresGrad: true });
  const order: string[] = [];
  a.registerPostAccumulateGradHook(() => {
    order.push('a');
    fm.autograd.queueCallback(() => order.push(`callback sees b.grad=${b.grad?.item()}`));
  });
  b.registerPostAccumulateGradHook(() => order.push('b'));
  a.sum().mul(b).sum().backward();
  assert.equal(order[order.length - 1], 'callback sees b.grad=3');
  assert.deepEqual([...order].sort().slice(0, 2), ['a', 'b']);
  assert.throws(() => fm.autograd.queueCallback(() => undefined), /queueCallback: a callback can only be queued while backward runs/);
});
