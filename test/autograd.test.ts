// Autograd semantics: backward and autograd.grad options, higher-order gradients, grad modes,
// hooks, custom Functions, gradient accumulation and broadcasting, in-place ops, anomaly mode.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { assertClose } from './helpers.js';

type FunctionCtx = fm.autograd.FunctionCtx;

const f64 = { dtype: 'float64', requiresGrad: true } as const;
const leaf = (v: fm.NestedArray | number[], opts: { dtype?: fm.DType } = {}) =>
  fm.tensor(v as number[], { requiresGrad: true, ...opts });

describe('backward', () => {
  test('scalar backward without a gradient', () => {
    const x = leaf([1, 2, 3]);
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    assert.equal(x.grad!.requiresGrad, false);
    assert.equal(x.grad!.gradFn, null);
    assert.equal(x.grad!.dtype, 'float32');
  });

  test('non-scalar backward with an explicit gradient (vector-Jacobian product)', () => {
    const x = leaf([1, 2, 3]);
    const y = x.mul(x); // dy/dx = diag(2x)
    y.backward(fm.tensor([1, 0.5, -1]));
    assert.deepEqual(x.grad!.toArray(), [2, 2, -6]);
  });

  test('backward of a 0-dim and a one-element non-0-dim tensor', () => {
    const x = leaf([2]);
    x.mul(3).backward(); // shape [1]: one element, allowed as in PyTorch
    assert.deepEqual(x.grad!.toArray(), [3]);
    const s = fm.tensor(2, { requiresGrad: true });
    s.square().backward();
    assert.equal(s.grad!.item(), 4);
    assert.deepEqual(s.grad!.shape, []);
  });

  test('.grad accumulates across two backwards', () => {
    const x = leaf([1, 2]);
    x.mul(3).sum().backward();
    x.square().sum().backward();
    assert.deepEqual(x.grad!.toArray(), [3 + 2, 3 + 4]);
  });

  test('retainGraph lets backward run twice through one graph, accumulating', () => {
    const x = leaf([1, 2]);
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    const once = x.grad!.toArray() as number[];
    y.backward();
    assertClose(x.grad!, once.map((v) => 2 * v));
    assert.throws(() => y.backward(), fm.AutogradError, 'the graph was freed by the second, unretained backward');
  });

  test('a gradient fed to backward is not aliased by the leaf\'s .grad', () => {
    const x = leaf([1, 2]);
    const g = fm.tensor([1, 1]);
    x.backward(g);
    g.add_(5);
    assert.deepEqual(x.grad!.toArray(), [1, 1]);
  });

  test('leaves that do not require grad get no .grad; non-leaves do not keep one', () => {
    const x = leaf([1, 2]);
    const c = fm.tensor([3, 4]);
    const h = x.mul(c);
    h.sum().backward();
    assert.equal(c.grad, null);
    assert.equal(h.grad, null);
    assert.equal(h.isLeaf, false);
    assert.deepEqual(x.grad!.toArray(), [3, 4]);
  });
});

