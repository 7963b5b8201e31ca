// The cuda backend: device memory from a caching allocator, kernels generated per op and dtype
// (codegen.ts) compiled by NVRTC on first use, cuBLAS for float products. Every kernel is
// launched without waiting on the current stream (the legacy default stream, or a side stream
// inside fm.cuda.stream); the host waits only when it reads values (read(), and the index check
// of gather/scatter), as PyTorch does.
import type { Backend, ReduceOpName, ScanOpName, StorageHandle, View } from '../interface.js';
import type { UnaryOpName, BinaryOpName } from '../../ops/elementwise.js';
import { bytesPerElement, isFloating, typedArrayFor, type DType } from '../../dtype.js';
import { DeviceError, IndexError } from '../../errors.js';
import { coalesce, isContiguous, offsetAt } from '../ts/loops.js';
import { contiguousStrides, numelOf as numel } from '../../tensor/shape.js';
import { tsBackend, type TsStorage } from '../ts/index.js';
import { withReducedFloats } from '../reduced_float.js';
import { currentStreamHandle } from './stream_context.js';
import { isPinnedArray, notePinnedCopy } from './pinned.js';
import { float32Below, float64Below } from '../ts/philox.js';
import { reduceOutType } from '../cpu/codegen.js';
import { CachingAllocator } from './allocator.js';
import { Cublas, OP_N, OP_T } from './cublas.js';
import { attr, Driver } from './driver.js';
import { Nvrtc } from './nvrtc.js';
import { loadLibrary } from './libs.js';
import { argsLayout as L, BLOCK, PER_THREAD, MAX_DIMS, SOFTMAX_ROWS_PER_BLOCK, exactReduce, kernelName, kernelSource, type KernelSpec } from './codegen.js';

/** Device memory holding `numel` elements of `dtype` at `ptr` (0 for an empty storage). */
export class CudaStorage implements StorageHandle {
  constructor(readonly dtype: DType, readonly numel: number, public ptr: number, readonly size: number, readonly device: CudaDevice) {}
}
type V = View<CudaStorage>;

/** The driver and NVRTC, loaded once per process. */
export class CudaRuntime {
  readonly driver = new Driver();
  readonly count: number;
  private readonly devices = new Map<number, CudaDevice>();
  current = -1;
  tf32 = false;

  readonly nvrtc: Nvrtc;

  constructor() {
    this.count = this.driver.deviceCount();
    // Every library an op needs is found now, so that a missing one is reported up front.
    this.nvrtc = new Nvrtc();
    loadLibrary('cublas');
  }
  device(index: number): CudaDevice {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new DeviceError('device', `cuda:${index} does not exist: this machine has ${this.count} CUDA device${this.count === 1 ? '' : 's'}`);
    }
    let d = this.devices.get(index);
    if (!d) this.devices.set(index, (d = new CudaDevice(this, index)));
    return d;
  }
  /** The devices made so far. */
  opened(): CudaDevice[] {
    return [...this.devices.values()];
  }
}

/** One GPU: its context, allocator, compiled kernels and cuBLAS handle. */
export class CudaDevice {
  readonly handle: number;
  readonly ctx: number;
  readonly name: string;
  readonly arch: number;
  readonly sms: number;
  readonly allocator: CachingAllocator;
  private readonly kernels = new Map<string, number>();
  /** A cuBLAS handle per stream: one handle's workspace must not serve two streams at once. */
  private readonly blas = new Map<number, Cublas>();
  /** Where gather/scatter record the first bad index (all ones when none). */
  private errorFlag = 0;
  private readonly launch: (...a: unknown[]) => number;
  private readonly args: { address: number; view: ArrayBuffer };
  private readonly extra: { address: number; view: ArrayBuffer };
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** The live streams made with fm.cuda.Stream (while there are any, freed memory waits for them). */
  readonly sideStreams = new Set<number>();

