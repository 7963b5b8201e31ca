// The Tensor itself: creation, dtypes and PyTorch's type promotion, conversions, views that share
// storage, contiguity, basic indexing, reading values back, and printing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import * as fm from '../src/index.js';
import { assertClose } from './helpers.js';

const i64 = { dtype: 'int64' } as const;

describe('creation', () => {
  test('tensor() infers shape and dtype from nested JS values', () => {
    const t = fm.tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, 'float32');
    assert.equal(String(t.device), 'cpu');
    assert.equal(t.ndim, 2);
    assert.equal(t.dim(), 2);
    assert.equal(t.numel(), 6);
    assert.equal(t.size(-1), 3);
    assert.deepEqual(t.size(), [2, 3]);
    assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.strides, [3, 1]);
    assert.equal(t.isLeaf, true);
    assert.equal(t.requiresGrad, false);
    assert.equal(t.grad, null);
  });

  test('booleans give bool, bigints give int64, typed arrays keep their type', () => {
    assert.equal(fm.tensor([true, false]).dtype, 'bool');
    assert.equal(fm.tensor([1n, 2n]).dtype, 'int64');
    assert.equal(fm.tensor(new Float64Array([1, 2])).dtype, 'float64');
    assert.equal(fm.tensor(new Int32Array([1, 2])).dtype, 'int32');
    assert.equal(fm.tensor(new Uint8Array([1, 2])).dtype, 'uint8');
    assert.equal(fm.tensor(new BigInt64Array([1n])).dtype, 'int64');
    assert.equal(fm.tensor(new Float32Array([1])).dtype, 'float32');
  });

  test('tensor() copies a typed array rather than aliasing it', () => {
    const src = new Float32Array([1, 2, 3]);
    const t = fm.tensor(src);
    src[0] = 100;
    assert.deepEqual(t.toArray(), [1, 2, 3]);
  });

  test('an explicit dtype converts the values', () => {
    assert.deepEqual(fm.tensor([1.7, -1.7, 3], i64).toArray(), [1, -1, 3]);
    assert.deepEqual(fm.tensor([0, 2, -0.5], { dtype: 'bool' }).toArray(), [false, true, true]);
    assert.equal(fm.tensor([1, 2], { dtype: 'float64' }).dtype, 'float64');
    assert.equal(fm.tensor(new Float32Array([1.5]), { dtype: 'int32' }).dtype, 'int32');
  });

  test('a scalar gives a 0-dim tensor and [] a 1-D empty one', () => {
    const s = fm.tensor(3.5);
    assert.deepEqual(s.shape, []);
    assert.equal(s.ndim, 0);
    assert.equal(s.numel(), 1);
    assert.equal(s.toArray(), 3.5);
    assert.equal(s.item(), 3.5);
    const e = fm.tensor([]);
    assert.deepEqual(e.shape, [0]);
    assert.equal(e.numel(), 0);
    assert.deepEqual(e.toArray(), []);
    assert.deepEqual(fm.tensor([[], []]).shape, [2, 0]);
  });

  test('requiresGrad option makes a leaf that requires grad', () => {
    const t = fm.tensor([1, 2], { requiresGrad: true });
    assert.equal(t.requiresGrad, true);
    assert.equal(t.isLeaf, true);
    assert.equal(t.gradFn, null);
  });

  test('zeros, ones, full, empty, eye', () => {
    assert.deepEqual(fm.zeros([2, 2]).toArray(), [[0, 0], [0, 0]]);
    assert.deepEqual(fm.ones([3], i64).toArray(), [1, 1, 1]);
    assert.equal(fm.ones([3], i64).dtype, 'int64');
    assert.deepEqual(fm.full([2], 7).toArray(), [7, 7]);
    assert.equal(fm.full([2], 7).dtype, 'float32');
    assert.equal(fm.full([2], true).dtype, 'bool');
    assert.deepEqual(fm.empty([2, 3]).shape, [2, 3]);
    assert.deepEqual(fm.eye(2).toArray(), [[1, 0], [0, 1]]);
    assert.deepEqual(fm.eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);
    assert.deepEqual(fm.zeros([0, 3]).shape, [0, 3]);
    assert.deepEqual(fm.zeros([]).shape, []);
  });

  test('arange is int64 for whole numbers and float otherwise; linspace includes end', () => {
    const a = fm.arange(5);
    assert.equal(a.dtype, 'int64');
    assert.deepEqual(a.toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(fm.arange(2, 8, 3).toArray(), [2, 5]);
    const f = fm.arange(0, 1, 0.25);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [0, 0.25, 0.5, 0.75]);
    assert.deepEqual(fm.arange(5, 0, -2).toArray(), [5, 3, 1]);
    assert.equal(fm.arange(3, { dtype: 'float64' }).dtype, 'float64');
    const l = fm.linspace(0, 1, 5);
    assert.deepEqual(l.toArray(), [0, 0.25, 0.5, 0.75, 1]);
    assert.equal(l.dtype, 'float32');
  });

  test('the *Like forms copy shape, dtype and device; new* take dtype from the tensor', () => {
    const x = fm.tensor([[1, 2, 3]], { dtype: 'float64' });
    for (const t of [fm.zerosLike(x), fm.onesLike(x), fm.fullLike(x, 2), fm.emptyLike(x)]) {
      assert.deepEqual(t.shape, [1, 3]);
      assert.equal(t.dtype, 'float64');
      assert.equal(t.device, x.device);
    }
    assert.equal(fm.zerosLike(x, { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(fm.fullLike(x, 2).toArray(), [[2, 2, 2]]);
    assert.equal(x.newZeros([4]).dtype, 'float64');
    assert.deepEqual(x.newOnes([2]).toArray(), [1, 1]);
    assert.deepEqual(x.newFull([1], 9).toArray(), [9]);
    assert.equal(x.newTensor([1, 2]).dtype, 'float64');
  });

  test('setDefaultDtype changes the float dtype of new tensors', () => {
    assert.equal(fm.getDefaultDtype(), 'float32');
    fm.setDefaultDtype('float64');
    try {
      assert.equal(fm.tensor([1.5]).dtype, 'float64');
      assert.equal(fm.zeros([1]).dtype, 'float64');
      assert.equal(fm.arange(0, 1, 0.5).dtype, 'float64');
      // A Python float scalar stands for the default dtype in promotion.
      assert.equal(fm.tensor([1], i64).add(0.5).dtype, 'float64');
    } finally {
      fm.setDefaultDtype('float32');
    }
    assert.equal(fm.tensor([1.5]).dtype, 'float32');
    assert.throws(() => fm.setDefaultDtype('int32'), fm.DTypeError);
  });
});

describe('dtypes and type promotion (PyTorch rules)', () => {
  const t = (dtype: fm.DType, ndim = 1) => (ndim === 0 ? fm.ones([], { dtype }) : fm.ones([2], { dtype }));

  test('promoteTypes follows the lattice bool < uint8 < int32 < int64 < float16, bfloat16 < float32 < float64', () => {
    assert.deepEqual([...fm.dtypes], ['bool', 'uint8', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'float64']);
    const cases: [fm.DType, fm.DType, fm.DType][] = [
      ['bool', 'bool', 'bool'],
      ['bool', 'uint8', 'uint8'],
      ['uint8', 'int32', 'int32'],
      ['int32', 'int64', 'int64'],
      ['int64', 'float32', 'float32'],
      ['float32', 'float64', 'float64'],
      ['bool', 'float32', 'float32'],
      ['int32', 'float32', 'float32'],
    ];
    for (const [a, b, r] of cases) {
      assert.equal(fm.promoteTypes(a, b), r, `${a} + ${b}`);
      assert.equal(fm.promoteTypes(b, a), r, `${b} + ${a}`);
    }
  });

  test('dimensioned tensors promote with each other', () => {
    assert.equal(t('int32').add(t('int64')).dtype, 'int64');
    assert.equal(t('int64').add(t('float32')).dtype, 'float32');
    assert.equal(t('float32').add(t('float64')).dtype, 'float64');
    assert.equal(t('bool').add(t('uint8')).dtype, 'uint8');
    assert.equal(t('uint8').mul(t('int32')).dtype, 'int32');
    assert.equal(t('bool').add(t('bool')).dtype, 'bool');
  });

  test('python-number scalars only matter when of a higher category', () => {
    assert.equal(t('int32').add(1).dtype, 'int32');
    assert.equal(t('uint8').add(1).dtype, 'uint8');
    assert.equal(t('int64').add(2.5).dtype, 'float32');
    assert.equal(t('int32').mul(0.5).dtype, 'float32');
    assert.equal(t('float64').add(1).dtype, 'float64');
    assert.equal(t('float32').add(1e300).dtype, 'float32');
    assert.equal(t('bool').add(1).dtype, 'int64');
    assert.equal(t('bool').add(1.5).dtype, 'float32');
    assert.equal(t('bool').logicalAnd(true).dtype, 'bool');
    assert.deepEqual(t('int32').add(2.5).toArray(), [3.5, 3.5]);
    assert.equal(fm.resultType([{ dtype: 'int32', ndim: 1 }, 2]), 'int32');
    assert.equal(fm.resultType([{ dtype: 'int32', ndim: 1 }, 2.5]), 'float32');
    assert.equal(fm.resultType([{ dtype: 'bool', ndim: 1 }, true]), 'bool');
  });

  test('zero-dim tensors behave like scalars, but keep their own dtype in a higher category', () => {
    // torch.ones(2, dtype=float32) + torch.tensor(1., dtype=float64) -> float32
    assert.equal(t('float32').add(t('float64', 0)).dtype, 'float32');
    // torch.ones(2, dtype=int32) + torch.tensor(1) -> int32
    assert.equal(t('int32').add(t('int64', 0)).dtype, 'int32');
    // torch.ones(2, dtype=int64) + torch.tensor(1., dtype=float64) -> float64
    assert.equal(t('int64').add(t('float64', 0)).dtype, 'float64');
    assert.equal(t('int32').add(t('float32', 0)).dtype, 'float32');
    // Two zero-dim tensors promote normally.
    assert.equal(t('int64', 0).add(t('float64', 0)).dtype, 'float64');
    assert.equal(t('float32', 0).add(t('float64', 0)).dtype, 'float64');
    // Zero-dim tensor beats a plain number of the same category.
    assert.equal(t('float64', 0).add(1.5).dtype, 'float64');
    assert.equal(t('int32', 0).add(7).dtype, 'int32');
    assert.equal(t('int64', 0).add(2.5).dtype, 'float32');
    assert.deepEqual(t('int64', 0).add(t('float64', 0)).shape, []);
    // A zero-dim tensor of a higher category decides: bool tensor + int64 zero-dim -> int64.
    assert.equal(t('bool').add(t('int64', 0)).dtype, 'int64');
    assert.equal(t('bool').add(t('float64', 0)).dtype, 'float64');
    assert.equal(t('uint8').add(t('int64', 0)).dtype, 'uint8');
    assert.equal(fm.resultType([{ dtype: 'int32', ndim: 1 }, { dtype: 'float64', ndim: 0 }, 2.5]), 'float64');
  });

  test('true division and float math on ints give the default float; comparisons give bool', () => {
    const a = fm.tensor([1, 2, 3], i64);
    assert.equal(a.div(2).dtype, 'float32');
    assert.deepEqual(a.div(2).toArray(), [0.5, 1, 1.5]);
    assert.equal(a.div(a).dtype, 'float32');
    assert.equal(a.div(2, { roundingMode: 'floor' }).dtype, 'int64');
    assert.equal(a.exp().dtype, 'float32');
    assert.equal(a.gt(1).dtype, 'bool');
    assert.deepEqual(a.gt(1).toArray(), [false, true, true]);
    assert.equal(a.sum().dtype, 'int64');
    assert.equal(fm.tensor([true, true, false]).sum().dtype, 'int64');
    assert.equal(fm.tensor([true, true, false]).sum().item(), 2);
  });

  test('in-place ops keep the dtype of self', () => {
    const f = fm.ones([2]);
    f.add_(fm.ones([2], { dtype: 'float64' }));
    assert.equal(f.dtype, 'float32');
    const i = fm.ones([2], { dtype: 'int32' });
    i.mul_(3);
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(i.toArray(), [3, 3]);
    const c = fm.zeros([2], { dtype: 'int64' });
    c.copy_(fm.tensor([1.9, -1.9]));
    assert.deepEqual(c.toArray(), [1, -1], 'copy_ casts freely, truncating');
  });

  test('.to(dtype) converts (float to int truncates toward zero), and returns self when nothing changes', () => {
    const x = fm.tensor([-1.7, -0.5, 0, 0.5, 2.9]);
    assert.deepEqual(x.to('int64').toArray(), [-1, 0, 0, 0, 2]);
    assert.deepEqual(x.to('int32').toArray(), [-1, 0, 0, 0, 2]);
    assert.deepEqual(x.to('bool').toArray(), [true, true, false, true, true]);
    assert.equal(x.to('float32'), x);
    assert.equal(x.to('cpu'), x);
    assert.equal(x.to('cpu', { dtype: 'float64' }).dtype, 'float64');
    const y = x.to('float64');
    assert.notEqual(y.storage, x.storage);
    assert.equal(y.dtype, 'float64');
    assertClose(y, [-1.7, -0.5, 0, 0.5, 2.9], { rtol: 1e-6 });
    assert.deepEqual(fm.tensor([true, false]).to('float32').toArray(), [1, 0]);
    assert.deepEqual(fm.tensor([NaN]).bool().toArray(), [true]);
  });

  test('float/double/long/int/bool shorthands', () => {
    const x = fm.tensor([1.5, -2.5]);
    assert.equal(x.double().dtype, 'float64');
    assert.equal(x.double().float().dtype, 'float32');
    assert.equal(x.long().dtype, 'int64');
    assert.equal(x.int().dtype, 'int32');
    assert.equal(x.bool().dtype, 'bool');
    assert.deepEqual(x.long().toArray(), [1, -2]);
    assert.equal(x.cpu(), x);
  });

  test('casting keeps autograd: gradient flows back in the source dtype', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const y = x.double().mul(3).sum();
    assert.equal(y.dtype, 'float64');
    y.backward();
    assert.equal(x.grad!.dtype, 'float32');
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
  });
});

