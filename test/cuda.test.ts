// The cuda backend. Without a GPU: how libraries are looked for, what is reported when they are
// missing, and that every generated CUDA kernel compiles (nvcc -ptx, when nvcc is installed).
// With a GPU: device facts, memory accounting, errors, and the paths the op table does not reach.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fm from '../src/index.js';
import { searchDirs, libraryNames } from '../src/backend/cuda/libs.js';
import { allKernelsSource, allKernelSpecs, kernelName } from '../src/backend/cuda/codegen.js';
import { CachingAllocator, roundSize } from '../src/backend/cuda/allocator.js';
import { CUDA_ERROR_OUT_OF_MEMORY, type Driver } from '../src/backend/cuda/driver.js';
import { assertClose, expectError as expectErrorIn } from './helpers.js';

const expectError = (fn: () => unknown, cls: new (...a: never[]) => fm.FiammaError, op: string, re: RegExp) => expectErrorIn(fn, cls, op, re, /cuda\.test\.js/);
const gpu = fm.cuda.isAvailable();
const noGpu = gpu ? undefined : `no CUDA device on this machine (${fm.cuda.unavailableReason()?.slice(0, 80)}...)`;
const hasNvcc = spawnSync('nvcc', ['--version']).status === 0;

describe('cuda libraries', () => {
  test('FIAMMA_CUDA_LIB_DIRS comes first, then CUDA_HOME, then the usual folders', () => {
    const dirs = searchDirs({ FIAMMA_CUDA_LIB_DIRS: '/a/lib:/b/lib', CUDA_HOME: '/opt/cuda' });
    assert.deepEqual(dirs.slice(0, 5), ['/a/lib', '/b/lib', '/opt/cuda/lib64', '/opt/cuda/lib', '/opt/cuda/targets/x86_64-linux/lib']);
    assert.ok(dirs.includes('/usr/local/cuda/lib64'));
    assert.ok(dirs.includes('/usr/local/nvidia/lib64'));
    assert.equal(new Set(dirs).size, dirs.length);
  });

  test('pip wheel folders (site-packages/nvidia/*/lib) are searched', () => {
    const venv = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-venv-'));
    const lib = path.join(venv, 'lib', 'python3.12', 'site-packages', 'nvidia', 'cu13', 'lib');
    fs.mkdirSync(lib, { recursive: true });
    assert.ok(searchDirs({ VIRTUAL_ENV: venv }).includes(lib));
    fs.rmSync(venv, { recursive: true });
  });

  test('CUDA 13 sonames are tried before CUDA 12', () => {
    assert.deepEqual(libraryNames.cublas.slice(0, 2), ['libcublas.so.13', 'libcublas.so.12']);
    assert.deepEqual(libraryNames.nvrtc.slice(0, 2), ['libnvrtc.so.13', 'libnvrtc.so.12']);
  });

  test('without a GPU: isAvailable is false and every cuda call says why', { skip: gpu ? 'a GPU is present' : undefined }, () => {
    assert.equal(fm.cuda.isAvailable(), false);
    assert.equal(fm.cuda.deviceCount(), 0);
    assert.match(fm.cuda.unavailableReason()!, /libcuda\.so\.1 \(the NVIDIA driver\) was not found: looked in /);
    expectError(() => fm.cuda.memoryAllocated(), fm.DeviceError, 'memoryAllocated', /CUDA is not available: libcuda\.so\.1/);
    expectError(() => fm.cuda.getDeviceName(), fm.DeviceError, 'getDeviceName', /CUDA is not available/);
    expectError(() => fm.zeros([2], { device: 'cuda:1' }), fm.DeviceError, 'device', /device 'cuda:1' is not available: libcuda/);
    fm.cuda.emptyCache(); // nothing to do, and no error
    expectError(() => new fm.cuda.Event({ enableTiming: true }), fm.DeviceError, 'cuda.Event', /CUDA is not available: libcuda\.so\.1/);
    expectError(() => new fm.cuda.Stream(), fm.DeviceError, 'cuda.Stream', /CUDA is not available: libcuda\.so\.1/);
    expectError(() => fm.cuda.currentStream(), fm.DeviceError, 'cuda.currentStream', /CUDA is not available/);
    expectError(() => fm.ones([2]).pinMemory(), fm.DeviceError, 'pinMemory', /CUDA is not available: libcuda\.so\.1/);
    assert.equal(fm.ones([2]).isPinned(), false);
    expectError(() => fm.cuda.stream({} as fm.cuda.Stream, () => 0), fm.ValueError, 'cuda.stream', /expected a fm\.cuda\.Stream, got object/);
  });
});