  constructor(readonly runtime: CudaRuntime, readonly index: number) {
    const drv = runtime.driver;
    this.handle = drv.device(index);
    this.ctx = drv.primaryContext(this.handle);
    this.makeCurrent();
    this.name = drv.deviceName(this.handle);
    const major = drv.attribute(this.handle, attr.computeCapabilityMajor);
    const minor = drv.attribute(this.handle, attr.computeCapabilityMinor);
    this.arch = major * 10 + minor;
    this.sms = drv.attribute(this.handle, attr.multiProcessorCount);
    this.allocator = new CachingAllocator(drv, `cuda:${index} (${this.name})`, this.sideStreams);
    this.launch = drv.launcher();
    // Launch arguments travel as one buffer (CU_LAUNCH_PARAM_BUFFER_POINTER): no per-argument pointers to build.
    this.args = drv.hostBuffer(L.size);
    this.extra = drv.hostBuffer(48);
    const ex = new Int32Array(this.extra.view);
    const size = new Int32Array(this.extra.view, 40, 2);
    size[0] = L.size;
    size[1] = 0;
    setI64(ex, 0, 1); // CU_LAUNCH_PARAM_BUFFER_POINTER
    setI64(ex, 2, this.args.address);
    setI64(ex, 4, 2); // CU_LAUNCH_PARAM_BUFFER_SIZE
    setI64(ex, 6, this.extra.address + 40);
    setI64(ex, 8, 0); // CU_LAUNCH_PARAM_END
    this.i32 = new Int32Array(this.args.view);
    this.f64 = new Float64Array(this.args.view);
  }

  makeCurrent(): void {
    if (this.runtime.current === this.index) return;
    this.runtime.driver.setContext(this.ctx);
    this.runtime.current = this.index;
  }

  get cublas(): Cublas {
    this.makeCurrent();
    const stream = this.stream;
    let b = this.blas.get(stream);
    if (!b) this.blas.set(stream, (b = new Cublas(stream)));
    b.setTf32(this.runtime.tf32);
    return b;
  }

  /**
   * Host to device. Inside a side stream, the copy is queued on it and waited for: the legacy
   * stream's synchronous copy may still be in flight when it returns, unordered with that stream.
   */
  copyToDevice(dst: number, src: ArrayBufferView, bytes: number): void {
    const s = this.stream;
    const drv = this.runtime.driver;
    if (s === 0) return drv.copyToDevice(dst, src, bytes);
    drv.copyToDeviceAsync(dst, src, bytes, s);
    drv.streamSynchronize(s);
  }

  /** The stream this device's work goes to now (0: the legacy default stream; no context lookup while there are no side streams). */
  get stream(): number {
    return this.sideStreams.size === 0 ? 0 : currentStreamHandle(this.index);
  }

  /** A side stream's end (after its work is done): its cuBLAS handle goes, and memory frees stop waiting for it. */
  dropStream(handle: number): void {
    this.sideStreams.delete(handle);
    this.blas.get(handle)?.destroy();
    this.blas.delete(handle);
  }

  /**
   * Copies `bytes` from device address `src` to the host, once the work queued before it is
   * done: the legacy default stream's copy does not wait for a non-blocking stream, so the
   * current side stream is waited for first.
   */
  copyToHost(dst: ArrayBufferView, src: number, bytes: number): void {
    this.makeCurrent();
    const s = this.stream;
    if (s !== 0) this.runtime.driver.streamSynchronize(s);
    this.runtime.driver.copyToHost(dst, src, bytes);
  }

  /** The kernel's function handle, compiled (or read from the disk cache) and loaded on first use. */
  kernel(spec: KernelSpec): number {
    const name = kernelName(spec);
    let f = this.kernels.get(name);
    if (f === undefined) {
      const image = this.runtime.nvrtc.compile(kernelSource(spec), name, this.arch);
      const module = this.runtime.driver.loadModule(image);
      this.kernels.set(name, (f = this.runtime.driver.getFunction(module, name)));
    }
    return f;
  }

  /** Launches `fn` over `grid` blocks (x, y) with the arguments already written. */
  run(fn: number, gridX: number, gridY = 1): void {
    if (gridX === 0 || gridY === 0) return;
    this.runtime.driver.check('cuLaunchKernel', this.launch(fn, gridX, gridY, 1, BLOCK, 1, 1, 0, this.stream, 0, this.extra.address));
  }