describe('views share storage and copy nothing', () => {
  const base = () => fm.arange(12, { dtype: 'float32' }).reshape([3, 4]);

  const views: [string, (x: fm.Tensor) => fm.Tensor][] = [
    ['view', (x) => x.view([4, 3])],
    ['view -1', (x) => x.view([-1])],
    ['reshape (contiguous)', (x) => x.reshape([2, 6])],
    ['transpose', (x) => x.transpose(0, 1)],
    ['T', (x) => x.T],
    ['mT', (x) => x.mT],
    ['permute', (x) => x.permute([1, 0])],
    ['narrow', (x) => x.narrow(1, 1, 2)],
    ['select', (x) => x.select(0, 1)],
    ['unsqueeze', (x) => x.unsqueeze(0)],
    ['squeeze', (x) => x.unsqueeze(1).squeeze(1)],
    ['flatten', (x) => x.flatten()],
    ['unflatten', (x) => x.unflatten(1, [2, 2])],
    ['expand', (x) => x.unsqueeze(0).expand([2, 3, 4])],
    ['movedim', (x) => x.movedim(0, 1)],
    ['index basic', (x) => x.index(1, '1:')],
    ['split', (x) => x.split(2, 1)[1]!],
    ['chunk', (x) => x.chunk(3, 0)[2]!],
    ['unbind', (x) => x.unbind(1)[3]!],
    ['detach', (x) => x.detach()],
  ];

  for (const [name, make] of views) {
    test(`${name}: same storage, writes through the view change the base`, () => {
      const x = base();
      const v = make(x);
      assert.equal(v.storage, x.storage, 'shares storage');
      const before = x.toArray();
      // Writing through the view (a fresh fill) shows in the base...
      fm.noGrad(() => v.fill_(-1));
      const after = x.data() as Float32Array;
      assert.ok(Array.from(after).some((e) => e === -1), 'base changed');
      assert.notDeepEqual(x.toArray(), before);
      // ...and writing the base shows in the view.
      fm.noGrad(() => x.fill_(5));
      assert.ok(Array.from(v.data() as Float32Array).every((e) => e === 5), 'view sees base writes');
    });
  }

  test('writing one element through a view changes exactly that element of the base', () => {
    const x = base();
    const v = x.T.narrow(0, 2, 1); // column 2 of x, as a 1 x 3 row
    assert.deepEqual(v.toArray(), [[2, 6, 10]]);
    v.index(0, 1).add_(100);
    assert.deepEqual(x.toArray(), [[0, 1, 2, 3], [4, 5, 106, 7], [8, 9, 10, 11]]);
    x.index(2, 2).mul_(-1);
    assert.deepEqual(v.toArray(), [[2, 106, -10]]);
  });

  test('views of views keep pointing at the original base', () => {
    const x = base();
    const v = x.T.narrow(0, 1, 2).index(':', 0);
    assert.equal(v.base, x.base ?? x);
    assert.equal(v.storage, x.storage);
    assert.deepEqual(v.toArray(), [1, 2]);
  });

  test('view strides and offsets are PyTorch\'s', () => {
    const x = base();
    assert.deepEqual(x.T.strides, [1, 4]);
    assert.equal(x.select(0, 2).offset, 8);
    assert.deepEqual(x.index(':', '::2').strides, [4, 2]);
    assert.deepEqual(x.unsqueeze(0).expand([5, 3, 4]).strides.slice(0, 1), [0]);
  });
});