describe('higher-order gradients', () => {
  test('d2/dx2 of x^3 is 6x (createGraph through backward)', () => {
    const x = leaf([1, 2, -3], { dtype: 'float64' });
    const y = x.pow(3).sum();
    y.backward(undefined, { createGraph: true });
    const g = x.grad!;
    assert.ok(g.requiresGrad && g.gradFn !== null, 'the first gradient is itself in a graph');
    assertClose(g, [3, 12, 27]);
    x.grad = null;
    g.sum().backward();
    assertClose(x.grad!, [6, 12, -18]);
  });

  test('d2/dx2 and d3/dx3 of sin via autograd.grad with createGraph', () => {
    const vals = [0.1, 1, 2.5];
    const x = fm.tensor(vals, f64);
    const [d1] = fm.autograd.grad(x.sin().sum(), [x], { createGraph: true });
    assertClose(d1!, vals.map(Math.cos));
    const [d2] = fm.autograd.grad(d1!.sum(), [x], { createGraph: true });
    assertClose(d2!, vals.map((v) => -Math.sin(v)));
    const [d3] = fm.autograd.grad(d2!.sum(), [x]);
    assertClose(d3!, vals.map((v) => -Math.cos(v)));
    assert.equal(x.grad, null, 'autograd.grad leaves .grad alone');
  });

  test('Hessian-vector product through matmul: H = 2 W^T W for f = |W x|^2', () => {
    const W = fm.tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64' });
    const x = fm.tensor([0.5, -1], f64);
    const v = fm.tensor([1, 2], { dtype: 'float64' });
    const f = W.matmul(x).square().sum();
    const [g] = fm.autograd.grad(f, [x], { createGraph: true });
    const WtW = W.T.matmul(W);
    assertClose(g!, WtW.matmul(fm.tensor([0.5, -1], { dtype: 'float64' })).mul(2).toArray());
    const [hv] = fm.autograd.grad(g!.mul(v).sum(), [x]);
    assertClose(hv!, WtW.matmul(v).mul(2).toArray());
    assertClose(hv!, [2 * (35 * 1 + 44 * 2), 2 * (44 * 1 + 56 * 2)]);
  });

  test('gradgradcheck of a composite through matmul and tanh', () => {
    const a = fm.randn([2, 3], f64);
    const b = fm.randn([3, 2], f64);
    assert.equal(fm.gradgradcheck((p, q) => p!.matmul(q!).tanh(), [a, b]), true);
  });
});

describe('retainGrad and requiresGrad_', () => {
  test('retainGrad keeps the gradient of a non-leaf', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2);
    h.retainGrad();
    assert.equal(h.retainsGrad, true);
    h.square().sum().backward();
    assert.deepEqual(h.grad!.toArray(), [4, 8]); // d(h^2)/dh = 2h
    assert.deepEqual(x.grad!.toArray(), [8, 16]);
  });

  test('retainGrad accumulates like a leaf across backwards', () => {
    const x = leaf([1]);
    const h = x.mul(1);
    h.retainGrad();
    const y = h.mul(5).sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    assert.deepEqual(h.grad!.toArray(), [10]);
  });

  test('requiresGrad_ turns a leaf on and off; only floats may require grad', () => {
    const x = fm.tensor([1, 2]);
    assert.equal(x.requiresGrad_(), x);
    assert.equal(x.requiresGrad, true);
    x.square().sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4]);
    x.requiresGrad_(false);
    assert.equal(x.square().requiresGrad, false);
    assert.throws(() => fm.tensor([1], { dtype: 'int64' }).requiresGrad_(), fm.AutogradError);
    const h = leaf([1]).mul(2);
    assert.throws(() => h.requiresGrad_(false), /only change requiresGrad of leaf/);
  });

  test('ops on integer tensors never require grad', () => {
    const x = leaf([1.5, 2.5]);
    assert.equal(x.argmax().requiresGrad, false);
    assert.equal(x.gt(2).requiresGrad, false);
    assert.equal(x.long().requiresGrad, false);
  });
});