  setPtr(q: number, addr: number): void {
    setI64(this.i32, (L.p >> 2) + 2 * q, addr);
  }
  setInt(field: number, v: number): void {
    setI64(this.i32, field >> 2, v);
  }

  /** The address holding the first bad index of the last gather/scatter. */
  flag(): number {
    if (this.errorFlag === 0) {
      this.errorFlag = this.allocator.allocate(8).ptr;
      this.clearFlag();
    }
    return this.errorFlag;
  }
  clearFlag(): void {
    this.copyToDevice(this.errorFlag, BigUint64Array.of(0xffffffffffffffffn), 8);
  }
  /** The first bad index position of the last gather/scatter, or -1 (waits for the device). */
  badPosition(): number {
    const out = new BigUint64Array(1);
    this.copyToHost(out, this.errorFlag, 8);
    if (out[0] === 0xffffffffffffffffn) return -1;
    this.clearFlag();
    return Number(out[0]);
  }
}

/** Writes a 53-bit integer as an int64 at int32 index `at` (little-endian words). */
function setI64(a: Int32Array, at: number, v: number): void {
  const hi = Math.floor(v / 4294967296);
  a[at] = (v - hi * 4294967296) | 0;
  a[at + 1] = hi;
}


/** The device address of a view's first element (NCCL's buffers too). */
export function addr(v: V): number {
  return v.storage.ptr + v.offset * bytesPerElement(v.dtype);
}

/** Writes shape and strides for views of one shape; sets flags bit 0 when all are contiguous. */
function writeElementwise(dev: CudaDevice, views: readonly V[], op: string): number {
  const n = numel(views[0]!.shape);
  views.forEach((v, q) => dev.setPtr(q, addr(v)));
  dev.setInt(L.n, n);
  if (views.every((v) => isContiguous(v))) {
    dev.i32[L.nd >> 2] = 1;
    // Bit 1: every operand starts on a PER_THREAD-element boundary (vector loads and stores).
    dev.i32[L.flags >> 2] = views.every((v) => addr(v) % (PER_THREAD * bytesPerElement(v.dtype)) === 0) ? 3 : 1;
    return n;
  }
  const c = coalesce(views[0]!.shape, views.map((v) => v.strides));
  writeDims(dev, c.shape, c.strides, op);
  dev.i32[L.flags >> 2] = 0;
  return n;
}

function writeDims(dev: CudaDevice, shape: readonly number[], strides: readonly (readonly number[])[], op: string): void {
  if (shape.length > MAX_DIMS) throw new DeviceError(op, `the cuda kernels take at most ${MAX_DIMS} dims after merging contiguous ones, got ${shape.length}`);
  dev.i32[L.nd >> 2] = shape.length;
  shape.forEach((s, d) => dev.setInt(L.shape + 8 * d, s));
  strides.forEach((st, q) => st.forEach((s, d) => dev.setInt(L.st + 8 * (q * MAX_DIMS + d), s)));
}

const elementwiseBlocks = (n: number) => Math.ceil(n / (BLOCK * PER_THREAD));