describe('contiguity, clone, detach', () => {
  test('isContiguous and contiguous()', () => {
    const x = fm.arange(6, { dtype: 'float32' }).reshape([2, 3]);
    assert.equal(x.isContiguous(), true);
    assert.equal(x.contiguous(), x, 'contiguous() of a contiguous tensor is itself');
    const t = x.T;
    assert.equal(t.isContiguous(), false);
    const c = t.contiguous();
    assert.equal(c.isContiguous(), true);
    assert.notEqual(c.storage, x.storage);
    assert.deepEqual(c.toArray(), [[0, 3], [1, 4], [2, 5]]);
    assert.deepEqual(c.strides, [2, 1]);
    assert.equal(x.index(':', '::2').isContiguous(), false);
    assert.equal(x.narrow(0, 1, 1).isContiguous(), true);
    assert.equal(fm.ones([3, 1]).expand([3, 4]).isContiguous(), false);
    // Size-1 dims do not break contiguity whatever their stride.
    assert.equal(x.unsqueeze(1).isContiguous(), true);
  });

  test('reshape of a non-viewable layout copies; view of it raises', () => {
    const x = fm.arange(6, { dtype: 'float32' }).reshape([2, 3]).T;
    const r = x.reshape([6]);
    assert.notEqual(r.storage, x.storage);
    assert.deepEqual(r.toArray(), [0, 3, 1, 4, 2, 5]);
    assert.throws(() => x.view([6]), fm.ShapeError);
  });

  test('clone copies the data into new storage and records autograd', () => {
    const x = fm.tensor([1, 2, 3], { requiresGrad: true });
    const c = x.clone();
    assert.notEqual(c.storage, x.storage);
    assert.deepEqual(c.toArray(), [1, 2, 3]);
    assert.equal(c.requiresGrad, true);
    assert.ok(c.gradFn !== null);
    c.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 2, 2]);
    const plain = fm.tensor([1, 2]);
    const pc = plain.clone();
    pc.add_(10);
    assert.deepEqual(plain.toArray(), [1, 2]);
    assert.equal(pc.isContiguous(), true);
    assert.deepEqual(fm.arange(4).reshape([2, 2]).T.clone().toArray(), [[0, 2], [1, 3]]);
  });

  test('detach shares storage, drops the graph, and detach_ cuts in place', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    const d = y.detach();
    assert.equal(d.storage, y.storage);
    assert.equal(d.requiresGrad, false);
    assert.equal(d.gradFn, null);
    assert.equal(d.isLeaf, true);
    d.add_(1);
    assert.deepEqual(y.toArray(), [3, 5]);
    const z = x.mul(3);
    z.detach_();
    assert.equal(z.requiresGrad, false);
    assert.equal(z.gradFn, null);
  });
});