describe('grad mode', () => {
  test('noGrad records nothing and restores the mode, even on throw', () => {
    const x = leaf([1, 2]);
    assert.equal(fm.isGradEnabled(), true);
    const y = fm.noGrad(() => {
      assert.equal(fm.isGradEnabled(), false);
      return x.mul(2);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.equal(fm.isGradEnabled(), true);
    assert.throws(() => fm.noGrad(() => {
      throw new Error('boom');
    }), /boom/);
    assert.equal(fm.isGradEnabled(), true);
  });

  test('enableGrad inside noGrad records again; nesting restores each level', () => {
    const x = leaf([1]);
    fm.noGrad(() => {
      const y = fm.enableGrad(() => {
        assert.equal(fm.isGradEnabled(), true);
        return x.mul(2);
      });
      assert.equal(fm.isGradEnabled(), false);
      assert.equal(y.requiresGrad, true);
      const z = fm.noGrad(() => x.mul(3));
      assert.equal(z.requiresGrad, false);
      assert.equal(y.sum().requiresGrad, false, 'back in noGrad, nothing is recorded');
      fm.enableGrad(() => y.sum().backward());
    });
    assert.deepEqual(x.grad!.toArray(), [2]);
  });

  test('setGradEnabled switches recording globally', () => {
    const x = leaf([1]);
    fm.setGradEnabled(false);
    try {
      assert.equal(fm.isGradEnabled(), false);
      assert.equal(x.mul(2).requiresGrad, false);
    } finally {
      fm.setGradEnabled(true);
    }
    assert.equal(x.mul(2).requiresGrad, true);
  });

  test('async noGrad keeps the mode across awaits and restores it when the promise settles', async () => {
    const x = leaf([1]);
    const p = fm.noGrad(async () => {
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(fm.isGradEnabled(), false);
      return x.mul(2);
    });
    const y = await p;
    assert.equal(y.requiresGrad, false);
    assert.equal(fm.isGradEnabled(), true);
    await assert.rejects(
      fm.noGrad(async () => {
        await Promise.resolve();
        throw new Error('async boom');
      }),
      /async boom/,
    );
    assert.equal(fm.isGradEnabled(), true);
  });

  test('the backward pass itself records nothing unless createGraph', () => {
    const x = leaf([1, 2]);
    x.square().sum().backward();
    assert.equal(x.grad!.requiresGrad, false);
    assert.equal(fm.isGradEnabled(), true);
  });
});

describe('autograd.grad', () => {
  test('returns gradients without touching .grad; gradOutputs for non-scalars', () => {
    const x = leaf([1, 2, 3]);
    const y = x.mul(x);
    const [g] = fm.autograd.grad(y, [x], { gradOutputs: [fm.tensor([1, 2, 3])] });
    assert.deepEqual(g!.toArray(), [2, 8, 18]);
    assert.equal(x.grad, null);
    const [g2] = fm.autograd.grad(x.mul(2), x, { gradOutputs: fm.tensor([1, 1, 1]) });
    assert.deepEqual(g2!.toArray(), [2, 2, 2]);
  });

  test('several inputs and outputs', () => {
    const a = leaf([2]);
    const b = leaf([3]);
    const [ga, gb] = fm.autograd.grad([a.mul(b).sum(), a.sum()], [a, b]);
    assert.deepEqual(ga!.toArray(), [4]); // b + 1
    assert.deepEqual(gb!.toArray(), [2]);
  });

  test('allowUnused returns null for inputs not in the graph; otherwise it raises', () => {
    const a = leaf([1]);
    const unused = leaf([1]);
    const y = a.mul(2).sum();
    const [ga, gu] = fm.autograd.grad(y, [a, unused], { allowUnused: true, retainGraph: true });
    assert.deepEqual(ga!.toArray(), [2]);
    assert.equal(gu, null);
    assert.throws(() => fm.autograd.grad(y, [a, unused]), /input 1 .* was not used in the graph/);
  });

  test('gradient of a non-leaf input', () => {
    const x = leaf([1, 2]);
    const h = x.mul(3);
    const [gh] = fm.autograd.grad(h.square().sum(), [h]);
    assert.deepEqual(gh!.toArray(), [6, 12]);
  });
});

describe('hooks', () => {
  test('registerHook on a leaf replaces its gradient; remove() unregisters it', () => {
    const x = leaf([1, 2]);
    const seen: number[][] = [];
    const h1 = x.registerHook((g) => g.mul(2));
    const h2 = x.registerHook((g) => void seen.push(g.toArray() as number[]));
    x.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2]);
    assert.deepEqual(seen, [[2, 2]], 'hooks run in order, each seeing the previous result');
    h1.remove();
    h2.remove();
    x.grad = null;
    x.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [1, 1]);
    assert.equal(seen.length, 1);
  });

  test('a hook on a non-leaf changes the gradient that flows further back', () => {
    const x = leaf([1, 2]);
    const h = x.mul(3);
    h.registerHook((g) => g.neg());
    h.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [-3, -3]);
  });

  test('a hook on a tensor that does not require grad raises', () => {
    assert.throws(() => fm.tensor([1]).registerHook((g) => g), fm.AutogradError);
  });
});

