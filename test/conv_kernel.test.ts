// The fused convolution (Backend.conv2d / conv2dBackward: C kernels packing an image's windows
// straight into the GEMM) against the composite it replaces (im2col and GEMM), which runs here on
// a cpu backend without the fused methods: outputs and the gradients of x, weight and bias over
// strides, padding (symmetric, 'same' with an even kernel, wider than the kernel's reach),
// dilation, groups, 1-D, both float dtypes, 1 and 2 threads, only some inputs requiring grad and
// non-contiguous inputs; which path runs (batches smaller than the thread count take the
// composite); finite-difference gradients of first and second order (the backward in ops when a
// graph of it is recorded). The fixtures of test/conv.test.ts (PyTorch's values) run on this path
// too wherever their batch reaches the thread count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import type { Backend } from '../src/backend/interface.js';
import { assertClose, withCpuBackend } from './helpers.js';

const native = fm.zeros([1]).storage.backend as Backend;
/** A cpu backend without the fused kernels: convolutions on its tensors run as the composite. */
const plain = { ...native, conv2d: undefined, conv2dBackward: undefined } as Backend;
const on = <T>(backend: Backend, f: () => T): T => withCpuBackend(backend, native, f);
const nativeKernels = fm.cpuKernelsInUse() === 'native';

interface Case {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: fm.ConvOptions;
  /** Which inputs require grad (x, w, bias); all by default. */
  grad?: [boolean, boolean, boolean];
  /** x is made as the transpose of its last two dims (a non-contiguous view). */
  transposed?: boolean;
}

const cases: Case[] = [
  { name: '3x3 valid', x: [4, 3, 9, 11], w: [5, 3, 3, 3], bias: true },
  { name: 'LeNet conv2 [64, 32, 13, 13]', x: [64, 32, 13, 13], w: [64, 32, 3, 3], bias: true },
  { name: 'one input channel', x: [8, 1, 28, 28], w: [32, 1, 3, 3], bias: true },
  { name: 'stride 2x3, padding 1x2, groups 2', x: [3, 4, 10, 7], w: [6, 2, 3, 2], bias: true, opts: { stride: [2, 3], padding: [1, 2], groups: 2 } },
  { name: 'dilation 2x3, padding 2x1', x: [2, 6, 8, 9], w: [4, 6, 2, 3], opts: { padding: [2, 1], dilation: [2, 3] } },
  { name: "padding 'same', even kernel (more padding after)", x: [3, 3, 7, 6], w: [4, 3, 4, 2], bias: true, opts: { padding: 'same' } },
  { name: 'padding wider than the kernel reaches', x: [2, 2, 5, 5], w: [3, 2, 2, 2], bias: true, opts: { padding: 3 } },
  { name: 'strided, padded, grouped 17x17', x: [5, 8, 17, 17], w: [16, 2, 3, 3], bias: true, opts: { stride: 2, padding: 1, groups: 4 } },
  { name: 'depthwise', x: [3, 6, 9, 9], w: [6, 1, 3, 3], bias: true, opts: { padding: 1, groups: 6 } },
  { name: 'many channels (k past one block)', x: [2, 300, 6, 6], w: [20, 300, 3, 3], opts: { padding: 1 } },
  { name: 'many output channels (rows past one block)', x: [2, 8, 6, 6], w: [230, 8, 3, 3], bias: true },
  { name: '1x1 kernel', x: [3, 5, 4, 6], w: [7, 5, 1, 1], bias: true },
  { name: 'kernel as large as the input', x: [2, 3, 5, 4], w: [2, 3, 5, 4], bias: true },
  { name: 'weight and bias only', x: [4, 3, 8, 8], w: [5, 3, 3, 3], bias: true, grad: [false, true, true] },
  { name: 'x only', x: [4, 3, 8, 8], w: [5, 3, 3, 3], bias: true, grad: [true, false, false] },
  { name: 'transposed x', x: [3, 4, 7, 9], w: [5, 4, 3, 3], bias: true, opts: { padding: 1 }, transposed: true },
];
const conv1dCases: Case[] = [
  { name: 'conv1d stride 2, padding 3, dilation 2', x: [3, 3, 40], w: [7, 3, 5], bias: true, opts: { stride: 2, padding: 3, dilation: 2 } },
  { name: "conv1d 'same', groups 2", x: [4, 4, 13], w: [6, 2, 4], bias: true, opts: { padding: 'same', groups: 2 } },
];