/** The cuda backend for one device. */
export function makeCudaBackend(dev: CudaDevice): Backend<CudaStorage> & { readonly device: CudaDevice; readonly needsRelease: true } {
  const drv = dev.runtime.driver;
  const elementwise = (spec: KernelSpec, views: V[], op: string) => {
    dev.makeCurrent();
    const n = writeElementwise(dev, views, op);
    dev.run(dev.kernel(spec), elementwiseBlocks(n));
  };
  /** A contiguous copy of x on the device (argsort's host round trip reads it). */
  const contiguous = (x: V): V => {
    if (isContiguous(x)) return x;
    const s = backend.allocate(x.dtype, numel(x.shape));
    const v: V = { storage: s, dtype: x.dtype, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 };
    backend.copy(v, x);
    return v;
  };
  const backend: Backend<CudaStorage> & { readonly device: CudaDevice; readonly needsRelease: true } = {
    name: 'cuda',
    device: dev,
    needsRelease: true,
    // cuBLAS multiplies float16 / bfloat16 itself, on tensor cores (the rest goes through float32);
    // before Ampere (sm_80) it has no bfloat16 products, so those GPUs multiply float32 stand-ins.
    reducedFloatKernels: dev.arch >= 80 ? ['matmul'] : [],
    allocate(dtype, n) {
      if (n === 0) return new CudaStorage(dtype, 0, 0, 0, dev);
      dev.makeCurrent();
      const { ptr, size } = dev.allocator.allocate(n * bytesPerElement(dtype));
      return new CudaStorage(dtype, n, ptr, size, dev);
    },
    free(s) {
      if (s.ptr === 0) return;
      dev.makeCurrent(); // events recorded at the release belong to this device's streams
      dev.allocator.release(s.ptr, s.size);
      s.ptr = 0;
    },
    write(s, values, offset) {
      if (values.length === 0) return;
      dev.makeCurrent();
      dev.copyToDevice(s.ptr + offset * bytesPerElement(s.dtype), values, values.length * bytesPerElement(s.dtype));
    },
    writeNonBlocking(s, values, offset) {
      if (values.length === 0) return true;
      if (!isPinnedArray(values)) return false;
      dev.makeCurrent();
      const stream = dev.stream;
      drv.copyToDeviceAsync(s.ptr + offset * bytesPerElement(s.dtype), values, values.length * bytesPerElement(s.dtype), stream);
      const done = drv.eventCreate(false);
      drv.eventRecord(done, stream);
      notePinnedCopy(values, done);
      return true;
    },
    read(s, offset, n) {
      const out = typedArrayFor(s.dtype, n);
      if (n === 0) return out;
      dev.copyToHost(out, s.ptr + offset * bytesPerElement(s.dtype), n * bytesPerElement(s.dtype));
      return out;
    },
    copy(out, x) {
      if (numel(out.shape) === 0) return;
      elementwise({ kind: 'copy', out: out.dtype, in: x.dtype }, [out, x], 'copy');
    },
    fill(out, value) {
      if (numel(out.shape) === 0) return;
      dev.f64[L.s >> 3] = value;
      elementwise({ kind: 'fill', dtype: out.dtype }, [out], 'fill');
    },
    unary(op: UnaryOpName, out, x, p) {
      if (numel(out.shape) === 0) return;
      dev.f64[L.s >> 3] = p[0] ?? 0;
      dev.f64[(L.s >> 3) + 1] = p[1] ?? 0;
      dev.f64[(L.s >> 3) + 2] = p[2] ?? 0;
      elementwise({ kind: 'unary', op, dtype: x.dtype }, [out, x], op);
    },
    binary(op: BinaryOpName, out, a, b) {
      if (numel(out.shape) === 0) return;
      elementwise({ kind: 'binary', op, dtype: a.dtype }, [out, a, b], op);
    },
    where(out, cond, a, b) {
      if (numel(out.shape) === 0) return;
      elementwise({ kind: 'where', dtype: out.dtype }, [out, cond, a, b], 'where');
    },
    reduce(op: ReduceOpName, out, x, dims) {
      if (numel(out.shape) === 0) return;
      reduce(dev, backend, op, out, x, dims);
    },
    scan(op: ScanOpName, out, x, dim) {
      const n = numel(x.shape);
      if (n === 0) return;
      dev.makeCurrent();
      const others = [...x.shape.keys()].filter((d) => d !== dim);
      const c = coalesce(others.map((d) => x.shape[d]!), [others.map((d) => x.strides[d]!), others.map((d) => out.strides[d]!)]);
      dev.setPtr(0, addr(out));
      dev.setPtr(1, addr(x));
      const rows = n / x.shape[dim]!;
      dev.setInt(L.n, rows);
      writeDims(dev, c.shape, c.strides, op);
      dev.setInt(L.i, x.shape[dim]!);
      dev.setInt(L.i + 8, x.strides[dim]!);
      dev.setInt(L.i + 16, out.strides[dim]!);
      dev.run(dev.kernel({ kind: 'scan', op, dtype: x.dtype }), Math.ceil(rows / BLOCK));
    },
    matmul(out, a, b) {
      if (numel(out.shape) === 0) return;
      matmul(dev, backend, out, a, b);
    },
    softmax(out, x, dim, log) {
      softmaxRows(dev, 'softmax', [out, x], dim, log);
    },
    softmaxBackward(gx, y, g, dim, log) {
      softmaxRows(dev, 'softmaxBackward', [gx, y, g], dim, log);
    },
    gather(out, x, dim, index) {
      indexKernel(dev, 'gather', out, x.strides.map((s, d) => (d === dim ? 0 : s)), x, index, x.shape[dim]!, x.strides[dim]!, false, dim);
    },
    scatter(out, dim, index, src, accumulate) {
      indexKernel(dev, 'scatter', out, src.strides, src, index, out.shape[dim]!, out.strides[dim]!, accumulate, dim, out.strides.map((s, d) => (d === dim ? 0 : s)));
    },
    accumulate(out, src) {
      if (numel(src.shape) === 0) return;
      dev.makeCurrent();
      dev.setPtr(0, addr(out));
      dev.setPtr(1, addr(src));
      dev.setInt(L.n, numel(src.shape));
      writeDims(dev, src.shape, [out.strides, src.strides], 'accumulate');
      dev.run(dev.kernel({ kind: 'accumulate', dtype: out.dtype }), Math.ceil(numel(src.shape) / BLOCK));
    },
    argsort(out, x, dim, descending) {
      // Sorted on the host: the values travel there and the indices back.
      // TODO(perf): a device sort (segmented radix or bitonic) would avoid the round trip.
      const n = numel(x.shape);
      if (n === 0) return;
      const xc = contiguous(x);
      const host = tsBackend.allocate(x.dtype, n) as TsStorage;
      host.data = backend.read(xc.storage, xc.offset, n);
      const idx = tsBackend.allocate('int64', n) as TsStorage;
      const strides = contiguousStrides(x.shape);
      tsBackend.argsort({ storage: idx, dtype: 'int64', shape: x.shape, strides, offset: 0 }, { storage: host, dtype: x.dtype, shape: x.shape, strides, offset: 0 }, dim, descending);
      const tmp = backend.allocate('int64', n);
      backend.write(tmp, idx.data, 0);
      backend.copy(out, { storage: tmp, dtype: 'int64', shape: x.shape, strides, offset: 0 });
      backend.free(tmp);
      if (xc !== x) backend.free(xc.storage);
    },
    random(out, dist, seed, offset, a, b) {
      const n = numel(out.shape);
      if (n === 0) return;
      dev.makeCurrent();
      dev.setPtr(0, addr(out));
      dev.setInt(L.n, n);
      dev.setInt(L.i, offset);
      const s = BigInt.asUintN(64, seed);
      dev.i32[(L.i >> 2) + 2] = Number(s & 0xffffffffn) | 0;
      dev.i32[(L.i >> 2) + 3] = Number(s >> 32n) | 0;
      dev.f64[L.s >> 3] = a;
      dev.f64[(L.s >> 3) + 1] = b;
      dev.f64[(L.s >> 3) + 2] = dist === 'uniform' ? (out.dtype === 'float32' ? float32Below(b) : float64Below(b)) : 0;
      dev.i32[L.flags >> 2] = dist === 'normal' ? 1 : 0;
      dev.run(dev.kernel({ kind: 'random', dtype: out.dtype }), Math.ceil(n / BLOCK));
    },
    synchronize() {
      dev.makeCurrent();
      drv.synchronize();
    },
  };
  return backend;
}