class Cube extends fm.autograd.Function {
  static override forward(ctx: FunctionCtx, x: fm.Tensor): fm.Tensor {
    ctx.saveForBackward(x);
    return x.pow(3);
  }
  static override backward(ctx: FunctionCtx, g: fm.Tensor): fm.Tensor {
    const [x] = ctx.savedTensors;
    return g.mul(x!.square()).mul(3);
  }
}

/** Two outputs, sin and cos, and a non-tensor argument. */
class ScaledSinCos extends fm.autograd.Function {
  static override forward(ctx: FunctionCtx, x: fm.Tensor, scale: number): fm.Tensor[] {
    ctx.saveForBackward(x);
    ctx.scale = scale;
    return [x.sin().mul(scale), x.cos().mul(scale)];
  }
  static override backward(ctx: FunctionCtx, gs: fm.Tensor, gc: fm.Tensor): (fm.Tensor | null)[] {
    const [x] = ctx.savedTensors;
    const s = ctx.scale as number;
    return [gs.mul(x!.cos()).sub(gc.mul(x!.sin())).mul(s), null];
  }
}

describe('custom autograd.Function', () => {
  test('static forward/backward with saveForBackward', () => {
    const x = leaf([1, 2, -1]);
    const y = Cube.apply(x);
    assert.deepEqual(y.toArray(), [1, 8, -1]);
    assert.equal(y.requiresGrad, true);
    assert.match(String(y), /gradFn=<CubeBackward>/);
    y.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [3, 12, 3]);
  });

  test('forward records no graph inside; without grad the output is a plain tensor', () => {
    let inner: boolean | undefined;
    class Probe extends fm.autograd.Function {
      static override forward(_ctx: FunctionCtx, x: fm.Tensor): fm.Tensor {
        inner = fm.isGradEnabled();
        return x.mul(2);
      }
      static override backward(_ctx: FunctionCtx, g: fm.Tensor): fm.Tensor {
        return g.mul(2);
      }
    }
    const out = Probe.apply(leaf([1]));
    assert.equal(inner, false);
    assert.equal(out.gradFn!.name, 'Probe');
    const plain = Probe.apply(fm.tensor([1]));
    assert.equal(plain.requiresGrad, false);
    assert.equal(fm.noGrad(() => Probe.apply(leaf([1]))).requiresGrad, false);
  });

  test('needsInputGrad and multi-input Function', () => {
    let needs: boolean[] = [];
    class MulAdd extends fm.autograd.Function {
      static override forward(ctx: FunctionCtx, a: fm.Tensor, b: fm.Tensor): fm.Tensor {
        needs = ctx.needsInputGrad;
        ctx.saveForBackward(a, b);
        return a.mul(b).add(a);
      }
      static override backward(ctx: FunctionCtx, g: fm.Tensor): (fm.Tensor | null)[] {
        const [a, b] = ctx.savedTensors;
        return [ctx.needsInputGrad[0] ? g.mul(b!.add(1)) : null, ctx.needsInputGrad[1] ? g.mul(a!) : null];
      }
    }
    const a = leaf([2, 3]);
    const b = fm.tensor([5, 7]);
    MulAdd.apply(a, b).sum().backward();
    assert.deepEqual(needs, [true, false]);
    assert.deepEqual(a.grad!.toArray(), [6, 8]);
    assert.equal(b.grad, null);
  });

  test('a multi-output Function: gradients of both outputs, and zeros for an unused one', () => {
    const vals = [0.3, -1.2];
    const x = fm.tensor(vals, f64);
    const [s, c] = ScaledSinCos.apply(x, 2);
    assertClose(s!, vals.map((v) => 2 * Math.sin(v)));
    assert.equal(c!.outputNr, 1);
    s!.sum().add(c!.sum()).backward();
    assertClose(x.grad!, vals.map((v) => 2 * (Math.cos(v) - Math.sin(v))));
    x.grad = null;
    const [, c2] = ScaledSinCos.apply(x, 2);
    c2!.sum().backward();
    assertClose(x.grad!, vals.map((v) => -2 * Math.sin(v)));
  });

  test('gradcheck of custom Functions (single and multi-output)', () => {
    const x = fm.tensor([0.3, -1.2, 2], f64);
    assert.equal(fm.gradcheck((t) => Cube.apply(t!), [x]), true);
    assert.equal(fm.gradcheck((t) => ScaledSinCos.apply(t!, 1.5), [x]), true);
    assert.equal(fm.autograd.gradcheck((t) => {
      const [s, c] = ScaledSinCos.apply(t!, 0.5);
      return s!.mul(c!);
    }, [x]), true);
  });

  test('gradcheck catches a wrong backward', () => {
    class Wrong extends fm.autograd.Function {
      static override forward(_ctx: FunctionCtx, x: fm.Tensor): fm.Tensor {
        return x.square();
      }
      static override backward(_ctx: FunctionCtx, g: fm.Tensor): fm.Tensor {
        return g.mul(3);
      }
    }
    const x = fm.tensor([1, 2], f64);
    assert.equal(fm.gradcheck((t) => Wrong.apply(t!), [x], { raiseException: false }), false);
    assert.throws(() => fm.gradcheck((t) => Wrong.apply(t!), [x]), /Jacobian mismatch/);
  });

  test('a backward that returns the wrong number of gradients raises', () => {
    class Bad extends fm.autograd.Function {
      static override forward(_ctx: FunctionCtx, x: fm.Tensor, _k: number): fm.Tensor {
        return x.mul(1);
      }
      static override backward(_ctx: FunctionCtx, g: fm.Tensor): fm.Tensor {
        return g;
      }
    }
    const y = Bad.apply(leaf([1]), 3);
    assert.throws(() => y.sum().backward(), /backward returned 1 gradients, but forward took 2 arguments/);
  });
});

