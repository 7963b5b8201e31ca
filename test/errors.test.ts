// Every bad input gets a FiammaError of the right kind whose message names the op, the shapes,
// dtypes or devices involved and the reason, and whose stack starts at the user's line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { tsBackend } from '../src/backend/ts/index.js';
import { expectError as expectErrorIn } from './helpers.js';

type ErrorClass = new (...args: never[]) => fm.FiammaError;

/** expectError of ./helpers.js, with the stack's first frame in this file. */
function expectError(fn: () => unknown, cls: ErrorClass, op: string, re: RegExp): fm.FiammaError {
  return expectErrorIn(fn, cls, op, re, /errors\.test\.(js|ts)/);
}

describe('error classes', () => {
  test('one base class, subclasses by kind', () => {
    for (const cls of [fm.ShapeError, fm.DTypeError, fm.DeviceError, fm.IndexError, fm.ValueError, fm.AutogradError, fm.AnomalyError]) {
      const e = new cls('op', 'why');
      assert.ok(e instanceof fm.FiammaError);
      assert.ok(e instanceof Error);
      assert.equal(e.name, cls.name);
      assert.equal(e.message, 'op: why');
    }
    assert.ok(new fm.AnomalyError('x', 'y') instanceof fm.AutogradError);
  });
});