describe('basic indexing', () => {
  const x = () => fm.arange(24).reshape([2, 3, 4]);

  test('integers select (and remove the dim), negatives count from the end', () => {
    assert.deepEqual(x().index(0).shape, [3, 4]);
    assert.deepEqual(x().index(1, 2).toArray(), [20, 21, 22, 23]);
    assert.equal(x().index(1, -1, -1).item(), 23);
    assert.deepEqual(x().index(-1, 0, 0).shape, []);
  });

  test('slice strings and fm.slice with steps', () => {
    assert.deepEqual(x().index(0, ':', '::2').toArray(), [[0, 2], [4, 6], [8, 10]]);
    assert.deepEqual(x().index(0, '1:', '1:3').toArray(), [[5, 6], [9, 10]]);
    assert.deepEqual(x().index(0, 0, '-2:').toArray(), [2, 3]);
    assert.deepEqual(x().index(0, 0, ':-1').toArray(), [0, 1, 2]);
    assert.deepEqual(x().index(0, 0, '1::2').toArray(), [1, 3]);
    assert.deepEqual(x().index(0, 0, fm.slice(1, null, 2)).toArray(), [1, 3]);
    assert.deepEqual(x().index(0, 0, fm.slice(null, 3)).toArray(), [0, 1, 2]);
    assert.deepEqual(x().index(0, 0, fm.slice(-3, -1)).toArray(), [1, 2]);
    // Out-of-range slice bounds clamp as in Python.
    assert.deepEqual(x().index(0, 0, '2:100').toArray(), [2, 3]);
    assert.deepEqual(x().index(0, 0, '5:').shape, [0]);
  });

  test('ellipsis and new axes', () => {
    assert.deepEqual(x().index('...', 1).toArray(), [[1, 5, 9], [13, 17, 21]]);
    assert.deepEqual(x().index(0, '...').shape, [3, 4]);
    assert.deepEqual(x().index('...').shape, [2, 3, 4]);
    assert.deepEqual(x().index(null).shape, [1, 2, 3, 4]);
    assert.deepEqual(x().index('...', null).shape, [2, 3, 4, 1]);
    assert.deepEqual(x().index(':', null, 0).shape, [2, 1, 4]);
    assert.deepEqual(x().index(fm.newaxis, '...', fm.newaxis, 0).shape, [1, 2, 3, 1]);
    assert.deepEqual(x().index(1, '...', '::3').toArray(), [[12, 15], [16, 19], [20, 23]]);
  });

  test('basic indexing returns views; advanced indexing copies', () => {
    const t = x();
    const v = t.index(1, '...', '1:');
    assert.equal(v.storage, t.storage);
    const a = t.index([0, 1], 0, 0);
    assert.notEqual(a.storage, t.storage);
    assert.deepEqual(a.toArray(), [0, 12]);
    const m = t.index(t.gt(20));
    assert.deepEqual(m.toArray(), [21, 22, 23]);
    assert.deepEqual(t.index(0, fm.tensor([2, 0], i64)).toArray(), [[8, 9, 10, 11], [0, 1, 2, 3]]);
  });
});

