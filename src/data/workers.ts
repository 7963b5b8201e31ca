// DataLoader workers, main-thread side: a pool of worker_threads that read and collate batches,
// and the scheduler that keeps `prefetchFactor` requests in flight per worker and yields in order.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import * as errors from '../errors.js';
import { FiammaError, ValueError } from '../errors.js';
import type { WorkerSpec } from './spec.js';

/** What each worker is started with (structured-cloned into it). */
export interface WorkerConfig {
  spec: WorkerSpec;
  id: number;
  numWorkers: number;
  /** The worker's seed: the loader's base seed + id, as PyTorch seeds its workers. */
  seed: number;
  /** Collate batches in the worker with defaultCollate (else the raw samples come back). */
  collate: boolean;
  /** For iterable datasets: each worker batches its own stream. */
  iterable: { batchSize: number; dropLast: boolean } | null;
  port: MessagePort;
  signal: Int32Array;
}

/** Requests to a worker. */
export type Request = { type: 'fetch'; epoch: number; id: number; indices: number[] } | { type: 'next'; epoch: number; id: number };

/** An error as it crosses from a worker. */
export interface WireError {
  name: string;
  op: string | undefined;
  reason: string;
  stack: string | undefined;
}

/** Replies from a worker. */
export type Reply =
  | { type: 'ready'; worker: number; length: number | null }
  | { type: 'batch'; worker: number; epoch: number; id: number; batch: unknown; indices: number[] | null }
  | { type: 'done'; worker: number; epoch: number; id: number }
  | { type: 'error'; worker: number; epoch: number; id: number; error: WireError };

/** The error a worker raised, raised again on the main thread with the same class. */
function rebuildError(worker: number, e: WireError): Error {
  const where = `(in DataLoader worker ${worker})`;
  const cause = Object.assign(new Error(e.reason), { stack: e.stack });
  const Kind = (errors as Record<string, unknown>)[e.name];
  if (e.op !== undefined && typeof Kind === 'function' && Kind.prototype instanceof FiammaError) {
    const err = new (Kind as new (op: string, msg: string) => FiammaError)(e.op, `${e.reason} ${where}`);
    return Object.assign(err, { cause });
  }
  return new Error(`${e.name}: ${e.reason} ${where}`, { cause });
}

/**
 * A worker's first code: it loads worker_main.js and reports a failure to load it (a syntax error,
 * an option such as --input-type that a file entry rejects) through the reply port, where a main
 * thread blocked in Atomics.wait sees it; a file entry's failure would only raise an 'error' event.
 * Dynamic imports only, so that it runs both as a script and as a module.
 */
const bootstrap = `import('node:worker_threads').then(({ workerData: c }) => import(${JSON.stringify(new URL('./worker_main.js', import.meta.url).href)}).catch((e) => {
  const error = { name: (e && e.name) || 'Error', op: undefined, reason: String((e && e.message) || e), stack: e && e.stack };
  c.port.postMessage({ type: 'error', worker: c.id, epoch: -1, id: -1, error });
  Atomics.add(c.signal, 0, 1);
  Atomics.notify(c.signal, 0);
}));`;

/** Worker threads with one reply port each and a shared counter they bump after every reply. */
export class WorkerPool {
  private readonly workers: Worker[];
  private readonly ports: MessagePort[];
  /** [0]: replies posted so far; waiting on it wakes both Atomics.wait and Atomics.waitAsync. */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private failure: Error | undefined;
  private next = 0;
  /** The epoch being served: replies to earlier ones are dropped, their waiters stopped. */
  private epoch = -1;
  private closed = false;
  private holders = 0;
  readonly size: number;