/** gather and scatter: a thread per index element; out-of-range indices raise an IndexError (the host waits for the check). */
function indexKernel(dev: CudaDevice, kind: 'gather' | 'scatter', out: V, xStrides: readonly number[], x: V, index: V, size: number, dstride: number,
  accumulate: boolean, dim: number, outStrides: readonly number[] = out.strides): void {
  const n = numel(index.shape);
  if (n === 0) return;
  dev.makeCurrent();
  const flag = dev.flag();
  dev.setPtr(0, addr(out));
  dev.setPtr(1, addr(x));
  dev.setPtr(2, addr(index));
  dev.setPtr(3, flag);
  dev.setInt(L.n, n);
  writeDims(dev, index.shape, [outStrides, xStrides, index.strides], kind);
  dev.setInt(L.i, size);
  dev.setInt(L.i + 8, dstride);
  dev.setInt(L.i + 16, accumulate ? 1 : 0);
  dev.run(dev.kernel({ kind, dtype: out.dtype }), Math.ceil(n / BLOCK));
  const bad = dev.badPosition();
  if (bad < 0) return;
  // The offending value, for the message.
  const v = new BigInt64Array(1);
  dev.copyToHost(v, index.storage.ptr + offsetAt(index, bad) * 8, 8);
  throw new IndexError(kind, `index ${Number(v[0])} is out of bounds for dimension ${dim} with size ${size}`);
}

