// `fm.cuda.Stream` and `fm.cuda.Event` (PyTorch's torch.cuda.Stream / Event). Work goes to the
// legacy default stream unless it runs inside `fm.cuda.stream(s, fn)`; streams are non-blocking
// (they do not wait for the default stream), so work on two streams may overlap, and order
// between them is the caller's to set with events (waitEvent, waitStream), as in PyTorch. Memory
// freed while side streams exist is reused only once the work queued before the free, on every
// stream, is done (backend/cuda/allocator.ts), so no tensor's memory is overwritten early.
import type { CudaDevice } from './backend/cuda/index.js';
import { deviceOf } from './cuda_device.js';
import { currentStreamHandle, withStream } from './backend/cuda/stream_context.js';
import { ValueError } from './errors.js';

/** The device `device` names (default the current one), made current. */
function deviceFor(op: string, device: number | undefined): CudaDevice {
  const d = deviceOf(op, device);
  d.makeCurrent();
  return d;
}

/** Driver objects nobody disposed are destroyed by the collector (a failure there has no one to report to). */
const finalizers = new FinalizationRegistry<() => void>((destroy) => {
  try {
    destroy();
  } catch {
    // the context is gone (process exit) or the driver failed: nothing left to free
  }
});

/**
 * A side stream's end: its work is waited for before it leaves the device's list (while it is
 * listed, memory freed on any stream waits for it too), then the driver stream is destroyed.
 */
function retire(dev: CudaDevice, handle: number): void {
  dev.makeCurrent();
  const drv = dev.runtime.driver;
  drv.streamSynchronize(handle);
  dev.dropStream(handle);
  drv.streamDestroy(handle);
}

/** Options of `new fm.cuda.Stream()`. */
export interface StreamOptions {
  /** The GPU (default the current one). */
  device?: number;
  /** Lower runs first, as CUDA's priorities (0, the default, or negative for higher priority). */
  priority?: number;
}

/**
 * A CUDA stream: a queue of work that may run beside other streams' work. Example:
 * ```ts
 * const s = new fm.cuda.Stream();
 * const y = fm.cuda.stream(s, () => x.matmul(w));   // queued on s
 * fm.cuda.currentStream().waitStream(s);            // later default-stream work waits for it
 * ```
 */
export class Stream {
  /** The driver's handle (0: the legacy default stream; -1 after dispose()). */
  handle: number;
  readonly device: number;
  private readonly dev: CudaDevice;
  private readonly token = {};
  /** False for the wrappers currentStream() and defaultStream() return: they destroy nothing. */
  private readonly owned: boolean;

  /** `handle` is internal: fm.cuda.defaultStream() / currentStream() wrap existing streams. */
  constructor(opts: StreamOptions = {}, handle?: number) {
    this.dev = deviceFor('cuda.Stream', opts.device);
    this.device = this.dev.index;
    this.owned = handle === undefined;
    if (handle !== undefined) {
      this.handle = handle;
      return;
    }
    const priority = opts.priority ?? 0;
    if (!Number.isInteger(priority)) throw new ValueError('cuda.Stream', `priority must be an integer, got ${String(priority)}`);
    const dev = this.dev;
    const drv = dev.runtime.driver;
    // Blocks in the allocator's free lists may still be read by default-stream work queued before
    // they were freed, which a non-blocking stream would not wait for: the first side stream
    // starts once that work is done (later frees are guarded by events, allocator.ts).
    if (dev.sideStreams.size === 0) drv.synchronize();
    const h = (this.handle = drv.streamCreate(priority));
    dev.sideStreams.add(h);
    finalizers.register(this, () => retire(dev, h), this.token);
  }

  /** The handle, or an error naming `op` after dispose(). */
  live(op: string): number {
    if (this.handle === -1) throw new ValueError(op, 'the stream was destroyed (dispose())');
    return this.handle;
  }