  constructor(base: Omit<WorkerConfig, 'id' | 'seed' | 'port' | 'signal'>, baseSeed: number) {
    this.size = base.numWorkers;
    this.ports = [];
    this.workers = Array.from({ length: base.numWorkers }, (_, id) => {
      const { port1, port2 } = new MessageChannel();
      this.ports.push(port1);
      const workerData: WorkerConfig = { ...base, id, seed: baseSeed + id, port: port2, signal: this.signal };
      const w = new Worker(bootstrap, { eval: true, workerData, transferList: [port2] });
      const fail = (e: Error) => {
        this.failure ??= e;
        Atomics.add(this.signal, 0, 1);
        Atomics.notify(this.signal, 0);
      };
      w.on('error', (e) => fail(new ValueError('DataLoader', `worker ${id} failed: ${e.message}`)));
      w.on('exit', (code) => fail(new ValueError('DataLoader', `worker ${id} exited unexpectedly (code ${code})`)));
      w.unref();
      port1.unref();
      return w;
    });
  }

  send(worker: number, req: Request): void {
    this.workers[worker]!.postMessage(req);
  }

  /** Starts serving `epoch`: waiters of earlier epochs stop, their late replies are dropped. */
  begin(epoch: number): void {
    this.epoch = epoch;
  }

  /** The next queued reply for `epoch` from any worker (taken in turn), or undefined. */
  private poll(epoch: number): Reply | undefined {
    // NOTE: checked before taking anything, so that a for-await left early (still waiting in the
    // background) cannot swallow the replies of the epoch that replaced it.
    if (this.closed || epoch !== this.epoch) throw new ValueError('DataLoader', 'this iteration was superseded by a newer one or the loader was closed (workers serve one epoch at a time)');
    for (let k = 0; k < this.size; k++) {
      const i = (this.next + k) % this.size;
      const m = receiveMessageOnPort(this.ports[i]!);
      if (!m) continue;
      this.next = i + 1;
      const reply = m.message as Reply;
      if (reply.type !== 'ready' && reply.epoch !== epoch && reply.epoch !== -1) {
        k = -1; // a reply to an epoch left early: drop it, look again
        continue;
      }
      return reply;
    }
    if (this.failure) throw this.failure;
    return undefined;
  }

  /**
   * A reply for `epoch`, or what to wait on before trying again: the signal's value seen before
   * polling (a reply posted after it changes the value, so the wait cannot miss it) and how long.
   */
  private attempt(epoch: number, deadline: number, timeout: number): Reply | { seen: number; ms: number } {
    const seen = Atomics.load(this.signal, 0);
    const m = this.poll(epoch);
    if (m) return m;
    const left = deadline - Date.now();
    if (left <= 0) throw new FiammaError('DataLoader', `timed out after ${timeout} s waiting for a batch from the workers`);
    return { seen, ms: Math.min(left, 1000) };
  }

  /** Blocks the thread until a reply for `epoch` comes (timeout in seconds, 0 = none). */
  receiveSync(epoch: number, timeout: number): Reply {
    const deadline = timeout > 0 ? Date.now() + timeout * 1000 : Infinity;
    for (;;) {
      const a = this.attempt(epoch, deadline, timeout);
      if ('type' in a) return a;
      Atomics.wait(this.signal, 0, a.seen, a.ms);
    }
  }

  /** Waits (without blocking the event loop) until a reply for `epoch` comes. */
  async receive(epoch: number, timeout: number): Promise<Reply> {
    const deadline = timeout > 0 ? Date.now() + timeout * 1000 : Infinity;
    for (;;) {
      const a = this.attempt(epoch, deadline, timeout);
      if ('type' in a) return a;
      const r = waitAsync(this.signal, 0, a.seen, a.ms);
      if (!r.async) continue;
      this.hold(1);
      try {
        await r.value;
      } finally {
        this.hold(-1);
      }
    }
  }

  /**
   * Keeps the process alive while an async wait is on (its waitAsync alone does not), and only
   * then: an idle pool (persistent workers, an iterator left unfinished) never holds the process.
   */
  private hold(delta: 1 | -1): void {
    this.holders += delta;
    if (this.holders === (delta > 0 ? 1 : 0)) for (const w of this.workers) (delta > 0 ? w.ref() : w.unref());
  }

  close(): void {
    this.closed = true;
    // Wake any waiter, so that it sees the pool closed.
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
    for (const w of this.workers) {
      w.removeAllListeners('exit');
      void w.terminate();
    }
    for (const p of this.ports) p.close();
  }
}