describe('reading values', () => {
  test('item() of one-element tensors', () => {
    assert.equal(fm.tensor(2.5).item(), 2.5);
    assert.equal(fm.tensor([[7]], i64).item(), 7);
    assert.equal(typeof fm.tensor([3], i64).item(), 'number');
    assert.equal(fm.tensor([2 ** 52 + 1], i64).item(), 2 ** 52 + 1);
    assert.equal(fm.arange(10).index(7).item(), 7, 'item() of a view reads at its offset');
  });

  test('item() of a bool tensor is 1 or 0 (a number, as documented)', () => {
    assert.equal(fm.tensor([true]).item(), 1);
    assert.equal(fm.tensor([false]).item(), 0);
  });

  test('toArray() gives nested arrays in logical order, booleans for bool, numbers for int64', () => {
    assert.deepEqual(fm.arange(6).reshape([2, 3]).T.toArray(), [[0, 3], [1, 4], [2, 5]]);
    assert.deepEqual(fm.tensor([true, false]).toArray(), [true, false]);
    assert.equal(fm.tensor(1, i64).toArray(), 1);
    assert.deepEqual(fm.zeros([2, 0]).toArray(), [[], []]);
  });

  test('data() gives a new row-major typed array of the dtype', () => {
    const f = fm.tensor([[1, 2], [3, 4]]);
    const d = f.data();
    assert.ok(d instanceof Float32Array);
    assert.deepEqual(Array.from(f.T.data() as Float32Array), [1, 3, 2, 4]);
    d[0] = 99;
    assert.equal(f.toArray().toString(), '1,2,3,4', 'data() is a copy');
    assert.ok(fm.tensor([1], { dtype: 'float64' }).data() instanceof Float64Array);
    assert.ok(fm.tensor([1], i64).data() instanceof BigInt64Array);
    assert.ok(fm.tensor([1], { dtype: 'int32' }).data() instanceof Int32Array);
    assert.ok(fm.tensor([true]).data() instanceof Uint8Array);
    assert.deepEqual(Array.from(fm.arange(10).index('2::3').data() as BigInt64Array), [2n, 5n, 8n]);
  });
});

