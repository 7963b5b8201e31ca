// `fm.cuda.Event` (PyTorch's torch.cuda.Event): a marker in the GPU's queue of work, to time
// kernels (elapsedTime between two recorded events) and to wait for the work before it without
// waiting for everything (synchronize, query). Fiamma queues all work in order on one stream (the
// legacy default stream), so an event marks everything queued before its record().
import { cudaRuntime, type CudaDevice } from './backend/cuda/index.js';
import { currentCudaDevice } from './device.js';
import { DeviceError, ValueError } from './errors.js';

type Fn = (...args: unknown[]) => number;

/** cuEventCreate's flags and the status of work not yet done (cuda.h). */
const CU_EVENT_BLOCKING_SYNC = 1;
const CU_EVENT_DISABLE_TIMING = 2;
const CUDA_ERROR_NOT_READY = 600;

/** Options of `new fm.cuda.Event()`, as torch.cuda.Event's. */
export interface EventOptions {
  /** Record times, for elapsedTime (default false, which makes recording cheaper). */
  enableTiming?: boolean;
  /** synchronize() sleeps instead of spinning (default false). */
  blocking?: boolean;
  /** The GPU (default the current one). */
  device?: number;
}

const destroyed = new FinalizationRegistry<{ destroy: () => void }>((h) => h.destroy());

/**
 * A CUDA event. Example:
 * ```ts
 * const start = new fm.cuda.Event({ enableTiming: true }), end = new fm.cuda.Event({ enableTiming: true });
 * start.record(); y = x.matmul(x); end.record();
 * end.synchronize();
 * console.log(start.elapsedTime(end), 'ms');
 * ```
 */
export class Event {
  readonly enableTiming: boolean;
  private readonly dev: CudaDevice;
  private handle: number;
  private recorded = false;
  private readonly token = {};

  constructor(opts: EventOptions = {}) {
    const { enableTiming = false, blocking = false } = opts;
    let runtime;
    try {
      runtime = cudaRuntime();
    } catch (e) {
      throw new DeviceError('cuda.Event', `CUDA is not available: ${(e as Error).message}`);
    }
    const index = opts.device ?? currentCudaDevice();
    if (!Number.isInteger(index) || index < 0 || index >= runtime.count) throw new ValueError('cuda.Event', `device must be an index below ${runtime.count}, got ${String(opts.device)}`);
    this.dev = runtime.device(index);
    this.enableTiming = enableTiming;
    this.dev.makeCurrent();
    const out = new BigUint64Array(1);
    const flags = (enableTiming ? 0 : CU_EVENT_DISABLE_TIMING) | (blocking ? CU_EVENT_BLOCKING_SYNC : 0);
    this.call('cuEventCreate', 'int cuEventCreate(void *event, uint32_t flags)', out, flags);
    this.handle = Number(out[0]);
    const drv = this.dev.runtime.driver;
    const h = this.handle;
    destroyed.register(this, { destroy: () => drv.fn('int cuEventDestroy_v2(uintptr_t event)')(h) }, this.token);
  }

  private call(name: string, proto: string, ...args: unknown[]): number {
    const status = (this.dev.runtime.driver.fn(proto) as Fn)(...args);
    if (status !== 0 && status !== CUDA_ERROR_NOT_READY) this.dev.runtime.driver.check(name, status, 'cuda.Event');
    return status;
  }

  private live(op: string): number {
    if (this.handle === 0) throw new ValueError(op, 'the event was destroyed (dispose())');
    return this.handle;
  }

  /** Marks the work queued so far; the event completes when it is done. */
  record(): this {
    const h = this.live('cuda.Event.record');
    this.dev.makeCurrent();
    this.call('cuEventRecord', 'int cuEventRecord(uintptr_t event, uintptr_t stream)', h, 0);
    this.recorded = true;
    return this;
  }

  /** True when the work before the last record() is done (or nothing was recorded). */
  query(): boolean {
    const h = this.live('cuda.Event.query');
    return this.call('cuEventQuery', 'int cuEventQuery(uintptr_t event)', h) === 0;
  }

  /** Waits for the work before the last record(). */
  synchronize(): void {
    const h = this.live('cuda.Event.synchronize');
    this.call('cuEventSynchronize', 'int cuEventSynchronize(uintptr_t event)', h);
  }

  /** Milliseconds from this event's record to `end`'s; both timed, recorded and complete. */
  elapsedTime(end: Event): number {
    const op = 'cuda.Event.elapsedTime';
    if (!this.enableTiming || !end.enableTiming) throw new ValueError(op, 'both events need enableTiming: true');
    if (!this.recorded || !end.recorded) throw new ValueError(op, 'both events must be recorded first (record())');
    const ms = new Float32Array(1);
    const status = this.call('cuEventElapsedTime', 'int cuEventElapsedTime(void *ms, uintptr_t start, uintptr_t end)', ms, this.live(op), end.live(op));
    if (status === CUDA_ERROR_NOT_READY) throw new ValueError(op, 'the end event has not completed yet: call end.synchronize() first');
    return ms[0]!;
  }

  /** Frees the driver's event now (else the garbage collector does). */
  dispose(): void {
    if (this.handle === 0) return;
    destroyed.unregister(this.token);
    this.call('cuEventDestroy', 'int cuEventDestroy_v2(uintptr_t event)', this.handle);
    this.handle = 0;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