/** Atomics.waitAsync (Node 16+; not in the ES2022 lib typings). */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

/** What `WorkerFetcher.advance` ends with: the next batch's reply, or done. */
export type BatchReply = IteratorResult<Reply & { type: 'batch' }, undefined>;

/** Yielded by `WorkerFetcher.advance` when it needs the next reply. */
export const WAIT = Symbol('wait');

/**
 * One epoch's requests: batch k goes to worker k % numWorkers (map-style) or to the next worker
 * whose stream is not exhausted (iterable), at most `prefetch` in flight per worker; batches are
 * yielded in request order, as PyTorch's `in_order` does.
 */
export class WorkerFetcher {
  private sent = 0;
  private yielded = 0;
  private inFlight = 0;
  private rr = 0;
  private readonly results = new Map<number, Reply>();
  private readonly active: boolean[];

  constructor(
    private readonly pool: WorkerPool,
    private readonly epoch: number,
    /** Index batches (map-style), or null for iterable datasets. */
    private readonly batches: Iterator<number[]> | null,
    private readonly prefetch: number,
    /** The main dataset's length: a worker whose copy differs is an error. */
    private readonly expectedLength: number | null,
    /** Seconds to wait for a reply (0: forever). */
    private readonly timeout: number,
  ) {
    this.active = new Array<boolean>(pool.size).fill(true);
    pool.begin(epoch);
  }

  private pickWorker(): number | undefined {
    if (this.batches) return this.sent % this.pool.size;
    for (let k = 0; k < this.pool.size; k++) {
      const w = (this.rr + k) % this.pool.size;
      if (this.active[w]) {
        this.rr = w + 1;
        return w;
      }
    }
    return undefined;
  }

  private dispatch(): void {
    while (this.inFlight < this.prefetch * this.pool.size) {
      const w = this.pickWorker();
      if (w === undefined) return;
      if (this.batches) {
        const r = this.batches.next();
        if (r.done) return;
        this.pool.send(w, { type: 'fetch', epoch: this.epoch, id: this.sent, indices: r.value });
      } else {
        this.pool.send(w, { type: 'next', epoch: this.epoch, id: this.sent });
      }
      this.sent++;
      this.inFlight++;
    }
  }

  private handle(m: Reply): void {
    if (m.type === 'ready') {
      if (this.expectedLength !== null && m.length !== null && m.length !== this.expectedLength) {
        throw new ValueError('DataLoader', `worker ${m.worker} built a dataset of length ${m.length}, but the loader's dataset has length ${this.expectedLength}; the worker spec must rebuild the same dataset`);
      }
      return;
    }
    if (m.type === 'error') throw rebuildError(m.worker, m.error);
    if (m.type === 'done') this.active[m.worker] = false;
    this.results.set(m.id, m);
    this.inFlight--;
  }

  /** The next batch's reply, blocking the thread while it waits (for...of). */
  nextSync(): BatchReply {
    const steps = this.advance();
    let s = steps.next();
    while (!s.done) s = steps.next(this.pool.receiveSync(this.epoch, this.timeout));
    return s.value;
  }

  /** The next batch's reply, waiting without blocking (for await). */
  async next(): Promise<BatchReply> {
    const steps = this.advance();
    let s = steps.next();
    while (!s.done) s = steps.next(await this.pool.receive(this.epoch, this.timeout));
    return s.value;
  }

  /**
   * The next batch's reply (a 'batch' message) or done; yields WAIT whenever it needs the next
   * reply, which the driver (blocking or async) passes back in.
   */
  private *advance(): Generator<typeof WAIT, BatchReply, Reply> {
    this.dispatch();
    for (;;) {
      const m = this.results.get(this.yielded);
      if (m) {
        this.results.delete(this.yielded++);
        this.dispatch();
        if (m.type === 'batch') return { done: false, value: m };
        continue; // an exhausted worker's turn
      }
      if (this.inFlight === 0) return { done: true, value: undefined };
      this.handle(yield WAIT);
    }
  }
}