describe('gradient accumulation inside the graph', () => {
  test('a tensor used twice gets the sum of both gradients', () => {
    const x = leaf([1, 2, 3]);
    x.mul(x).add(x).sum().backward(); // 2x + 1
    assert.deepEqual(x.grad!.toArray(), [3, 5, 7]);
    const y = leaf([4]);
    y.add(y).sum().backward();
    assert.deepEqual(y.grad!.toArray(), [2]);
  });

  test('diamond graph: two paths from one intermediate', () => {
    const x = leaf([2]);
    const h = x.square(); // 4
    h.exp().add(h.mul(3)).sum().backward(); // (e^h + 3) * 2x
    assertClose(x.grad!, [(Math.exp(4) + 3) * 4], { rtol: 1e-5 });
  });

  test('broadcasting is undone in gradients', () => {
    const a = leaf([[1], [2], [3]]); // [3, 1]
    const b = leaf([10, 20, 30, 40]); // [4]
    const s = fm.tensor(2, { requiresGrad: true }); // []
    a.mul(b).add(s).sum().backward();
    assert.deepEqual(a.grad!.shape, [3, 1]);
    assert.deepEqual(a.grad!.toArray(), [[100], [100], [100]]);
    assert.deepEqual(b.grad!.shape, [4]);
    assert.deepEqual(b.grad!.toArray(), [6, 6, 6, 6]);
    assert.deepEqual(s.grad!.shape, []);
    assert.equal(s.grad!.item(), 12);
  });

  test('broadcast through expand and a leading dim', () => {
    const b = leaf([[1, 2]]); // [1, 2]
    b.expand([2, 3, 2]).sum().backward();
    assert.deepEqual(b.grad!.toArray(), [[6, 6]]);
  });

  test('the .grad of two leaves fed by the same gradient are independent tensors', () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    a.add(b).sum().backward();
    assert.notEqual(a.grad!.storage, b.grad!.storage);
    a.grad!.add_(10);
    assert.deepEqual(a.grad!.toArray(), [11, 11]);
    assert.deepEqual(b.grad!.toArray(), [1, 1]);
    b.grad!.zero_();
    assert.deepEqual(a.grad!.toArray(), [11, 11]);
  });

  test('the .grad of a leaf fed directly by the seed is independent of other leaves', () => {
    const a = leaf([1]);
    const b = leaf([2]);
    fm.autograd.backward(a.add(b), fm.tensor([1]));
    b.grad!.mul_(7);
    assert.deepEqual(a.grad!.toArray(), [1]);
  });
});