describe('cuda kernels compile', () => {
  test('every kernel has its own name', () => {
    const names = allKernelSpecs().map(kernelName);
    assert.ok(names.length > 400);
  });

  test('nvcc -ptx compiles every generated kernel for sm_90', { skip: hasNvcc ? undefined : 'nvcc is not installed' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-cu-'));
    const src = path.join(dir, 'all.cu');
    fs.writeFileSync(src, allKernelsSource());
    const r = spawnSync('nvcc', ['-ptx', '-arch=sm_90', '-std=c++17', '-o', path.join(dir, 'all.ptx'), src], { encoding: 'utf8' });
    assert.equal(r.status, 0, `nvcc failed:\n${r.stderr.slice(0, 4000)}`);
    const ptx = fs.readFileSync(path.join(dir, 'all.ptx'), 'utf8');
    for (const name of ['fm_b_add_f32', 'fm_r_sum_f32_f32', 'fm_random_f64', 'fm_scatter_b8']) assert.match(ptx, new RegExp(`\\.entry ${name}\\(`));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('cuda allocator sizes', () => {
  test('blocks round to 512 bytes below 1 MiB and to 2 MiB above', () => {
    assert.equal(roundSize(1), 512);
    assert.equal(roundSize(512), 512);
    assert.equal(roundSize(513), 1024);
    assert.equal(roundSize(1 << 20), 1 << 20);
    assert.equal(roundSize((1 << 20) + 1), 2 << 20);
    assert.equal(roundSize(5 << 20), 6 << 20);
  });

  /** The driver calls the allocator makes, on a pretend device: events complete when told (or at synchronize). */
  function fakeDriver(capacity = 1 << 30) {
    let next = 4096;
    let used = 0;
    let nextEvent = 1;
    const done = new Set<number>();
    const recorded: [number, number][] = [];
    const driver = {
      tryMalloc: (bytes: number) => (used + bytes > capacity ? { status: CUDA_ERROR_OUT_OF_MEMORY } : ((used += bytes), (next += bytes) - bytes)),
      free: () => {},
      memInfo: () => [capacity - used, capacity],
      check: () => {},
      eventCreate: () => nextEvent++,
      eventRecord: (e: number, stream: number) => {
        done.delete(e);
        recorded.push([e, stream]);
      },
      eventQuery: (e: number) => done.has(e),
      synchronize: () => recorded.forEach(([e]) => done.add(e)),
    };
    return { driver: driver as unknown as Driver, done, recorded };
  }

  test('with side streams, a freed block waits for an event on every stream before it is reused', () => {
    const side = new Set<number>();
    const { driver, done, recorded } = fakeDriver();
    const alloc = new CachingAllocator(driver, 'pretend', side);
    const a = alloc.allocate(1000);
    alloc.release(a.ptr, a.size);
    assert.equal(alloc.allocate(1000).ptr, a.ptr, 'one stream: reused at once');
    side.add(77);
    const b = alloc.allocate(1000);
    alloc.release(b.ptr, b.size);
    assert.deepEqual(recorded.map(([, s]) => s), [0, 77]);
    assert.equal(alloc.cached(), 1024);
    const c = alloc.allocate(1000);
    assert.notEqual(c.ptr, b.ptr, 'not reused while the streams may still read it');
    recorded.forEach(([e]) => done.add(e));
    assert.equal(alloc.allocate(1000).ptr, b.ptr, 'reused once both events completed');
    assert.equal(alloc.stats.allocated, 3 * 1024);
  });

  test('out of memory: blocks waiting for side streams are reclaimed after a synchronize before giving up', () => {
    const { driver } = fakeDriver(4096);
    const alloc = new CachingAllocator(driver, 'pretend', new Set([5]));
    const a = alloc.allocate(4000);
    alloc.release(a.ptr, a.size);
    assert.equal(alloc.allocate(4000).ptr, a.ptr);
  });
});

describe('float32 matmul precision', () => {
  test('highest by default; high and medium allow TF32; anything else raises', () => {
    assert.equal(fm.getFloat32MatmulPrecision(), 'highest');
    fm.setFloat32MatmulPrecision('high');
    assert.equal(fm.getFloat32MatmulPrecision(), 'high');
    fm.setFloat32MatmulPrecision('highest');
    expectError(() => fm.setFloat32MatmulPrecision('low' as 'high'), fm.ValueError, 'setFloat32MatmulPrecision', /expected 'highest', 'high' or 'medium', got 'low'/);
  });
});

describe('on the GPU', { skip: noGpu }, () => {
  test('device facts', () => {
    assert.ok(fm.cuda.deviceCount() >= 1);
    const p = fm.cuda.getDeviceProperties(0);
    assert.equal(p.name, fm.cuda.getDeviceName());
    assert.ok(p.major >= 5 && p.totalMemory > 1e9 && p.multiProcessorCount > 0);
    expectError(() => fm.zeros([1], { device: `cuda:${fm.cuda.deviceCount()}` }), fm.DeviceError, 'device', /does not exist: this machine has/);
  });

  test('memory: dispose returns blocks to the cache, and the cache serves the next tensor', () => {
    fm.cuda.synchronize();
    const before = fm.cuda.memoryAllocated();
    const t = fm.empty([1024, 1024], { device: 'cuda' });
    assert.equal(fm.cuda.memoryAllocated() - before, 4 << 20);
    const reserved = fm.cuda.memoryReserved();
    t.dispose();
    assert.equal(fm.cuda.memoryAllocated(), before);
    const u = fm.empty([1024, 1024], { device: 'cuda' });
    assert.equal(fm.cuda.memoryReserved(), reserved, 'served from the cache');
    assert.ok(fm.cuda.maxMemoryAllocated() >= before + (4 << 20));
    u.dispose();
    fm.cuda.emptyCache();
    assert.ok(fm.cuda.memoryReserved() < reserved);
    assert.match(fm.cuda.memorySummary(), /allocated \(live tensors\)/);
  });

  test('scope() keeps device memory flat over many steps', () => {
    const w = fm.randn([256, 256], { device: 'cuda' });
    const start = fm.cuda.memoryAllocated();
    for (let i = 0; i < 200; i++) fm.scope(() => w.matmul(w).relu().sum().item());
    assert.equal(fm.cuda.memoryAllocated(), start);
  });

  test('out of memory says what was asked, allocated, reserved and free', () => {
    expectError(() => fm.empty([2 ** 40], { device: 'cuda' }), fm.OutOfMemoryError, 'allocate', /CUDA out of memory on cuda:0 .*tried to allocate 4096\.00 GiB; .* free, .* allocated by Fiamma's tensors/);
  });

  test('an index out of range raises, naming the index', () => {
    const x = fm.arange(6, { device: 'cuda' }).float();
    expectError(() => x.gather(0, fm.tensor([0, 7], { dtype: 'int64', device: 'cuda' })), fm.IndexError, 'gather', /index 7 is out of bounds for dimension 0 with size 6/);
    // The device's error flag is cleared: the next good gather works.
    assert.deepEqual(x.gather(0, fm.tensor([5, 0], { dtype: 'int64', device: 'cuda' })).toArray(), [5, 0]);
  });

  test('random numbers are the cpu ones', () => {
    const a = fm.rand([1000], { generator: new fm.Generator().manualSeed(7) });
    const b = fm.rand([1000], { generator: new fm.Generator().manualSeed(7), device: 'cuda' });
    assert.deepEqual(b.toArray(), a.toArray());
    const c = fm.randn([1000], { generator: new fm.Generator().manualSeed(7), dtype: 'float64' });
    const d = fm.randn([1000], { generator: new fm.Generator().manualSeed(7), dtype: 'float64', device: 'cuda' });
    assertClose(d, c.toArray(), { rtol: 1e-13, atol: 1e-13 });
  });

  test('matmul: transposed, strided, broadcast and batched operands agree with cpu', () => {
    const g = new fm.Generator().manualSeed(3);
    const cases: [fm.Tensor, fm.Tensor][] = [
      [fm.randn([33, 17], { generator: g }), fm.randn([17, 9], { generator: g })],
      [fm.randn([17, 33], { generator: g }).T, fm.randn([9, 17], { generator: g }).T],
      [fm.randn([4, 33, 17], { generator: g }), fm.randn([17, 9], { generator: g })],
      [fm.randn([2, 3, 5, 7], { generator: g }).transpose(0, 1), fm.randn([3, 1, 7, 4], { generator: g })],
      [fm.randn([8, 20], { generator: g }).index(':', '::2'), fm.randn([10, 6], { generator: g })],
      [fm.randn([1, 17], { generator: g }), fm.randn([17, 1], { generator: g })],
      [fm.randn([5, 0], { generator: g }), fm.randn([0, 3], { generator: g })],
      [fm.randn([6, 6], { generator: g, dtype: 'float64' }), fm.randn([6, 6], { generator: g, dtype: 'float64' })],
      [fm.randint(-5, 5, [7, 8], { generator: g }), fm.randint(-5, 5, [8, 3], { generator: g })],
    ];
    for (const [a, b] of cases) {
      const want = a.matmul(b);
      const got = a.to('cuda').matmul(b.to('cuda'));
      assert.deepEqual(got.shape, want.shape);
      assertClose(got, want.toArray(), { rtol: 1e-4, atol: 1e-4, msg: `${a.shape} @ ${b.shape}` });
    }
  });

  test('TF32 products are close to float32 ones', () => {
    const a = fm.randn([256, 256], { device: 'cuda' });
    const exact = a.matmul(a).toArray();
    fm.setFloat32MatmulPrecision('high');
    const fast = a.matmul(a);
    fm.setFloat32MatmulPrecision('highest');
    assertClose(fast, exact, { rtol: 2e-2, atol: 5e-2 });
  });

  test('long reductions take the two-pass path and agree with cpu', () => {
    const x = fm.randn([3, 1 << 20], { generator: new fm.Generator().manualSeed(5) });
    const xc = x.to('cuda');
    assertClose(xc.sum(), [x.sum().item()], { rtol: 1e-5, atol: 1e-2 });
    assertClose(xc.sum(1), x.sum(1).toArray(), { rtol: 1e-5, atol: 1e-2 });
    assertClose(xc.amax(), [x.amax().item()]);
    assert.equal(xc.argmax().item(), x.argmax().item());
    const i = fm.randint(-1000, 1000, [1 << 21], { generator: new fm.Generator().manualSeed(9) });
    assert.equal(i.to('cuda').sum().item(), i.sum().item());
    assert.equal(xc.gt(100).any().item(), 0);
    assert.equal(xc.isfinite().all().item(), 1);
  });

  test('argsort, cumsum and scatter-add agree with cpu', () => {
    const x = fm.randn([5, 40], { generator: new fm.Generator().manualSeed(2) });
    assert.deepEqual(x.to('cuda').argsort(1).toArray(), x.argsort(1).toArray());
    assertClose(x.to('cuda').cumsum(1), x.cumsum(1).toArray(), { rtol: 1e-5, atol: 1e-5 });
    const idx = fm.randint(0, 7, [5, 40], { generator: new fm.Generator().manualSeed(4) });
    const want = fm.zeros([5, 7]).scatterAdd(1, idx, x);
    const got = fm.zeros([5, 7], { device: 'cuda' }).scatterAdd(1, idx.to('cuda'), x.to('cuda'));
    assertClose(got, want.toArray(), { rtol: 1e-5, atol: 1e-5 });
  });

  test('events: elapsed time of queued work, query and synchronize, and their errors', () => {
    const start = new fm.cuda.Event({ enableTiming: true });
    const end = new fm.cuda.Event({ enableTiming: true });
    const a = fm.randn([2048, 2048], { device: 'cuda' });
    start.record();
    for (let i = 0; i < 5; i++) a.matmul(a).dispose();
    end.record();
    end.synchronize();
    assert.ok(end.query());
    const ms = start.elapsedTime(end);
    assert.ok(ms > 0 && ms < 10000, `elapsed ${ms} ms`);
    const plain = new fm.cuda.Event();
    expectError(() => plain.elapsedTime(end), fm.ValueError, 'cuda.Event.elapsedTime', /both events need enableTiming: true/);
    expectError(() => new fm.cuda.Event({ enableTiming: true }).elapsedTime(end), fm.ValueError, 'cuda.Event.elapsedTime', /both events must be recorded first/);
    plain.dispose();
    expectError(() => plain.record(), fm.ValueError, 'cuda.Event.record', /the event was destroyed/);
    expectError(() => new fm.cuda.Event({ device: 99 }), fm.DeviceError, 'device', /cuda:99 does not exist: this machine has \d+ CUDA device/);
  });

  test('streams: work queued on a side stream, ordered by waitStream, read after synchronize; memory freed meanwhile is not reused early', () => {
    const s = new fm.cuda.Stream();
    assert.equal(fm.cuda.currentStream().handle, 0);
    const a = fm.randn([1024, 1024]);
    const ga = a.to('cuda');
    fm.cuda.synchronize();
    const y = fm.cuda.stream(s, () => {
      assert.equal(fm.cuda.currentStream().handle, s.handle);
      let h = ga;
      for (let i = 0; i < 4; i++) {
        const next = h.matmul(ga).div(1024);
        if (h !== ga) h.dispose(); // released while s still runs: must not be handed out early
        h = next;
      }
      return h;
    });
    assert.equal(fm.cuda.currentStream().handle, 0);
    // Default-stream work that allocates (and might reuse a freed block) before s is done.
    const z = fm.zeros([1024, 1024], { device: 'cuda' }).add(1);
    fm.cuda.currentStream().waitStream(s);
    let want = a;
    for (let i = 0; i < 4; i++) want = want.matmul(a).div(1024);
    assertClose(y.cpu(), want.toArray(), { rtol: 1e-3, atol: 1e-3 });
    assert.equal(z.sum().item(), 1024 * 1024);
    const e = s.recordEvent();
    e.synchronize();
    assert.ok(s.query() && e.query());
    s.synchronize();
    s.dispose();
    expectError(() => fm.cuda.stream(s, () => 0), fm.ValueError, 'cuda.stream', /the stream was destroyed/);
    expectError(() => fm.cuda.defaultStream().dispose(), fm.ValueError, 'cuda.Stream.dispose', /this Stream wraps the default stream it does not own/);
    const t = new fm.cuda.Stream();
    fm.cuda.stream(t, () => {
      // A host copy made inside a side stream is complete before that stream's kernels read it.
      const w = fm.tensor([[1, 2], [3, 4]], { device: 'cuda' });
      assert.deepEqual(w.matmul(w).toArray(), [[7, 10], [15, 22]]);
      expectError(() => fm.cuda.currentStream().dispose(), fm.ValueError, 'cuda.Stream.dispose', /wraps a stream it does not own/);
    });
    t.dispose();
    fm.cuda.emptyCache();
  });

  test('binaryCrossEntropy refuses cuda autocast, as PyTorch', () => {
    const p = fm.full([4], 0.5, { device: 'cuda' });
    expectError(() => fm.autocast({ deviceType: 'cuda' }, () => fm.nn.F.binaryCrossEntropy(p, p)), fm.ValueError, 'binaryCrossEntropy', /unsafe to autocast.*binaryCrossEntropyWithLogits/);
    assert.ok(Math.abs(fm.nn.F.binaryCrossEntropy(p, p).item() - Math.LN2) < 1e-6);
  });

  test('pinned memory: nonBlocking copies to the GPU, on the current stream; the memory outlives the copy', () => {
    const x = fm.arange(1 << 20, { dtype: 'float32' });
    const p = x.pinMemory();
    assert.ok(p.isPinned() && !x.isPinned());
    assert.equal(p.pinMemory(), p);
    assert.deepEqual(Array.from(p.narrow(0, 0, 4).data() as Float32Array), [0, 1, 2, 3]);
    expectError(() => fm.ones([2], { device: 'cuda' }).pinMemory(), fm.DeviceError, 'pinMemory', /only cpu tensors can be pinned/);
    const s = new fm.cuda.Stream();
    const g = fm.cuda.stream(s, () => p.to('cuda', { nonBlocking: true }));
    p.dispose(); // freed only after the queued copy is done
    s.synchronize();
    assert.equal(g.sum().item(), ((1 << 20) * ((1 << 20) - 1)) / 2);
    const h = fm.tensor([1.5, -2], { dtype: 'bfloat16' }).pinMemory().to('cuda', { nonBlocking: true });
    assert.deepEqual(h.toArray(), [1.5, -2]);
    // A transposed view is copied by strides straight into the pinned memory, in row-major order.
    const t = fm.tensor([[1, 2, 3], [4, 5, 6]]).T.pinMemory();
    assert.ok(t.isPinned() && t.isContiguous());
    assert.deepEqual(t.toArray(), [[1, 4], [2, 5], [3, 6]]);
    s.dispose();
  });

  test('a training step runs on the GPU and matches cpu', () => {
    const g = new fm.Generator().manualSeed(11);
    const w = fm.randn([20, 10], { generator: g }).mul(0.1).requiresGrad_();
    const x = fm.randn([32, 20], { generator: g });
    const t = fm.randint(0, 10, [32], { generator: g });
    const loss = (w: fm.Tensor, x: fm.Tensor, t: fm.Tensor) => x.matmul(w).logSoftmax(1).gather(1, t.unsqueeze(1)).mean().neg();
    loss(w, x, t).backward();
    const wc = w.detach().to('cuda').requiresGrad_();
    loss(wc, x.to('cuda'), t.to('cuda')).backward();
    assertClose(wc.grad!, w.grad!.toArray(), { rtol: 1e-4, atol: 1e-6 });
  });
});

describe('without a GPU, more', { skip: gpu ? 'a GPU is present' : undefined }, () => {
  test('setDevice says CUDA is missing; a library file that fails to load is named in the reason', () => {
    expectError(() => fm.cuda.setDevice(0), fm.DeviceError, 'setDevice', /CUDA is not available: libcuda\.so\.1/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-libs-'));
    fs.writeFileSync(path.join(dir, 'libcuda.so.1'), 'not a library');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import * as fm from '${path.resolve('dist/src/index.js')}'; console.log(fm.cuda.unavailableReason())`], { encoding: 'utf8', env: { ...process.env, FIAMMA_CUDA_LIB_DIRS: dir } });
    assert.match(r.stdout, new RegExp(`looked in ${dir}, .*; ${dir}/libcuda\\.so\\.1: `));
    fs.rmSync(dir, { recursive: true });
  });

  test('the demo refuses --device cuda with the reason', () => {
    const r = spawnSync(process.execPath, ['dist/examples/mnist_cnn.js', '--device', 'cuda'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--device cuda: libcuda\.so\.1 \(the NVIDIA driver\) was not found/);
  });
});

test("'cuda' means the current device", async () => {
  const { Device, setCurrentCudaDevice } = await import('../src/device.js');
  setCurrentCudaDevice(1);
  assert.equal(String(Device.of('cuda')), 'cuda:1');
  setCurrentCudaDevice(0);
  assert.equal(String(Device.of('cuda')), 'cuda:0');
});
