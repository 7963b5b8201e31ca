// Memory: dispose and `using`, scope(fn) (sync and async) freeing intermediates and keeping
// results, the graph letting go of saved tensors after backward, and a training loop whose
// heap and live storage stay flat.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as fm from '../src/index.js';
import { tsBackend } from '../src/backend/ts/index.js';
import { assertClose } from './helpers.js';

// Count live cpu storage: the ts backend, wrapped so that allocate and free are counted.
let live = 0;
const counting = {
  ...tsBackend,
  allocate(...a: Parameters<typeof tsBackend.allocate>) {
    live++;
    return tsBackend.allocate(...a);
  },
  free(...a: Parameters<typeof tsBackend.free>) {
    live--;
    tsBackend.free(...a);
  },
};
fm.registerBackend('cpu', counting as unknown as fm.Backend);

/** The collector, when this process can reach it (node --expose-gc, or the flag set at run time). */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fromContext = vm.runInNewContext('gc') as unknown;
    return typeof fromContext === 'function' ? (fromContext as () => void) : undefined;
  } catch {
    return undefined;
  }
}
const gc = findGc();
const noGc = gc ? false : 'global.gc is not available: run node with --expose-gc to run this case';

async function collect(): Promise<void> {
  // Two rounds with a macrotask between them, so FinalizationRegistry/WeakRef bookkeeping settles.
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((r) => setImmediate(r));
  }
}

describe('dispose and using', () => {
  test('dispose frees the storage now; using the tensor afterwards raises', () => {
    const before = live;
    const t = fm.ones([4]);
    assert.equal(live, before + 1);
    assert.equal(t.isDisposed, false);
    t.dispose();
    assert.equal(t.isDisposed, true);
    assert.equal(t.storage.freed, true);
    assert.equal(live, before);
    t.dispose(); // twice is harmless
    assert.equal(live, before);
    assert.throws(() => t.add(1), fm.ValueError);
    assert.throws(() => t.toArray(), /disposed/);
  });

  test('an owner returns its memory on dispose; its views become unusable', () => {
    const before = live;
    const x = fm.ones([2, 3]);
    const v = x.T;
    const w = x.narrow(0, 1, 1);
    assert.deepEqual(w.toArray(), [[1, 1, 1]], 'a view reads its base');
    w.dispose(); // a view borrows: disposing it frees nothing
    assert.equal(x.storage.freed, false);
    assert.deepEqual(v.toArray(), [[1, 1], [1, 1], [1, 1]]);
    x.dispose();
    assert.equal(x.storage.freed, true);
    assert.equal(live, before);
    assert.throws(() => v.toArray(), /disposed/);
  });

  test('internal views made inside ops do not keep a disposed tensor\'s storage alive', () => {
    const before = live;
    const a = fm.ones([3]);
    a.matmul(fm.ones([3, 2])).dispose();
    a.dispose();
    assert.equal(a.storage.freed, true, 'matmul of a 1-D operand');
    const b = fm.ones([2, 3]);
    const row = b.select(0, 1);
    b.dispose();
    row.dispose();
    assert.equal(b.storage.freed, true, 'select');
    const c = fm.ones([2, 3]);
    c.index(0, ':').dispose();
    c.dispose();
    assert.equal(c.storage.freed, true, 'index');
    // Left: the ones([3, 2]) operand, and the matmul product whose squeezed view was disposed
    // (a view's memory belongs to its base, which goes when collected).
    assert.equal(live, before + 2);
  });

  test('reading a non-contiguous tensor leaves no storage allocated', () => {
    const x = fm.ones([2, 3]).T;
    const before = live;
    x.toArray();
    x.data();
    String(x);
    assert.equal(live, before);
  });

  test('`using` disposes at the end of the block, also when it throws', () => {
    const before = live;
    let kept: fm.Tensor | undefined;
    {
      using t = fm.ones([3]);
      kept = t;
      assert.equal(t.sum().item(), 3);
    }
    assert.equal(kept.isDisposed, true);
    assert.throws(() => {
      using t = fm.zeros([2]);
      kept = t;
      throw new Error('inside');
    }, /inside/);
    assert.equal(kept.isDisposed, true);
    assert.equal(live, before + 1, 'only the sum() result, which was not under `using`, is left');
  });
});

