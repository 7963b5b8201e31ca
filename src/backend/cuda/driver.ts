// The CUDA driver API through koffi: devices, primary contexts, memory, modules and launches.
// Handles (contexts, modules, functions, device pointers) travel as JS numbers: every address a
// 64-bit process hands out fits in 53 bits. check() turns every status into a FiammaError that
// carries the driver's own name and message for it.
import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';
import { DeviceError } from '../../errors.js';
import { loadLibrary } from './libs.js';

const require = createRequire(import.meta.url);
type Fn = (...args: unknown[]) => number;

export const CUDA_ERROR_OUT_OF_MEMORY = 2;
/** Work not finished yet (cuEventQuery, cuStreamQuery). */
export const CUDA_ERROR_NOT_READY = 600;

/** Device attributes read through cuDeviceGetAttribute (values from cuda.h). */
export const attr = {
  maxThreadsPerBlock: 1, multiProcessorCount: 16, computeCapabilityMajor: 75, computeCapabilityMinor: 76,
  l2CacheSize: 38, maxSharedMemoryPerBlock: 8, warpSize: 10, memoryBusWidth: 37,
} as const;

/** A CUDA status as an error: the op that called, the driver's name and description of the status. */
export class CudaError extends DeviceError {
  constructor(op: string, readonly call: string, readonly status: number, text: string) {
    super(op, `${call} failed with ${text}`);
  }
}

/** The driver library with typed calls. One per process. */
export class Driver {
  readonly path: string;
  private readonly lib: LibraryHandle;
  private readonly fns = new Map<string, Fn>();
  private readonly u64 = new BigUint64Array(2);
  private readonly i32 = new Int32Array(2);
  private readonly koffi = require('koffi') as typeof import('koffi');

  constructor() {
    const { lib, path } = loadLibrary('driver');
    this.lib = lib;
    this.path = path;
    this.check('cuInit', this.fn('int cuInit(uint32_t flags)')(0));
  }

  /** Binds a C prototype once. */
  fn(proto: string): Fn {
    let f = this.fns.get(proto);
    if (!f) this.fns.set(proto, (f = this.lib.func(proto) as unknown as Fn));
    return f;
  }

  /** `CUDA_ERROR_OUT_OF_MEMORY: out of memory` for a status. */
  describe(status: number): string {
    const name: (string | null)[] = [null];
    const text: (string | null)[] = [null];
    this.fn('int cuGetErrorName(int error, _Out_ const char **str)')(status, name);
    this.fn('int cuGetErrorString(int error, _Out_ const char **str)')(status, text);
    return `${name[0] ?? `CUDA status ${status}`}: ${text[0] ?? 'unknown error'}`;
  }

  /** Raises a CudaError for a non-zero status. */
  check(call: string, status: number, op = 'cuda'): void {
    if (status !== 0) throw new CudaError(op, call, status, this.describe(status));
  }

  private outU64(call: string, f: Fn, ...args: unknown[]): number {
    this.check(call, f(this.u64, ...args));
    return Number(this.u64[0]);
  }
  private outI32(call: string, f: Fn, ...args: unknown[]): number {
    this.check(call, f(this.i32, ...args));
    return this.i32[0]!;
  }