describe('printing', () => {
  test('String(t) is PyTorch\'s repr in Fiamma\'s spelling', () => {
    assert.equal(String(fm.tensor([1.5])), 'tensor([1.5000])');
    assert.equal(String(fm.tensor([1, 2])), 'tensor([1., 2.])');
    assert.equal(String(fm.tensor([[1, 2], [3, 4]])), 'tensor([[1., 2.],\n        [3., 4.]])');
    assert.equal(String(fm.tensor([1, 2], i64)), 'tensor([1, 2])');
    assert.equal(String(fm.tensor([1, 2], { dtype: 'float64' })), 'tensor([1., 2.], dtype=float64)');
    assert.equal(String(fm.tensor([1, 2], { dtype: 'int32' })), 'tensor([1, 2], dtype=int32)');
    assert.equal(String(fm.tensor(3.25)), 'tensor(3.2500)');
    assert.equal(String(fm.tensor([])), 'tensor([])');
    assert.match(String(fm.tensor([true, false])), /^tensor\(\[\s*true, false\]\)$/);
  });

  test('requiresGrad and gradFn appear as suffixes', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    assert.equal(String(x), 'tensor([1., 2.], requiresGrad=true)');
    assert.equal(String(x.mul(2)), 'tensor([2., 4.], gradFn=<MulBackward>)');
  });

  test('util.inspect and template strings use the same text; a disposed tensor says so', () => {
    const x = fm.tensor([0.5, 0.25]);
    assert.equal(inspect(x), 'tensor([0.5000, 0.2500])');
    assert.equal(`${x}`, 'tensor([0.5000, 0.2500])');
    assert.match(inspect({ w: x }), /w: tensor\(\[0\.5000, 0\.2500\]\)/);
    assert.equal(String(x.T), 'tensor([0.5000, 0.2500])');
    assert.equal(String(fm.arange(6).reshape([2, 3]).T), 'tensor([[0, 3],\n        [1, 4],\n        [2, 5]])');
    x.dispose();
    assert.equal(inspect(x), 'tensor(<disposed>, shape=[2])');
  });

  test('print options change precision', () => {
    fm.setPrintOptions({ precision: 2 });
    try {
      assert.equal(String(fm.tensor([1.23456])), 'tensor([1.23])');
      assert.equal(fm.getPrintOptions().precision, 2);
    } finally {
      fm.setPrintOptions({ profile: 'default' });
    }
    assert.equal(String(fm.tensor([1.23456])), 'tensor([1.2346])');
  });
});