  /** Waits for all work queued on this stream. */
  synchronize(): void {
    const h = this.live('cuda.Stream.synchronize');
    this.dev.makeCurrent();
    this.dev.runtime.driver.streamSynchronize(h);
  }
  /** True when all work queued on this stream is done. */
  query(): boolean {
    const h = this.live('cuda.Stream.query');
    this.dev.makeCurrent();
    return this.dev.runtime.driver.streamQuery(h);
  }
  /** Work queued on this stream from now on waits for `event`'s recorded work. */
  waitEvent(event: Event): void {
    const h = this.live('cuda.Stream.waitEvent');
    this.dev.makeCurrent();
    this.dev.runtime.driver.streamWaitEvent(h, event.live('cuda.Stream.waitEvent'));
  }
  /** Work queued on this stream from now on waits for the work queued on `other` so far. */
  waitStream(other: Stream): void {
    other.live('cuda.Stream.waitStream');
    const e = new Event({ device: this.device }).record(other);
    this.waitEvent(e);
    e.dispose();
  }
  /** Records `event` (a new one when not given) on this stream. */
  recordEvent(event: Event = new Event({ device: this.device })): Event {
    return event.record(this);
  }
  /** Waits for the stream's queued work, then destroys it (only a stream made with new Stream()). */
  dispose(): void {
    if (this.handle === -1) return;
    if (!this.owned) throw new ValueError('cuda.Stream.dispose', `this Stream wraps ${this.handle === 0 ? 'the default stream' : 'a stream'} it does not own (from currentStream() or defaultStream()): dispose the Stream you made`);
    finalizers.unregister(this.token);
    retire(this.dev, this.handle);
    this.handle = -1;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Options of `new fm.cuda.Event()`, as torch.cuda.Event's. */
export interface EventOptions {
  /** Record times, for elapsedTime (default false, which makes recording cheaper). */
  enableTiming?: boolean;
  /** synchronize() sleeps instead of spinning (default false). */
  blocking?: boolean;
  /** The GPU (default the current one). */
  device?: number;
}

/**
 * A CUDA event: a marker in a stream, to time work (elapsedTime between two recorded events), to
 * wait for the work before it alone (synchronize, query), or to order streams (waitEvent). Example:
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
    this.dev = deviceFor('cuda.Event', opts.device);
    this.enableTiming = opts.enableTiming ?? false;
    const dev = this.dev;
    const h = (this.handle = dev.runtime.driver.eventCreate(this.enableTiming, opts.blocking ?? false));
    finalizers.register(this, () => {
      dev.makeCurrent();
      dev.runtime.driver.eventDestroy(h);
    }, this.token);
  }

  /** The handle, or an error naming `op` after dispose(). */
  live(op: string): number {
    if (this.handle === 0) throw new ValueError(op, 'the event was destroyed (dispose())');
    return this.handle;
  }

  /** Marks the work queued so far on `stream` (default: the current stream); the event completes when it is done. */
  record(stream?: Stream): this {
    const op = 'cuda.Event.record';
    const h = this.live(op);
    if (stream && stream.device !== this.dev.index) throw new ValueError(op, `the event is on cuda:${this.dev.index}, the stream on cuda:${stream.device}`);
    this.dev.makeCurrent();
    this.dev.runtime.driver.eventRecord(h, stream ? stream.live(op) : currentStreamHandle(this.dev.index));
    this.recorded = true;
    return this;
  }

  /** True when the work before the last record() is done (or nothing was recorded). */
  query(): boolean {
    return this.dev.runtime.driver.eventQuery(this.live('cuda.Event.query'));
  }

  /** Waits for the work before the last record(). */
  synchronize(): void {
    this.dev.runtime.driver.eventSynchronize(this.live('cuda.Event.synchronize'));
  }

  /** Milliseconds from this event's record to `end`'s; both timed, recorded and complete. */
  elapsedTime(end: Event): number {
    const op = 'cuda.Event.elapsedTime';
    if (!this.enableTiming || !end.enableTiming) throw new ValueError(op, 'both events need enableTiming: true');
    if (!this.recorded || !end.recorded) throw new ValueError(op, 'both events must be recorded first (record())');
    const ms = this.dev.runtime.driver.eventElapsed(this.live(op), end.live(op));
    if (ms === undefined) throw new ValueError(op, 'the end event has not completed yet: call end.synchronize() first');
    return ms;
  }

  /** Frees the driver's event now (else the garbage collector does). */
  dispose(): void {
    if (this.handle === 0) return;
    finalizers.unregister(this.token);
    this.dev.runtime.driver.eventDestroy(this.handle);
    this.handle = 0;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The stream that work for `device` (default the current GPU) goes to now. Example: `fm.cuda.currentStream().synchronize()`. */
export function currentStream(device?: number): Stream {
  const d = deviceFor('cuda.currentStream', device);
  return new Stream({ device: d.index }, currentStreamHandle(d.index));
}

/** The legacy default stream of `device`, where work goes outside `fm.cuda.stream`. */
export function defaultStream(device?: number): Stream {
  return new Stream({ device: deviceFor('cuda.defaultStream', device).index }, 0);
}

/**
 * Runs `fn` (sync or async) with its device's work queued on `s` (torch.cuda.stream(s)).
 * Example: `fm.cuda.stream(side, () => batch.to('cuda'))`.
 */
export function stream<T>(s: Stream, fn: () => T): T {
  if (!(s instanceof Stream)) throw new ValueError('cuda.stream', `expected a fm.cuda.Stream, got ${typeof s}`);
  s.live('cuda.stream');
  return withStream(s.device, s, fn);
}