interface Result { y: number[]; gx: number[] | null; gw: number[] | null; gb: number[] | null; op: string }

/** y and the gradients of a weighted sum of y, on `backend`. */
function run(backend: Backend, c: Case, dtype: 'float32' | 'float64', conv: typeof fm.conv2d): Result {
  return on(backend, () => {
    fm.manualSeed(7);
    const [gx, gw, gb] = c.grad ?? [true, true, true];
    const base = fm.randn(c.transposed ? [...c.x.slice(0, -2), c.x.at(-1)!, c.x.at(-2)!] : c.x, { dtype });
    const leaf = base.requiresGrad_(gx);
    const x = c.transposed ? leaf.transpose(-1, -2) : leaf;
    const w = fm.randn(c.w, { dtype }).mul(0.3).requiresGrad_(gw);
    const b = c.bias ? fm.randn([c.w[0]!], { dtype }).requiresGrad_(gb) : null;
    const y = conv(x, w, b, c.opts);
    const r = fm.randn(y.shape, { dtype });
    y.mul(r).sum().backward();
    const arr = (t: fm.Tensor | null | undefined) => (t ? (t.toArray() as number[]).flat(4) : null);
    return { y: (y.toArray() as number[]).flat(4), gx: arr(leaf.grad), gw: arr(w.grad), gb: arr(b?.grad), op: y.gradFn?.name ?? '' };
  });
}

function same(a: Result, b: Result, tol: number, msg: string): void {
  assertClose(a.y, b.y, { rtol: tol, atol: tol, msg: `${msg} y` });
  for (const k of ['gx', 'gw', 'gb'] as const) {
    assert.equal(a[k] === null, b[k] === null, `${msg} ${k} presence`);
    if (a[k]) assertClose(a[k]!, b[k]!, { rtol: tol, atol: tol, msg: `${msg} ${k}` });
  }
}

for (const threads of [1, 2]) {
  for (const [list, conv] of [[cases, fm.conv2d], [conv1dCases, fm.conv1d]] as const) {
    for (const c of list) {
      test(`conv kernel = composite: ${c.name}, ${threads} thread(s)`, { skip: !nativeKernels && 'the native kernels are not in use' }, () => {
        const before = fm.getNumThreads();
        fm.setNumThreads(threads);
        try {
          for (const [dtype, tol] of [['float32', 2e-4], ['float64', 1e-10]] as const) {
            const fused = run(native, c, dtype, conv as typeof fm.conv2d);
            const composite = run(plain, c, dtype, conv as typeof fm.conv2d);
            // (conv1d's output is the 2-D kernel's with its height squeezed out: a reshape.)
            if (conv === fm.conv2d) assert.equal(fused.op, c.x[0]! >= threads ? 'conv2d' : composite.op, 'the fused kernel runs for batches of at least one image per thread');
            assert.notEqual(composite.op, 'conv2d');
            same(fused, composite, tol, `${c.name} ${dtype}`);
          }
        } finally {
          fm.setNumThreads(before);
        }
      });
    }
  }
}

test('a batch smaller than the thread count runs as the composite', { skip: !nativeKernels && 'the native kernels are not in use' }, () => {
  const before = fm.getNumThreads();
  fm.setNumThreads(2);
  try {
    const w = fm.randn([4, 3, 3, 3]);
    assert.notEqual(fm.conv2d(fm.randn([1, 3, 8, 8]).requiresGrad_(), w).gradFn?.name, 'conv2d');
    assert.equal(fm.conv2d(fm.randn([2, 3, 8, 8]).requiresGrad_(), w).gradFn?.name, 'conv2d');
  } finally {
    fm.setNumThreads(before);
  }
});

test('conv kernel: finite-difference gradients of first and second order (float64)', () => {
  fm.manualSeed(3);
  const x = fm.randn([2, 4, 6, 5], { dtype: 'float64' }).requiresGrad_();
  const w = fm.randn([6, 2, 3, 2], { dtype: 'float64' }).requiresGrad_();
  const b = fm.randn([6], { dtype: 'float64' }).requiresGrad_();
  const f = (x: fm.Tensor, w: fm.Tensor, b: fm.Tensor) => fm.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
  assert.ok(fm.autograd.gradcheck(f, [x, w, b]));
  assert.ok(fm.autograd.gradgradcheck(f, [x, w, b]));
});