/**
 * The fused softmax kernels (float32, float64; 16-bit comes widened): a warp per slice along `dim`,
 * views[0] written. The other dims (merged where they can be) locate each slice in every view.
 */
function softmaxRows(dev: CudaDevice, kind: 'softmax' | 'softmaxBackward', views: V[], dim: number, log: boolean): void {
  const x = views[views.length - 1]!;
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new DeviceError(kind, `the cuda softmax kernels take float32 or float64, got ${x.dtype}`);
  const total = numel(x.shape);
  if (total === 0) return;
  dev.makeCurrent();
  const others = [...x.shape.keys()].filter((d) => d !== dim);
  const c = coalesce(others.map((d) => x.shape[d]!), views.map((v) => others.map((d) => v.strides[d]!)));
  const rows = total / x.shape[dim]!;
  views.forEach((v, q) => dev.setPtr(q, addr(v)));
  dev.setInt(L.n, rows);
  writeDims(dev, c.shape, c.strides, kind);
  dev.setInt(L.i, x.shape[dim]!);
  views.forEach((v, q) => dev.setInt(L.i + 8 * (q + 1), v.strides[dim]!));
  dev.i32[L.flags >> 2] = log ? 1 : 0;
  dev.run(dev.kernel({ kind, dtype: x.dtype }), Math.ceil(rows / SOFTMAX_ROWS_PER_BLOCK));
}

/** Reductions over `dims`: a block per output when there is much to reduce, split in two passes when outputs are few. */
function reduce(dev: CudaDevice, backend: Backend<CudaStorage>, op: ReduceOpName, out: V, x: V, dims: readonly number[]): void {
  dev.makeCurrent();
  const kept = [...x.shape.keys()].filter((d) => !dims.includes(d));
  const k = coalesce(kept.map((d) => x.shape[d]!), [kept.map((d) => x.strides[d]!), kept.map((d) => out.strides[d]!)]);
  const r = coalesce(dims.map((d) => x.shape[d]!), [dims.map((d) => x.strides[d]!)]);
  const nout = numel(k.shape);
  const nred = numel(r.shape);
  const isArg = op === 'argmax' || op === 'argmin';
  const block = nred >= 64;
  // Few outputs with much to reduce each: split each output over several blocks (enough to fill
  // every SM: 8 blocks of 256 threads each), then reduce the partials.
  const target = dev.sms * 8;
  const chunks = block && !isArg && nout < target && nred >= 16 * BLOCK ? Math.min(Math.ceil(target / nout), Math.ceil(nred / (4 * BLOCK))) : 1;
  const write = (outV: V, xV: V, kShape: number[], kSt: number[][], rShape: number[], rSt: number[], ch: number, partial: boolean, blockMode: boolean, no: number, nr: number) => {
    dev.setPtr(0, addr(outV));
    dev.setPtr(1, addr(xV));
    writeDims(dev, [...kShape, ...rShape], [[...kSt[0]!, ...rSt], kSt[1]!], op);
    dev.setInt(L.i, kShape.length);
    dev.setInt(L.i + 8, ch);
    dev.setInt(L.i + 16, no);
    dev.setInt(L.i + 24, nr);
    dev.i32[L.flags >> 2] = (blockMode ? 1 : 0) | (partial ? 2 : 0);
  };
  const launch = (spec: KernelSpec, units: number, blockMode: boolean) =>
    dev.run(dev.kernel(spec), Math.max(1, Math.min(blockMode ? units : Math.ceil(units / BLOCK), 65535 * 16)));
  const spec: KernelSpec = { kind: 'reduce', op, in: x.dtype, out: out.dtype };
  if (out.dtype !== reduceOutType(op, x.dtype)) throw new DeviceError(op, `cuda reduce writes ${reduceOutType(op, x.dtype)}, got a ${out.dtype} output`);
  if (chunks === 1) {
    write(out, x, k.shape, k.strides, r.shape, r.strides[0]!, 1, false, block, nout, nred);
    launch(spec, nout, block);
    return;
  }
  const accType: DType = exactReduce(op, x.dtype) ? 'int64' : 'float64';
  const partials = backend.allocate(accType, nout * chunks);
  const pv: V = { storage: partials, dtype: accType, shape: [nout, chunks], strides: [chunks, 1], offset: 0 };
  write(pv, x, k.shape, k.strides, r.shape, r.strides[0]!, chunks, true, true, nout, nred);
  launch(spec, nout * chunks, true);
  // Second pass: each output reduces its row of partials.
  write(out, pv, k.shape, [k.shape.map((_, d) => contiguousStrides(k.shape)[d]! * chunks), k.strides[1]!], [chunks], [1], 1, false, chunks >= 64, nout, chunks);
  launch({ kind: 'reduce', op, in: accType, out: out.dtype }, nout, chunks >= 64);
  backend.free(partials);
}