test('tril and triu keep the input dtype (bool stays bool)', () => {
  const m = fm.ones([3, 3], { dtype: 'bool' });
  assert.equal(m.triu(1).dtype, 'bool');
  assert.deepEqual(m.triu(1).toArray(), [[false, true, true], [false, false, true], [false, false, false]]);
  assert.equal(fm.ones([2, 2], { dtype: 'int32' }).tril().dtype, 'int32');
});

test('typed arrays without a dtype of their own widen (Int8/Int16/Uint16 to int32, Uint32 to int64)', () => {
  assert.equal(fm.tensor(new Int16Array([-1, 300])).dtype, 'int32');
  assert.deepEqual(fm.tensor(new Int16Array([-1, 300])).toArray(), [-1, 300]);
  assert.deepEqual(fm.tensor(new Uint32Array([4000000000])).toArray(), [4000000000]);
  assert.equal(fm.tensor(new Uint32Array([1])).dtype, 'int64');
  assert.deepEqual(fm.tensor(new Int8Array([-5])).toArray(), [-5]);
  assert.throws(() => fm.tensor(new DataView(new ArrayBuffer(4)) as unknown as Float32Array), (e: Error) => e instanceof fm.DTypeError && /cannot make a tensor from a DataView/.test(e.message));
});

test("Device.of gives one object per device, whatever the spelling ('cuda' is the current GPU)", () => {
  assert.equal(fm.Device.of('cuda'), fm.Device.of('cuda:0'));
  assert.equal(fm.Device.of('cuda:00'), fm.Device.of('cuda:0'));
  assert.equal(fm.Device.of('cpu'), fm.Device.of(fm.Device.of('cpu')));
  assert.notEqual(fm.Device.of('cuda:1'), fm.Device.of('cuda:0'));
});