describe('scope', () => {
  test('disposes intermediates and keeps the result', () => {
    const x = fm.ones([3]);
    const before = live;
    let mid: fm.Tensor | undefined;
    const y = fm.scope(() => {
      mid = x.add(1);
      return mid.mul(2).exp().log();
    });
    assert.equal(mid!.isDisposed, true);
    assert.equal(y.isDisposed, false);
    assert.deepEqual(y.toArray(), [4, 4, 4]);
    assert.equal(x.isDisposed, false, 'tensors made before the scope are left alone');
    assert.equal(live, before + 1, 'only the result is live');
  });

  test('keeps every tensor in an array or object result, and what keep() names', () => {
    const before = live;
    let tmp: fm.Tensor | undefined;
    let kept: fm.Tensor | undefined;
    const r = fm.scope(() => {
      tmp = fm.ones([2]);
      kept = fm.keep(fm.zeros([2]));
      const a = tmp.add(1);
      return { a, list: [a.mul(2), a.mul(3)], n: 5 };
    });
    assert.equal(tmp!.isDisposed, true);
    assert.equal(kept!.isDisposed, false);
    assert.deepEqual(r.a.toArray(), [2, 2]);
    assert.deepEqual(r.list[1]!.toArray(), [6, 6]);
    assert.equal(r.n, 5);
    assert.equal(live, before + 4);
  });

  test('nested scopes hand the inner result to the outer scope', () => {
    const before = live;
    let inner: fm.Tensor | undefined;
    const out = fm.scope(() => {
      inner = fm.scope(() => fm.ones([2]).add(1));
      assert.equal(inner.isDisposed, false);
      return inner.sum();
    });
    assert.equal(inner!.isDisposed, true, 'disposed by the outer scope, which did not return it');
    assert.equal(out.item(), 4);
    assert.equal(live, before + 1);
  });

  test('a throw inside the scope disposes what it made and rethrows', () => {
    const before = live;
    let t: fm.Tensor | undefined;
    assert.throws(() => fm.scope(() => {
      t = fm.ones([2]).mul(3);
      throw new Error('fail in scope');
    }), /fail in scope/);
    assert.equal(t!.isDisposed, true);
    assert.equal(live, before);
  });

  test('async scope disposes intermediates once the promise settles and keeps the result', async () => {
    const before = live;
    let mid: fm.Tensor | undefined;
    const p = fm.scope(async () => {
      mid = fm.ones([2]).add(1);
      await new Promise((r) => setTimeout(r, 2));
      const late = mid.mul(5); // made after an await: still belongs to the scope
      return late.add(1);
    });
    assert.ok(p instanceof Promise);
    const r = await p;
    assert.equal(mid!.isDisposed, true);
    assert.deepEqual(r.toArray(), [11, 11]);
    assert.equal(live, before + 1);
    let t: fm.Tensor | undefined;
    await assert.rejects(fm.scope(async () => {
      t = fm.ones([1]);
      await Promise.resolve();
      throw new Error('async fail');
    }), /async fail/);
    assert.equal(t!.isDisposed, true);
  });

  test('tensors saved for backward survive the scope; backward works after it', () => {
    const x = fm.tensor([0.5, 1], { requiresGrad: true });
    const loss = fm.scope(() => x.mul(3).exp().mul(x).sum());
    loss.backward();
    // d/dx x e^{3x} = e^{3x} (1 + 3x)
    const want = [0.5, 1].map((v) => Math.exp(3 * v) * (1 + 3 * v));
    (x.grad!.toArray() as number[]).forEach((g, i) => assert.ok(Math.abs(g - want[i]!) < 1e-4 * want[i]!));
  });

  test('a whole training step in a scope leaves only parameters, grads and the loss value', () => {
    const w = fm.randn([4, 1], { requiresGrad: true });
    const xb = fm.randn([8, 4]);
    const yb = fm.randn([8, 1]);
    const before = live;
    const lossValue = fm.scope(() => {
      const loss = xb.matmul(w).sub(yb).square().mean();
      loss.backward();
      fm.noGrad(() => w.sub_(w.grad!.mul(0.1)));
      return loss.item();
    });
    assert.ok(Number.isFinite(lossValue));
    assert.equal(w.isDisposed, false);
    assert.ok(live - before <= 1, `live storage grew by ${live - before} (at most w.grad may stay)`);
  });

  test('a leaf gradient let go of inside the scope (p.grad = null) is disposed with it; one still held, or returned, is kept', () => {
    const w = fm.randn([3, 4], { requiresGrad: true });
    const v = fm.randn([4], { requiresGrad: true });
    const x = fm.randn([5, 3]);
    const before = live;
    let dropped: fm.Tensor | null = null;
    let returned: fm.Tensor | null = null;
    const kept = fm.scope(() => {
      // w's gradient comes through a transpose: a view of the product the backward made.
      x.matmul(w).mul(v).sum().backward();
      dropped = w.grad;
      w.grad = null;
      returned = v.grad;
      v.grad = null;
      return returned;
    });
    assert.equal(dropped!.isDisposed, true, 'dropped inside the scope: disposed');
    assert.equal(kept, returned);
    assert.equal(returned!.isDisposed, false, 'returned: kept');
    assert.ok(live - before <= 1, `live storage grew by ${live - before} (only the returned gradient may stay)`);
    // Held when the scope closes: kept, and dropping it afterwards (outside any scope) leaves it to the collector.
    fm.scope(() => x.matmul(w).sum().backward());
    const held = w.grad!;
    assert.equal(held.isDisposed, false);
    w.grad = null;
    assert.equal(held.isDisposed, false);
    // Nested scopes: the inner one keeps what the leaf holds; the outer one disposes it once dropped.
    let inner: fm.Tensor | null = null;
    fm.scope(() => {
      fm.scope(() => x.matmul(w).sum().backward());
      inner = w.grad;
      assert.equal(inner!.isDisposed, false);
      w.grad = null;
    });
    assert.equal(inner!.isDisposed, true);
  });

  test('zeroGrad at the top of a scoped step disposes the gradients the last step made (live storage flat); one returned from the scope, or made outside any, is left alone', () => {
    fm.manualSeed(0);
    const model = new fm.nn.Linear(4, 3);
    const opt = new fm.optim.SGD(model.parameters(), { lr: 0.1 });
    const x = fm.randn([5, 4]);
    const step = () =>
      fm.scope(() => {
        opt.zeroGrad();
        model.forward(x).square().sum().backward();
        opt.step();
      });
    step();
    const before = live;
    // The weight's gradient is a view (of the product the backward made transposed): it goes with its base.
    const weightGrad = model.weight.grad!;
    assert.ok(weightGrad.base !== null);
    for (let i = 0; i < 50; i++) step();
    assert.equal(live, before, `live storage went from ${before} to ${live} over 50 steps`);
    assert.equal(weightGrad.isDisposed, true);
    assert.throws(() => weightGrad.toArray(), (e: unknown) => e instanceof fm.ValueError && /\[3, 4\] float32 tensor was disposed/.test((e as Error).message));
    // Module.zeroGrad does the same; a gradient the scope returned is the caller's.
    const returned = fm.scope(() => {
      opt.zeroGrad();
      model.forward(x).sum().backward();
      return model.bias!.grad!;
    });
    const dropped = model.weight.grad!;
    model.zeroGrad();
    assert.equal(dropped.isDisposed, true);
    assert.equal(returned.isDisposed, false);
    assert.deepEqual(returned.toArray(), [5, 5, 5]);
    // Made outside any scope: left to the collector, as PyTorch leaves a gradient someone still holds.
    model.forward(x).sum().backward();
    const outside = model.bias!.grad!;
    opt.zeroGrad();
    assert.equal(outside.isDisposed, false);
    assert.deepEqual(outside.toArray(), [5, 5, 5]);
    // The caller's, and so left alone by zeroGrad: one keep() exempted, a view of the weight's
    // gradient returned (its memory is the base's), gradients a later scope returned.
    const backward = () => model.forward(x).sum().backward();
    const kept = fm.scope(() => {
      backward();
      return fm.keep(model.bias!.grad!) && null;
    });
    assert.equal(kept, null);
    const keptBias = model.bias!.grad!;
    opt.zeroGrad();
    assert.deepEqual(keptBias.toArray(), [5, 5, 5]);
    const weightT = fm.scope(() => {
      backward();
      return model.weight.grad!.T;
    });
    opt.zeroGrad();
    assert.deepEqual(weightT.shape, [4, 3]);
    assert.equal(weightT.isDisposed, false);
    assert.deepEqual(weightT.toArray(), x.sum(0).unsqueeze(1).expand([4, 3]).toArray());
    fm.scope(backward);
    const later = fm.scope(() => [model.weight.grad!, model.bias!.grad!]);
    opt.zeroGrad();
    assert.deepEqual(later[1]!.toArray(), [5, 5, 5]);
    assert.deepEqual(later[0]!.toArray(), x.sum(0).unsqueeze(0).expand([3, 4]).toArray());
  });

  test('gradients accumulate over scoped micro-steps in place, as PyTorch without create_graph: the same tensor, live storage flat', () => {
    const w = fm.randn([8, 4], { requiresGrad: true });
    const x = fm.randn([3, 8]);
    const micro = () => fm.scope(() => x.matmul(w).square().sum().backward());
    micro();
    const first = w.grad!;
    const before = live;
    for (let i = 0; i < 20; i++) micro();
    assert.equal(live, before, `live storage went from ${before} to ${live} over 20 accumulating steps`);
    assert.equal(w.grad, first, 'the same tensor holds the sum');
    const want = fm.noGrad(() => x.T.matmul(x.matmul(w)).mul(2 * 21));
    assertClose(first, want.toArray(), { rtol: 1e-5, atol: 1e-4 });
    // zeroGrad({ setToNone: false }) keeps the tensor too: a reference stays valid.
    const opt = new fm.optim.SGD([w], { lr: 0.1 });
    opt.zeroGrad({ setToNone: false });
    micro();
    assert.equal(w.grad, first);
    assertClose(first, fm.noGrad(() => x.T.matmul(x.matmul(w)).mul(2)).toArray(), { rtol: 1e-5, atol: 1e-5 });
    // With create_graph the sum is a new tensor with a graph: the old one, left by a closed scope, goes.
    fm.scope(() => x.matmul(w).square().sum().backward(undefined, { createGraph: true }));
    assert.notEqual(w.grad, first);
    assert.equal(first.isDisposed, true);
    assert.equal(w.grad!.requiresGrad, true);
    w.grad = null;
  });

  test('a .grad the user sets inside a scope is held as backward\'s are: kept past the scope while held, disposed when let go of inside it', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    fm.scope(() => {
      w.mul(4).sum().backward();
      w.grad = w.grad!.div(2); // a new tensor, made in the scope
    });
    assert.deepEqual(w.grad!.toArray(), [2, 2]);
    let dropped: fm.Tensor | null = null;
    fm.scope(() => {
      dropped = fm.ones([2]);
      w.grad = dropped;
      w.grad = null;
    });
    assert.equal(dropped!.isDisposed, true);
  });

  test('keep() on a view of a gradient keeps the gradient (and the base it views) past zeroGrad', () => {
    const model = new fm.nn.Linear(4, 3);
    const opt = new fm.optim.SGD(model.parameters(), { lr: 0.1 });
    const x = fm.randn([5, 4]);
    let flat: fm.Tensor | null = null;
    let weightT: fm.Tensor | null = null;
    fm.scope(() => {
      model.forward(x).sum().backward();
      flat = fm.keep(model.bias!.grad!.reshape([-1]));
      weightT = fm.keep(model.weight.grad!.T);
    });
    opt.zeroGrad();
    assert.deepEqual(flat!.toArray(), [5, 5, 5]);
    assert.deepEqual(weightT!.toArray(), x.sum(0).unsqueeze(1).expand([4, 3]).toArray());
  });

  test('a gradient that module.to() moves inside a scope is held by its parameter, so it outlives the scope', () => {
    const m = new fm.nn.Linear(2, 2);
    m.forward(fm.ones([1, 2])).sum().backward();
    fm.scope(() => {
      m.to('float64');
    });
    assert.equal(m.weight.grad!.dtype, 'float64');
    assert.deepEqual(m.weight.grad!.toArray(), [[1, 1], [1, 1]]);
    assert.deepEqual(m.bias!.grad!.toArray(), [1, 1]);
  });

  test('the .grad of a leaf made by backward inside a scope outlives the scope', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    fm.scope(() => w.mul(3).sum().backward());
    assert.equal(w.grad!.isDisposed, false);
    assert.deepEqual(w.grad!.toArray(), [3, 3]);
    w.mul(3).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [6, 6]);
  });
});