/**
 * How cuBLAS can read a row-major-indexed matrix view: transposed or not, with its leading
 * dimension; undefined when neither of its strides is 1 (it is copied first).
 */
function blasLayout(rows: number, cols: number, rs: number, cs: number): { op: number; ld: number } | undefined {
  // Row-major (unit column stride): as cuBLAS's column-major this is the transpose, read with op N.
  let r = rows === 1 ? Math.max(cols, 1) : rs;
  let c = cols === 1 ? 1 : cs;
  if (c === 1 && r >= Math.max(cols, 1)) return { op: OP_N, ld: r };
  r = rows === 1 ? 1 : rs;
  c = cols === 1 ? Math.max(rows, 1) : cs;
  if (r === 1 && c >= Math.max(rows, 1)) return { op: OP_T, ld: c };
  return undefined;
}

function matmul(dev: CudaDevice, backend: Backend<CudaStorage>, out: V, a: V, b: V): void {
  dev.makeCurrent();
  const nd = out.shape.length;
  const [m, n, k] = [out.shape[nd - 2]!, out.shape[nd - 1]!, a.shape[nd - 1]!];
  const dt = out.dtype;
  const bs = (v: V) => v.strides.slice(0, nd - 2);
  const batch = coalesce(out.shape.slice(0, nd - 2), [bs(out), bs(a), bs(b)]);
  if (k === 0) {
    backend.fill(out, 0);
    return;
  }
  if (!isFloating(dt)) {
    // Integer products: the naive kernel, one launch per batch position of the outer dims.
    const inner = batch.shape.length > 0 ? batch.shape[batch.shape.length - 1]! : 1;
    forEachBatch(batch, (ao, bo, co) => {
      dev.setPtr(0, addr(out) + co * bytesPerElement(dt));
      dev.setPtr(1, addr(a) + ao * bytesPerElement(dt));
      dev.setPtr(2, addr(b) + bo * bytesPerElement(dt));
      const last = (st: number[]) => (batch.shape.length > 0 ? st[st.length - 1]! : 0);
      const set = (q: number, v: V, bst: number) => [v.strides[nd - 2]!, v.strides[nd - 1]!, bst].forEach((s, d) => dev.setInt(L.st + 8 * (q * MAX_DIMS + d), s));
      set(0, out, last(batch.strides[0]!));
      set(1, a, last(batch.strides[1]!));
      set(2, b, last(batch.strides[2]!));
      dev.setInt(L.i, m);
      dev.setInt(L.i + 8, n);
      dev.setInt(L.i + 16, k);
      dev.run(dev.kernel({ kind: 'matmul', dtype: dt }), Math.ceil((m * n) / BLOCK), inner);
    });
    return;
  }
  // Operands cuBLAS cannot read in place are copied to contiguous memory first.
  const temps: CudaStorage[] = [];
  const readable = (v: V, rows: number, cols: number): V => {
    if (blasLayout(rows, cols, v.strides[nd - 2]!, v.strides[nd - 1]!)) return v;
    const s = backend.allocate(v.dtype, numel(v.shape));
    temps.push(s);
    const c: V = { storage: s, dtype: v.dtype, shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 };
    backend.copy(c, v);
    return c;
  };
  const A = readable(a, m, k);
  const B = readable(b, k, n);
  const outOk = out.strides[nd - 1] === 1 || n === 1;
  const C: V = outOk && (out.strides[nd - 2]! >= n || m === 1) ? out : (() => {
    const s = backend.allocate(dt, numel(out.shape));
    temps.push(s);
    return { storage: s, dtype: dt, shape: out.shape, strides: contiguousStrides(out.shape), offset: 0 };
  })();
  const la = blasLayout(m, k, A.strides[nd - 2]!, A.strides[nd - 1]!)!;
  const lb = blasLayout(k, n, B.strides[nd - 2]!, B.strides[nd - 1]!)!;
  const ldc = m === 1 ? Math.max(n, 1) : C.strides[nd - 2]!;
  const cb = coalesce(C.shape.slice(0, nd - 2), [bs(C), bs(A), bs(B)]);
  const inner = cb.shape.length > 0 ? cb.shape[cb.shape.length - 1]! : 1;
  const last = (st: number[]) => (cb.shape.length > 0 ? st[st.length - 1]! : 0);
  const e = bytesPerElement(dt);
  const blas = dev.cublas;
  forEachBatch(cb, (ao, bo, co) => {
    // Row-major C = A B is column-major C^T = B^T A^T.
    blas.gemm(dt, lb.op, la.op, n, m, k,
      addr(B) + bo * e, lb.ld, last(cb.strides[2]!),
      addr(A) + ao * e, la.ld, last(cb.strides[1]!),
      addr(C) + co * e, ldc, last(cb.strides[0]!), inner);
  });
  if (C !== out) backend.copy(out, C);
  for (const s of temps) backend.free(s);
}