  version(): number {
    return this.outI32('cuDriverGetVersion', this.fn('int cuDriverGetVersion(int *v)'));
  }
  deviceCount(): number {
    return this.outI32('cuDeviceGetCount', this.fn('int cuDeviceGetCount(int *n)'));
  }
  device(ordinal: number): number {
    return this.outI32('cuDeviceGet', this.fn('int cuDeviceGet(int *dev, int ordinal)'), ordinal);
  }
  deviceName(dev: number): string {
    const buf = Buffer.alloc(256);
    this.check('cuDeviceGetName', this.fn('int cuDeviceGetName(void *name, int len, int dev)')(buf, 256, dev));
    return buf.toString('utf8', 0, buf.indexOf(0));
  }
  attribute(dev: number, a: number): number {
    return this.outI32('cuDeviceGetAttribute', this.fn('int cuDeviceGetAttribute(int *v, int attrib, int dev)'), a, dev);
  }
  totalMemory(dev: number): number {
    return this.outU64('cuDeviceTotalMem', this.fn('int cuDeviceTotalMem_v2(void *bytes, int dev)'), dev);
  }
  /** The device's primary context (shared with every other user of the runtime API, cuBLAS included). */
  primaryContext(dev: number): number {
    return this.outU64('cuDevicePrimaryCtxRetain', this.fn('int cuDevicePrimaryCtxRetain(void *ctx, int dev)'), dev);
  }
  setContext(ctx: number): void {
    this.check('cuCtxSetCurrent', this.fn('int cuCtxSetCurrent(uintptr_t ctx)')(ctx));
  }
  synchronize(): void {
    this.check('cuCtxSynchronize', this.fn('int cuCtxSynchronize()')());
  }
  /** [free, total] bytes on the current device. */
  memInfo(): [number, number] {
    this.check('cuMemGetInfo', this.fn('int cuMemGetInfo_v2(void *free, void *total)')(this.u64, this.u64.subarray(1)));
    return [Number(this.u64[0]), Number(this.u64[1])];
  }
  /** Device memory, or the status (out of memory) without raising. */
  tryMalloc(bytes: number): number | { status: number } {
    const status = this.fn('int cuMemAlloc_v2(void *dptr, size_t bytes)')(this.u64, bytes);
    return status === 0 ? Number(this.u64[0]) : { status };
  }
  free(ptr: number): void {
    this.check('cuMemFree', this.fn('int cuMemFree_v2(uintptr_t dptr)')(ptr));
  }
  /** Host to device; returns once the host memory may be reused. */
  copyToDevice(dst: number, src: ArrayBufferView, bytes: number): void {
    this.check('cuMemcpyHtoD', this.fn('int cuMemcpyHtoD_v2(uintptr_t dst, void *src, size_t bytes)')(dst, src, bytes));
  }
  /** Host (pinned memory) to device, queued on `stream`; returns at once. */
  copyToDeviceAsync(dst: number, src: ArrayBufferView, bytes: number, stream: number): void {
    this.check('cuMemcpyHtoDAsync', this.fn('int cuMemcpyHtoDAsync_v2(uintptr_t dst, void *src, size_t bytes, uintptr_t stream)')(dst, src, bytes, stream));
  }
  /** Device to host; waits for the work queued before it (the legacy default stream). */
  copyToHost(dst: ArrayBufferView, src: number, bytes: number): void {
    this.check('cuMemcpyDtoH', this.fn('int cuMemcpyDtoH_v2(void *dst, uintptr_t src, size_t bytes)')(dst, src, bytes));
  }
  loadModule(image: Buffer): number {
    return this.outU64('cuModuleLoadData', this.fn('int cuModuleLoadData(void *module, void *image)'), image);
  }
  getFunction(module: number, name: string): number {
    return this.outU64('cuModuleGetFunction', this.fn('int cuModuleGetFunction(void *fn, uintptr_t module, const char *name)'), module, name);
  }
  /** A stream that does not wait for the legacy default stream (CU_STREAM_NON_BLOCKING), as PyTorch's side streams. */
  streamCreate(priority: number): number {
    return this.outU64('cuStreamCreateWithPriority', this.fn('int cuStreamCreateWithPriority(void *stream, uint32_t flags, int priority)'), 1, priority);
  }
  streamDestroy(stream: number): void {
    this.check('cuStreamDestroy', this.fn('int cuStreamDestroy_v2(uintptr_t stream)')(stream));
  }
  streamSynchronize(stream: number): void {
    this.check('cuStreamSynchronize', this.fn('int cuStreamSynchronize(uintptr_t stream)')(stream));
  }
  /** True when all work queued on the stream is done. */
  streamQuery(stream: number): boolean {
    return this.ready('cuStreamQuery', this.fn('int cuStreamQuery(uintptr_t stream)')(stream));
  }
  /** Work queued on `stream` after this waits for `event`'s recorded work. */
  streamWaitEvent(stream: number, event: number): void {
    this.check('cuStreamWaitEvent', this.fn('int cuStreamWaitEvent(uintptr_t stream, uintptr_t event, uint32_t flags)')(stream, event, 0));
  }
  /** CU_EVENT_DISABLE_TIMING (2) unless timed; CU_EVENT_BLOCKING_SYNC (1) when blocking. */
  eventCreate(timed: boolean, blocking = false): number {
    return this.outU64('cuEventCreate', this.fn('int cuEventCreate(void *event, uint32_t flags)'), (timed ? 0 : 2) | (blocking ? 1 : 0));
  }
  eventRecord(event: number, stream: number): void {
    this.check('cuEventRecord', this.fn('int cuEventRecord(uintptr_t event, uintptr_t stream)')(event, stream));
  }
  /** True when the work before the event's record is done. */
  eventQuery(event: number): boolean {
    return this.ready('cuEventQuery', this.fn('int cuEventQuery(uintptr_t event)')(event));
  }
  eventSynchronize(event: number): void {
    this.check('cuEventSynchronize', this.fn('int cuEventSynchronize(uintptr_t event)')(event));
  }
  eventDestroy(event: number): void {
    this.check('cuEventDestroy', this.fn('int cuEventDestroy_v2(uintptr_t event)')(event));
  }
  /** Milliseconds between two timed events' records, or undefined while `end` is not done. */
  eventElapsed(start: number, end: number): number | undefined {
    const ms = new Float32Array(1);
    const status = this.fn('int cuEventElapsedTime(void *ms, uintptr_t start, uintptr_t end)')(ms, start, end);
    return this.ready('cuEventElapsedTime', status) ? ms[0]! : undefined;
  }
  private ready(call: string, status: number): boolean {
    if (status === CUDA_ERROR_NOT_READY) return false;
    this.check(call, status);
    return true;
  }
  /** The launch call itself, bound once (the hot path: see index.ts). */
  launcher(): Fn {
    return this.fn('int cuLaunchKernel(uintptr_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, uint32_t shmem, uintptr_t stream, uintptr_t params, uintptr_t extra)');
  }
  /** Page-locked host memory (cuMemHostAlloc): its pointer, for koffi.view. */
  hostAlloc(bytes: number, flags: number, op = 'cuda'): unknown {
    const out: unknown[] = [null];
    this.check('cuMemHostAlloc', this.fn('int cuMemHostAlloc(_Out_ void **pp, size_t bytes, uint32_t flags)')(out, bytes, flags), op);
    return out[0];
  }
  freeHost(pointer: unknown): void {
    this.check('cuMemFreeHost', this.fn('int cuMemFreeHost(void *p)')(pointer));
  }
  /** Native memory that outlives any call (launch argument buffers): its address and a view of it. */
  hostBuffer(bytes: number): { address: number; view: ArrayBuffer } {
    const p = this.koffi.alloc('uint8_t', bytes);
    return { address: Number(this.koffi.address(p)), view: this.koffi.view(p, bytes) };
  }
}
