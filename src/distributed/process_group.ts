// The contract each collective engine (MPI, NCCL) fulfils: collectives over dense tensors of one
// communicator, each returning a Work. Ranks here are ranks within the group; validation and the
// user-facing API live in collectives.ts.
import type { Tensor } from '../tensor/tensor.js';
import { DistributedError } from '../errors.js';

/** How allReduce, reduce and reduceScatter combine the ranks' values. */
export type ReduceOpName = 'sum' | 'avg' | 'max' | 'min' | 'product';

/** PyTorch's `dist.ReduceOp` names. Example: `distributed.allReduce(t, { op: distributed.ReduceOp.MAX })`. */
export const ReduceOp = { SUM: 'sum', AVG: 'avg', MAX: 'max', MIN: 'min', PRODUCT: 'product' } as const satisfies Record<string, ReduceOpName>;

/** The collective engines. */
export type BackendName = 'mpi' | 'nccl';

/**
 * A collective in flight (PyTorch's `Work`), returned by every collective called with
 * `{ asyncOp: true }`. `wait()` blocks until it is done, or raises a DistributedError once the
 * group's timeout has passed (a rank died, stalled or never joined).
 */
export interface Work {
  /** True once the collective has finished on this rank (it never blocks). */
  isCompleted(): boolean;
  /** Blocks until done; raises a DistributedError after the timeout. */
  wait(): void;
}

/** One communicator of a collective engine. Buffers are dense (contiguous) tensors on the engine's device type. */
export interface ProcessGroup {
  readonly backend: BackendName;
  /** This process's rank in the group. */
  readonly rank: number;
  readonly size: number;
  /** The world ranks of the members, by group rank. */
  readonly ranks: readonly number[];
  /** How long a collective may wait for the other ranks before it raises. */
  readonly timeoutMs: number;
  allReduce(t: Tensor, op: ReduceOpName): Work;
  broadcast(t: Tensor, root: number): Work;
  /** The result lands in `t` on `root`; other ranks' `t` are left as they were. */
  reduce(t: Tensor, root: number, op: ReduceOpName): Work;
  /** out holds `size` blocks of input's numel, in rank order. */
  allGather(out: Tensor, input: Tensor): Work;
  /** As allGather, into `out` on `root` only (null elsewhere). */
  gather(out: Tensor | null, input: Tensor, root: number): Work;
  /** Block r of `input` (on `root`; null elsewhere) goes to rank r's `out`. */
  scatter(out: Tensor, input: Tensor | null, root: number): Work;
  /** Reduces `input` (size blocks of out's numel) and leaves block `rank` in out. */
  reduceScatter(out: Tensor, input: Tensor, op: ReduceOpName): Work;
  /** Block r of `input` goes to rank r; block r of `out` comes from rank r. */
  allToAll(out: Tensor, input: Tensor): Work;
  send(t: Tensor, peer: number, tag: number): Work;
  recv(t: Tensor, peer: number, tag: number): Work;
  barrier(): Work;
  /** A group of the given world ranks (collective over this group); null on ranks outside it. */
  subgroup(worldRanks: readonly number[]): ProcessGroup | null;
  /** Frees the communicator; the group is unusable after. */
  destroy(): void;
}

/**
 * A wait polls without pause for this long: MPI moves data only while a rank is inside an MPI
 * call, so sleeping between polls slows the collective for every rank (a 4 MiB all-reduce took
 * 4-5x longer with early sleeps). A wait that lasts longer is waiting on a slow or dead peer:
 * it then sleeps between polls (up to MAX_SLEEP_MS) to leave the core to others.
 */
const SPIN_MS = 200;
const MAX_SLEEP_MS = 1;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * A Work completed by polling a test function (MPI_Test, an event query) until it reports done
 * or the deadline passes. `finish` runs once on completion (avg's division, a copy back).
 */
export class PolledWork implements Work {
  private done = false;
  constructor(
    private readonly describe: string,
    private readonly group: Pick<ProcessGroup, 'rank' | 'size' | 'backend' | 'timeoutMs'>,
    private readonly test: () => boolean,
    private readonly finish: (() => void) | null = null,
    /** Keeps the buffers the engine is reading or writing alive until it has finished. */
    readonly keepAlive: readonly unknown[] = [],
    /** Runs when the wait gives up (NCCL aborts its communicator). */
    private readonly onTimeout: (() => void) | null = null,
  ) {}
  isCompleted(): boolean {
    if (!this.done && this.test()) this.complete();
    return this.done;
  }
  wait(): void {
    const started = Date.now();
    let polls = 0;
    let sleepMs = 0.02;
    while (!this.isCompleted()) {
      if ((++polls & 255) !== 0) continue; // reading the clock costs more than a poll
      const waited = Date.now() - started;
      if (waited > this.group.timeoutMs) {
        this.onTimeout?.();
        throw timeoutError(this.describe, this.group);
      }
      if (waited < SPIN_MS) continue;
      Atomics.wait(sleeper, 0, 0, sleepMs);
      sleepMs = Math.min(MAX_SLEEP_MS, sleepMs * 2);
    }
  }
  private complete(): void {
    this.done = true;
    this.finish?.();
  }
}

/** A Work that finished when it was made (a collective over one rank). */
export const completedWork: Work = { isCompleted: () => true, wait: () => undefined };

/** The error every rank still waiting sees once the timeout passes. */
export function timeoutError(op: string, g: Pick<ProcessGroup, 'rank' | 'size' | 'backend' | 'timeoutMs'>): DistributedError {
  return new DistributedError(
    op,
    `timed out after ${g.timeoutMs / 1000} s on rank ${g.rank} of ${g.size} (${g.backend}): another rank died, stalled, or did not call the same collective. ` +
      'Set a longer `timeout` in initProcessGroup if a rank legitimately takes longer.',
  );
}