/** Calls f with element offsets (a, b, out) for every position of the batch dims but the last. */
function forEachBatch(batch: { shape: number[]; strides: number[][] }, f: (ao: number, bo: number, co: number) => void): void {
  const outer = batch.shape.slice(0, -1);
  const pos = outer.map(() => 0);
  const total = numel(outer);
  for (let e = 0; e < total; e++) {
    let ao = 0, bo = 0, co = 0;
    pos.forEach((p, d) => {
      co += p * batch.strides[0]![d]!;
      ao += p * batch.strides[1]![d]!;
      bo += p * batch.strides[2]![d]!;
    });
    f(ao, bo, co);
    for (let d = outer.length - 1; d >= 0; d--) {
      if (++pos[d]! < outer[d]!) break;
      pos[d] = 0;
    }
  }
}

// ---- the process-wide runtime and per-device backends ----

let runtime: CudaRuntime | undefined;
let loadError: Error | undefined;
let tf32 = false;

/** TF32 for float32 products (setFloat32MatmulPrecision); applies to runtimes loaded later too. */
export function setTf32(on: boolean): void {
  tf32 = on;
  if (runtime) runtime.tf32 = on;
}
const backends = new Map<number, Backend>();

/** The CUDA runtime, loaded on first use; throws the reason it cannot be (no driver, no GPU). */
export function cudaRuntime(): CudaRuntime {
  if (runtime) return runtime;
  if (loadError) throw loadError;
  try {
    runtime = new CudaRuntime();
    runtime.tf32 = tf32;
    if (runtime.count === 0) throw new Error('the NVIDIA driver reports no CUDA device');
    return runtime;
  } catch (e) {
    runtime = undefined;
    loadError = e as Error;
    throw loadError;
  }
}

/** The backend serving cuda:index. */
export function cudaBackend(index: number): Backend {
  let b = backends.get(index);
  if (!b) backends.set(index, (b = withReducedFloats(makeCudaBackend(cudaRuntime().device(index)) as unknown as Backend)));
  return b;
}