describe('in-place ops', () => {
  test('add_ and mul_ on leaves inside noGrad (an SGD step)', () => {
    const w = leaf([1, 2]);
    w.square().sum().backward();
    const v0 = w.storage.version;
    fm.noGrad(() => {
      w.add_(w.grad!.mul(-0.25));
      w.mul_(2);
    });
    assert.deepEqual(w.toArray(), [1, 2]); // (w - w/2) * 2
    assert.equal(w.storage.version, v0 + 2);
    assert.equal(w.isLeaf, true);
    assert.equal(w.requiresGrad, true);
    assert.equal(w.gradFn, null);
    w.grad!.zero_();
    w.mul(3).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [3, 3]);
  });

  test('in-place ops on a non-leaf inside the graph give the out-of-place gradients', () => {
    const vals = [0.5, -1, 2];
    const c = fm.tensor([3, -2, 0.5], { dtype: 'float64' });
    const x1 = fm.tensor(vals, f64);
    const h1 = x1.mul(2);
    h1.add_(1);
    h1.mul_(c);
    h1.pow_(2);
    h1.sigmoid_();
    h1.sum().backward();

    const x2 = fm.tensor(vals, f64);
    x2.mul(2).add(1).mul(c).pow(2).sigmoid().sum().backward();

    assert.equal(h1.isLeaf, false);
    assertClose(x1.grad!, x2.grad!.toArray());
  });

  test('in-place with a tensor argument that requires grad sends gradient to both', () => {
    const a = leaf([1, 2]);
    const b = leaf([3, 4]);
    const h = a.mul(1);
    h.mul_(b);
    h.sum().backward();
    assert.deepEqual(a.grad!.toArray(), [3, 4]);
    assert.deepEqual(b.grad!.toArray(), [1, 2]);
  });

  test('in-place on a tensor that does not require grad with an argument that does', () => {
    const w = leaf([2, 3]);
    const h = fm.zeros([2]);
    h.add_(w);
    assert.equal(h.requiresGrad, true);
    h.mul(w).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [4, 6]);
  });

  test('changing a saved tensor in place makes backward raise (version counter)', () => {
    const x = leaf([1, 2]);
    const y = x.exp(); // exp saves its output
    y.mul_(2);
    assert.throws(() => y.sum().backward(), (e: unknown) => e instanceof fm.AutogradError && /modified by an in-place operation/.test((e as Error).message));
    const z = leaf([1, 2]);
    const s = z.sin(); // sin saves its input
    fm.noGrad(() => z.add_(1));
    assert.throws(() => s.sum().backward(), /version 1, expected version 0/);
  });

  test('changes that do not touch saved tensors are fine', () => {
    const x = leaf([1, 2]);
    const h = x.mul(2); // saves nothing of h
    const y = h.add(1);
    h.add_(100); // add saved nothing either
    y.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2]);
  });
});

describe('detectAnomaly', () => {
  test('names the forward op and points at the user\'s line', () => {
    const x = fm.tensor([0, 1], { requiresGrad: true });
    let err: unknown;
    fm.autograd.detectAnomaly(() => {
      const y = x.sqrt(); // d sqrt at 0 is Inf
      try {
        y.sum().backward();
      } catch (e) {
        err = e;
      }
    });
    assert.ok(err instanceof fm.AnomalyError, `got ${String(err)}`);
    assert.ok(err instanceof fm.AutogradError);
    const msg = (err as Error).message;
    assert.match(msg, /^sqrt: /);
    assert.match(msg, /NaN or Inf/);
    assert.match(msg, /autograd\.test\.(js|ts)/, 'contains the stack of the forward call in this file');
    assert.equal(fm.autograd.isAnomalyEnabled(), false);
  });

  test('without anomaly mode the Inf gradient is returned quietly', () => {
    const x = fm.tensor([0, 1], { requiresGrad: true });
    x.sqrt().sum().backward();
    assert.deepEqual(x.grad!.toArray(), [Infinity, 0.5]);
  });
});