describe('the graph lets go of saved tensors', () => {
  test('after backward, a second backward raises (saved tensors were freed)', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const loss = x.exp().mul(x).sum();
    loss.backward();
    assert.throws(() => loss.backward(), (e: unknown) => e instanceof fm.AutogradError && /second time/.test((e as Error).message));
    const again = x.exp().mul(x).sum();
    again.backward(undefined, { retainGraph: true });
    again.backward(); // retained once, so this one runs
    assert.throws(() => again.backward(), fm.AutogradError);
  });

  test('a saved intermediate becomes collectable after backward, not before', { skip: noGc }, async () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const make = () => {
      const h = x.mul(2).exp(); // exp saves its output h; the user keeps no reference
      return { ref: new WeakRef(h), loss: h.sum() };
    };
    const { ref, loss } = make();
    await collect();
    assert.ok(ref.deref() !== undefined, 'held by the graph before backward');
    loss.backward();
    await collect();
    assert.equal(ref.deref(), undefined, 'released by backward');

    const kept = make();
    kept.loss.backward(undefined, { retainGraph: true });
    await collect();
    assert.ok(kept.ref.deref() !== undefined, 'retainGraph keeps it');
  });

  test('a 200-step training loop does not grow the heap', { skip: noGc }, async () => {
    fm.manualSeed(0);
    const X = fm.randn([64, 16]);
    const trueW = fm.randn([16, 1]);
    const Y = fm.noGrad(() => X.matmul(trueW).add(0.5));
    const w = fm.zeros([16, 1], { requiresGrad: true });
    const b = fm.zeros([1], { requiresGrad: true });
    const lr = 0.1;
    const losses: number[] = [];
    const graphs: WeakRef<fm.Tensor>[] = [];
    const step = () => {
      const loss = X.matmul(w).add(b).sub(Y).square().mean();
      loss.backward();
      fm.noGrad(() => {
        w.sub_(w.grad!.mul(lr));
        b.sub_(b.grad!.mul(lr));
      });
      w.grad = null;
      b.grad = null;
      losses.push(loss.item());
      graphs.push(new WeakRef(loss));
    };
    // Warm up until the JIT and inline caches settle: the heap grows by a few hundred KB
    // over the first few hundred steps whatever the code does.
    for (let i = 0; i < 300; i++) step();
    // heapUsed after a full collection still moves by +-300 KB between readings (JIT code and
    // feedback), so take the best of three 200-step windows: a leak grows the heap in every one.
    const windows: { heap: number; buffers: number }[] = [];
    for (let k = 0; k < 3; k++) {
      graphs.length = 0;
      await collect();
      const m0 = process.memoryUsage();
      for (let i = 0; i < 200; i++) step();
      await collect();
      const m1 = process.memoryUsage();
      windows.push({ heap: m1.heapUsed - m0.heapUsed, buffers: m1.arrayBuffers - m0.arrayBuffers });
      // Nothing holds on to a step's graph once the step is over.
      const alive = graphs.filter((r) => r.deref() !== undefined).length;
      assert.ok(alive <= 1, `${alive} of 200 step graphs are still reachable`);
      if (windows.at(-1)!.heap < 512 * 1024) break;
    }
    assert.ok(losses.at(-1)! < losses[0]! * 0.01, `the loop trains: ${losses[0]} -> ${losses.at(-1)}`);
    const heapGrowth = Math.min(...windows.map((w) => w.heap));
    const bufferGrowth = Math.min(...windows.map((w) => w.buffers));
    // Keeping each step's graph alive adds about 800 KB per window.
    assert.ok(heapGrowth < 512 * 1024, `heapUsed grew by ${windows.map((w) => w.heap).join(', ')} bytes in 200-step windows`);
    assert.ok(bufferGrowth < 64 * 1024, `arrayBuffers grew by ${bufferGrowth} bytes over 200 steps`);
  });

  test('the same loop inside scope() keeps live storage flat', () => {
    const X = fm.randn([32, 8]);
    const Y = fm.randn([32, 1]);
    const w = fm.zeros([8, 1], { requiresGrad: true });
    const run = () =>
      fm.scope(() => {
        const loss = X.matmul(w).sub(Y).square().mean();
        const [g] = fm.autograd.grad(loss, [w]);
        fm.noGrad(() => w.sub_(g!.mul(0.05)));
        return loss.item();
      });
    run();
    const before = live;
    let first = 0;
    let last = 0;
    for (let i = 0; i < 200; i++) {
      last = run();
      if (i === 0) first = last;
    }
    assert.equal(live, before, `live storage went from ${before} to ${live}`);
    assert.ok(last < first);
  });
});

test('cpu buffers freed by dispose() are reused, and a view of a freed tensor raises rather than read reused memory', () => {
  const a = fm.zeros([4096], { dtype: 'float32' });
  const v = a.narrow(0, 0, 10);
  const buffer = (a.storage.handle as unknown as { data: Float32Array }).data.buffer;
  a.dispose();
  const b = fm.ones([4096], { dtype: 'float32' });
  assert.equal((b.storage.handle as unknown as { data: Float32Array }).data.buffer, buffer, 'the same buffer again');
  assert.throws(() => v.toArray(), /was disposed and cannot be used/);
  assert.throws(() => v.add(1), /was disposed and cannot be used/);
  assert.equal(b.sum().item(), 4096);
});