describe('shape errors', () => {
  test('elementwise broadcast', () => {
    expectError(() => fm.ones([2, 3]).add(fm.ones([4])), fm.ShapeError, 'add', /shapes \[2, 3\] and \[4\] cannot be broadcast together \(dim -1: 3 vs 4\)/);
    expectError(() => fm.ones([2, 3]).mul(fm.ones([3, 3])), fm.ShapeError, 'mul', /\[2, 3\] and \[3, 3\].*dim -2: 2 vs 3/);
  });

  test('matmul', () => {
    expectError(() => fm.ones([2, 3]).matmul(fm.ones([4, 5])), fm.ShapeError, 'matmul', /shapes \[2, 3\] and \[4, 5\] cannot be multiplied \(3 != 4\)/);
    expectError(() => fm.ones([3]).matmul(fm.ones([2])), fm.ShapeError, 'matmul', /\[3\] and \[2\] cannot be multiplied/);
    expectError(() => fm.ones([2, 2, 3]).matmul(fm.ones([3, 3, 1])), fm.ShapeError, 'matmul', /batch dims of \[2, 2, 3\] and \[3, 3, 1\] cannot be broadcast/);
    expectError(() => fm.ones([]).matmul(fm.ones([2])), fm.ShapeError, 'matmul', /at least 1 dim, got shapes \[\] and \[2\]/);
  });

  test('cat and stack', () => {
    expectError(() => fm.cat([fm.ones([2, 3]), fm.ones([2, 4])], 0), fm.ShapeError, 'cat', /must match except in dimension 0: tensor 0 has shape \[2, 3\], tensor 1 has shape \[2, 4\]/);
    expectError(() => fm.cat([fm.ones([2, 3]), fm.ones([3])], 1), fm.ShapeError, 'cat', /tensor 1 has shape \[3\]/);
    expectError(() => fm.stack([fm.ones([2]), fm.ones([3])]), fm.ShapeError, 'stack', /\[2\] at entry 0 and \[3\] at entry 1/);
    expectError(() => fm.cat([]), fm.ValueError, 'cat', /non-empty list/);
  });

  test('view of an incompatible size', () => {
    expectError(() => fm.ones([2, 3]).view([4]), fm.ShapeError, 'view', /shape \[4\] is invalid for input of size 6 \(shape \[2, 3\]\)/);
    expectError(() => fm.ones([2, 3]).view([-1, 4]), fm.ShapeError, 'view', /shape \[-1, 4\] is invalid for input of size 6/);
    expectError(() => fm.ones([2, 3]).view([-1, -1]), fm.ShapeError, 'view', /only one dimension can be -1/);
    expectError(() => fm.ones([2, 3]).reshape([5]), fm.ShapeError, 'reshape', /shape \[5\] is invalid for input of size 6/);
  });

  test('view of a non-viewable layout', () => {
    expectError(
      () => fm.ones([2, 3]).T.view([6]),
      fm.ShapeError,
      'view',
      /view size \[6\] is not compatible with input size \[3, 2\] and strides \[1, 3\].*use reshape\(\) instead/,
    );
  });

  test('expand, permute, in-place output shape', () => {
    expectError(() => fm.ones([2, 3]).expand([2, 4]), fm.ShapeError, 'expand', /expanded size 4 must match the existing size 3 at non-singleton dimension 1/);
    expectError(() => fm.ones([2, 3]).permute([0, 0]), fm.ShapeError, 'permute', /dims \[0, 0\] are not a permutation of the 2 dims of shape \[2, 3\]/);
    expectError(() => fm.ones([3]).add_(fm.ones([2, 3])), fm.ShapeError, 'add_', /output with shape \[3\] doesn't match the broadcast shape \[2, 3\]/);
  });
});

describe('index errors', () => {
  test('dims out of range', () => {
    const x = fm.ones([2, 3]);
    const range = /dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)/;
    expectError(() => x.sum(2), fm.IndexError, 'sum', range);
    expectError(() => x.transpose(0, 2), fm.IndexError, 'transpose', range);
    expectError(() => x.softmax(2), fm.IndexError, 'softmax', range);
    expectError(() => x.select(2, 0), fm.IndexError, 'select', range);
    expectError(() => fm.cat([x, x], 2), fm.IndexError, 'cat', range);
    expectError(() => x.unsqueeze(3), fm.IndexError, 'unsqueeze', /range of \[-3, 2\], but got 3/);
    expectError(() => x.sum(-3), fm.IndexError, 'sum', /but got -3/);
    expectError(() => x.sum([0, 0]), fm.IndexError, 'sum', /dim 0, 0 appears multiple times/);
  });

  test('size(dim) out of range', () => {
    expectError(() => fm.ones([2, 3]).size(2), fm.IndexError, 'size', /dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)/);
  });

  test('indices out of range: select, index, narrow', () => {
    const x = fm.ones([2, 3]);
    expectError(() => x.select(0, 5), fm.IndexError, 'select', /index 5 is out of bounds for dimension 0 with size 2/);
    expectError(() => x.select(1, -4), fm.IndexError, 'select', /index -4 is out of bounds for dimension 1 with size 3/);
    expectError(() => x.index(2), fm.IndexError, 'index', /index 2 is out of bounds for dimension 0 with size 2/);
    expectError(() => x.index(0, 3), fm.IndexError, 'index', /index 3 is out of bounds for dimension \d with size 3/);
    expectError(() => x.index(fm.tensor([0, 7], { dtype: 'int64' })), fm.IndexError, 'index', /index 7 is out of bounds for dimension 0 with size 2/);
    expectError(() => x.index(':', [-4]), fm.IndexError, 'index', /index -4 is out of bounds for dimension 1 with size 3/);
    expectError(() => x.index(0, 0, 0), fm.IndexError, 'index', /too many indices for tensor of dimension 2 \(got 3\)/);
    expectError(() => x.index('...', 0, '...'), fm.IndexError, 'index', /single ellipsis/);
    expectError(() => x.narrow(1, 2, 2), fm.IndexError, 'narrow', /start 2 \+ length 2 exceeds dimension 1 of size 3/);
  });

  test('an integer index after a selected dim names the dim of the original tensor', () => {
    expectError(() => fm.ones([2, 3]).index(0, 3), fm.IndexError, 'index', /index 3 is out of bounds for dimension 1 with size 3/);
  });

  test('indices out of range: gather and scatter', () => {
    const x = fm.tensor([[1, 2, 3], [4, 5, 6]]);
    expectError(() => x.gather(1, fm.tensor([[0], [3]], { dtype: 'int64' })), fm.IndexError, 'gather', /index 3 is out of bounds for dimension 1 with size 3/);
    expectError(() => x.scatter(0, fm.tensor([[5, 0, 0]], { dtype: 'int64' }), 0), fm.IndexError, 'scatter', /index 5 is out of bounds for dimension 0 with size 2/);
  });

  test('negative indices in gather are out of range', () => {
    const x = fm.tensor([[1, 2, 3], [4, 5, 6]]);
    expectError(() => x.gather(0, fm.tensor([[-1, 0, 0]], { dtype: 'int64' })), fm.IndexError, 'gather', /index -1 is out of bounds for dimension 0 with size 2/);
  });

  test('out-of-range gather messages list the inputs', () => {
    const x = fm.tensor([[1, 2, 3], [4, 5, 6]]);
    const e = expectError(() => x.gather(0, fm.tensor([[0, 2, 0]], { dtype: 'int64' })), fm.IndexError, 'gather', /index 2 is out of bounds for dimension 0 with size 2/);
    assert.match(e.message, /\[2, 3\] float32 on cpu/);
  });

  test('indexSelect errors name indexSelect and reject negative indices', () => {
    const x = fm.tensor([[1, 2, 3], [4, 5, 6]]);
    expectError(() => x.indexSelect(0, fm.tensor([0, 2], { dtype: 'int64' })), fm.IndexError, 'indexSelect', /index 2 is out of bounds for dimension 0 with size 2/);
    expectError(() => x.indexSelect(0, fm.tensor([-1], { dtype: 'int64' })), fm.IndexError, 'indexSelect', /index -1 is out of bounds/);
  });

  test('gather and scatter index shapes', () => {
    const x = fm.ones([2, 3]);
    expectError(() => x.gather(0, fm.zeros([2], { dtype: 'int64' })), fm.ShapeError, 'gather', /index \[2\] and input \[2, 3\] must have the same number of dims/);
  });
});