test('conv kernel: second derivatives equal the composite\'s', { skip: !nativeKernels && 'the native kernels are not in use' }, () => {
  const second = (backend: Backend) => on(backend, () => {
    fm.manualSeed(5);
    const x = fm.randn([3, 2, 5, 5], { dtype: 'float64' }).requiresGrad_();
    const w = fm.randn([4, 2, 3, 3], { dtype: 'float64' }).requiresGrad_();
    const y = fm.conv2d(x, w, null, { padding: 1 });
    const [gx] = fm.autograd.grad(y.square().sum(), [x], { createGraph: true });
    const [gw] = fm.autograd.grad(gx!.square().sum(), [w]);
    return [(gx!.toArray() as number[]).flat(3), (gw!.toArray() as number[]).flat(3)];
  });
  const [fused, composite] = [second(native), second(plain)];
  assertClose(fused[0]!, composite[0]!, { rtol: 1e-10, atol: 1e-10, msg: 'gx' });
  assertClose(fused[1]!, composite[1]!, { rtol: 1e-10, atol: 1e-10, msg: 'd(|gx|^2)/dw' });
});

test('the forward kernel splits an image\'s columns when there are fewer images than threads (called directly)', { skip: !nativeKernels && 'the native kernels are not in use' }, () => {
  const before = fm.getNumThreads();
  fm.setNumThreads(2);
  try {
    for (const [x, w, opts] of [[[1, 3, 12, 11], [5, 3, 3, 3], { padding: 1 }], [[1, 4, 30, 30], [6, 2, 3, 3], { stride: 2, groups: 2 }]] as const) {
      fm.manualSeed(11);
      const xt = fm.randn([...x]);
      const wt = fm.randn([...w]);
      const b = fm.randn([w[0]]);
      const want = on(plain, () => fm.conv2d(xt, wt, b, opts));
      const got = fm.empty(want.shape);
      const s = 'stride' in opts ? opts.stride : 1;
      const p = 'padding' in opts ? opts.padding : 0;
      native.conv2d!(got.view_(), xt.view_(), wt.view_(), b.view_(), { stride: [s, s], padding: [p, p], dilation: [1, 1], groups: 'groups' in opts ? opts.groups : 1, out: [want.shape[2]!, want.shape[3]!] });
      assertClose(got, want.toArray(), { rtol: 1e-4, atol: 1e-4 });
    }
  } finally {
    fm.setNumThreads(before);
  }
});

test('convolutions with no input channels or an empty batch give the composite\'s zeros (plus bias)', () => {
  const w = fm.randn([3, 0, 2, 2]).requiresGrad_();
  const b = fm.tensor([1, 2, 3]).requiresGrad_();
  const y = fm.conv2d(fm.randn([4, 0, 5, 5]), w, b);
  assert.deepEqual(y.shape, [4, 3, 4, 4]);
  assertClose(y.sum([0, 2, 3]), [64, 128, 192]);
  y.sum().backward();
  assertClose(b.grad!, [64, 64, 64]);
  assert.deepEqual(fm.conv2d(fm.randn([0, 2, 5, 5]), fm.randn([3, 2, 2, 2])).shape, [0, 3, 4, 4]);
  if (!nativeKernels) return;
  // The kernels themselves, called directly: products and sums of no terms.
  const geom = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, out: [4, 4] } as const;
  const out = fm.full([2, 3, 4, 4], 7);
  native.conv2d!(out.view_(), fm.empty([2, 0, 5, 5]).view_(), fm.empty([3, 0, 2, 2]).view_(), b.detach().view_(), geom);
  assertClose(out.sum([0, 2, 3]), [32, 64, 96]);
  const [gx, gw, gb] = [fm.full([2, 0, 5, 5], 7), fm.full([3, 0, 2, 2], 7), fm.full([3], 7)];
  native.conv2dBackward!(gx.view_(), gw.view_(), gb.view_(), fm.ones([2, 3, 4, 4]).view_(), fm.empty([2, 0, 5, 5]).view_(), fm.empty([3, 0, 2, 2]).view_(), geom);
  assertClose(gb, [32, 32, 32]);
});