describe('value and dtype errors', () => {
  test('item() on a multi-element tensor', () => {
    expectError(() => fm.ones([2, 3]).item(), fm.ValueError, 'item', /a tensor with 6 elements \(shape \[2, 3\]\) cannot be converted to a number/);
    expectError(() => fm.ones([0]).item(), fm.ValueError, 'item', /0 elements/);
  });

  test('ragged nested arrays', () => {
    expectError(() => fm.tensor([[1, 2], [3]]), fm.ValueError, 'tensor', /ragged nested array: expected 2 elements at index \[1\] \(dim 1\), got 1 elements/);
    expectError(() => fm.tensor([[1, 2], 3] as never), fm.ValueError, 'tensor', /ragged nested array: expected 2 elements at index \[1\] \(dim 1\), got a scalar/);
    expectError(() => fm.tensor([1, [2]] as never), fm.ValueError, 'tensor', /ragged nested array: expected a scalar at index \[1\], got an array/);
    expectError(() => fm.tensor(['a'] as never), fm.ValueError, 'tensor', /expected numbers, booleans or bigints, got string at index \[0\]/);
  });

  test('a float index tensor', () => {
    const x = fm.ones([3]);
    expectError(() => x.index(fm.tensor([0, 1])), fm.DTypeError, 'index', /tensors used as indices must be integer or bool tensors, got float32 \(shape \[2\]\)/);
    expectError(() => x.indexSelect(0, fm.tensor([0])), fm.DTypeError, 'indexSelect', /index must be an int64 or int32 tensor, got float32/);
    expectError(() => x.gather(0, fm.tensor([0])), fm.DTypeError, 'gather', /expected an int64 index tensor, got float32/);
    expectError(() => x.maskedFill(fm.tensor([1, 0, 1]), 0), fm.DTypeError, 'maskedFill', /mask must be a bool tensor, got float32/);
  });

  test('dtype errors name the dtypes', () => {
    expectError(() => fm.ones([2], { dtype: 'int64' }).add_(0.5), fm.DTypeError, 'add_', /result type float32 can't be cast to the desired output type int64/);
    expectError(() => fm.ones([2], { dtype: 'int64' }).mean(), fm.DTypeError, 'mean', /input dtype must be floating point, got int64/);
    expectError(() => fm.rand([2], { dtype: 'int32' }), fm.DTypeError, 'rand', /expected a floating point dtype, got int32/);
    expectError(() => fm.ones([1], { dtype: 'int64', requiresGrad: true }), fm.AutogradError, 'requiresGrad_', /only floating point tensors can require gradients, got int64/);
  });

  test('bad shapes and options', () => {
    expectError(() => fm.zeros([2, -1]), fm.ValueError, 'full', /invalid shape \[2, -1\]/);
    expectError(() => fm.arange(0, 1, 0), fm.ValueError, 'arange', /step must be nonzero/);
    expectError(() => fm.ones([2]).clamp(), fm.ValueError, 'clamp', /at least one of min and max/);
    expectError(() => fm.slice(0, 3, 0), fm.ValueError, 'slice', /step cannot be zero/);
    expectError(() => fm.ones([3]).index('::-1'), fm.ValueError, 'slice', /negative slice steps are not supported.*flip/);
    expectError(() => fm.ones([3]).index('a:b' as never), fm.IndexError, 'index', /invalid slice 'a:b'/);
  });

  test('using a disposed tensor', () => {
    const x = fm.ones([2, 2]);
    x.dispose();
    expectError(() => x.add(1), fm.ValueError, 'tensor', /this \[2, 2\] float32 tensor was disposed/);
    expectError(() => String(x), fm.ValueError, 'tensor', /disposed/);
  });
});

describe('autograd errors', () => {
  test('backward twice without retainGraph', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expectError(() => y.backward(), fm.AutogradError, 'sum', /backward through the graph a second time.*retainGraph: true/);
    const z = x.exp();
    z.sum().backward();
    expectError(() => z.sum().backward(), fm.AutogradError, 'exp', /a second time/);
  });

  test('backward from a non-scalar without a gradient', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    expectError(() => x.mul(2).backward(), fm.AutogradError, 'backward', /grad can be created implicitly only for scalar outputs, got shape \[2\]/);
    expectError(() => fm.autograd.grad(x.mul(2), [x]), fm.AutogradError, 'grad', /only for scalar outputs, got shape \[2\]/);
    expectError(() => x.mul(2).backward(fm.ones([3])), fm.AutogradError, 'backward', /gradient of shape \[3\] does not match the output's shape \[2\]/);
  });

  test('backward of a tensor outside any graph', () => {
    expectError(() => fm.ones([1]).backward(), fm.AutogradError, 'backward', /does not require grad and does not have a gradFn/);
    expectError(() => fm.autograd.grad(fm.ones([1], { requiresGrad: true }).sum(), [fm.ones([1])]), fm.AutogradError, 'grad', /input 0 \(shape \[1\]\) does not require grad/);
  });

  test('a saved tensor changed in place', () => {
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const y = x.exp();
    y.add_(1);
    expectError(
      () => y.sum().backward(),
      fm.AutogradError,
      'exp',
      /a tensor saved for backward \(shape \[2\], float32\) was modified by an in-place operation: it is at version 1, expected version 0/,
    );
  });

  test('a leaf requiring grad changed in place', () => {
    const w = fm.tensor([1, 2], { requiresGrad: true });
    expectError(() => w.add_(1), fm.AutogradError, 'add_', /a leaf tensor that requires grad is being used in an in-place operation.*noGrad/);
    expectError(() => w.mul_(2), fm.AutogradError, 'mul_', /leaf tensor that requires grad/);
    expectError(() => w.fill_(0), fm.AutogradError, 'fill_', /leaf tensor that requires grad/);
    assert.deepEqual(w.toArray(), [1, 2], 'the failed ops left the values alone');
  });

  test('an in-place change of a view inside the graph', () => {
    const x = fm.tensor([1, 2, 3], { requiresGrad: true });
    const h = x.mul(2);
    expectError(() => h.narrow(0, 0, 2).add_(1), fm.AutogradError, 'add_', /in-place change of a view \(shape \[2\]\) inside a recorded graph/);
  });

  test('requiresGrad_(false) on a non-leaf; hooks on tensors without grad', () => {
    const h = fm.tensor([1], { requiresGrad: true }).mul(2);
    expectError(() => h.requiresGrad_(false), fm.AutogradError, 'requiresGrad_', /only change requiresGrad of leaf tensors/);
    expectError(() => fm.ones([1]).registerHook((g) => g), fm.AutogradError, 'registerHook', /doesn't require gradient/);
  });

  test('retainGrad on a tensor without grad raises', () => {
    expectError(() => fm.ones([1]).mul(2).retainGrad(), fm.AutogradError, 'retainGrad', /requiresGrad=false/);
  });

  test('bool subtraction and negation are refused, as in PyTorch', () => {
    const b = fm.tensor([true, false]);
    expectError(() => b.sub(b), fm.DTypeError, 'sub', /two bool tensors is not supported.*logicalXor/);
    expectError(() => b.neg(), fm.DTypeError, 'neg', /bool tensor is not supported.*logicalNot/);
  });

  test('gradcheck wants float64', () => {
    expectError(() => fm.gradcheck((x) => x!.sum(), [fm.ones([2], { requiresGrad: true })]), fm.AutogradError, 'gradcheck', /should be float64.*got float32/);
  });
});

describe('device errors', () => {
  test('unknown device names', () => {
    expectError(() => fm.ones([2], { device: 'tpu' }), fm.DeviceError, 'device', /unknown device 'tpu' \(expected 'cpu', 'cuda' or 'cuda:N'\)/);
    expectError(() => fm.ones([2], { device: 'cpu:1' }), fm.DeviceError, 'device', /'cpu:1': the cpu device has no index/);
  });

  // These two run in order: first with no cuda backend, then with the ts backend standing in for one.
  test('without a GPU, asking for cuda says which piece is missing and where it looked', { skip: fm.cuda.isAvailable() ? 'a GPU is present' : undefined }, () => {
    assert.equal(fm.isBackendAvailable('cuda'), false);
    expectError(() => fm.ones([2], { device: 'cuda' }), fm.DeviceError, 'device', /device 'cuda:0' is not available: libcuda\.so\.1 \(the NVIDIA driver\) was not found: looked in .*\/usr\/local\/cuda\/lib64.*FIAMMA_CUDA_LIB_DIRS/);
    expectError(() => fm.ones([2]).to('cuda'), fm.DeviceError, 'device', /device 'cuda:0' is not available/);
    expectError(() => fm.randn([2], { device: 'cuda:1' }), fm.DeviceError, 'device', /device 'cuda:1' is not available/);
  });

  test('mixing devices raises a DeviceError naming both devices', () => {
    fm.registerBackend('cuda', tsBackend as unknown as fm.Backend);
    assert.equal(fm.isBackendAvailable('cuda'), true);
    const c = fm.ones([2], { device: 'cuda' });
    assert.equal(String(c.device), 'cuda:0');
    assert.match(String(c), /device='cuda:0'/);
    expectError(
      () => fm.ones([2]).add(c),
      fm.DeviceError,
      'add',
      /expected all tensors on the same device, got \[2\] float32 on cpu, \[2\] float32 on cuda:0/,
    );
    expectError(() => fm.ones([3, 2]).matmul(fm.ones([2, 2], { device: 'cuda' })), fm.DeviceError, 'matmul', /on cpu, .* on cuda:0/);
    expectError(() => fm.cat([fm.ones([2]), c]), fm.DeviceError, 'cat', /cpu.*cuda:0/);
    // Moving explicitly works, and gradients flow back across the move.
    const x = fm.tensor([1, 2], { requiresGrad: true });
    const y = x.to('cuda').mul(c.mul(3));
    assert.equal(String(y.device), 'cuda:0');
    y.sum().backward();
    assert.equal(String(x.grad!.device), 'cpu');
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
  });
});
