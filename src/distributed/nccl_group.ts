// The NCCL engine: libnccl through koffi on the current GPU. Collectives are queued on the stream
// Fiamma's kernels use at the call (the current stream: the legacy default stream, or the one
// fm.cuda.stream selects), so they are ordered with them and the host does not wait; a Work polls
// an event recorded after the collective (and NCCL's asynchronous error) until its timeout.
import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';
import type { DType } from '../dtype.js';
import { bytesPerElement } from '../dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { DistributedError } from '../errors.js';
import { loadLibrary, LibraryNotFound } from '../backend/cuda/libs.js';
import { addr, cudaRuntime, type CudaDevice, type CudaStorage } from '../backend/cuda/index.js';
import { currentStreamHandle, currentStreamRef } from '../backend/cuda/stream_context.js';
import type { View } from '../backend/interface.js';
import { currentDevice } from '../cuda.js';
import { PolledWork, timeoutError, type ProcessGroup, type ReduceOpName, type Work } from './process_group.js';
import type { TCPStore } from './store.js';

const require = createRequire(import.meta.url);
type Fn = (...args: unknown[]) => number;

/** Values of NCCL's enums (nccl.h). */
const ncclType: Record<DType, number> = { uint8: 1, bool: 1, int32: 2, int64: 4, float16: 6, float32: 7, float64: 8, bfloat16: 9 };
const NCCL_IN_PROGRESS = 7;
const NCCL_SPLIT_NOCOLOR = -1;
const CUDA_ERROR_NOT_READY = 600;

function ncclOp(op: ReduceOpName, dtype: DType): number {
  // On bool, sum is logical or and product logical and, as PyTorch's NCCL backend.
  if (dtype === 'bool') return op === 'sum' || op === 'max' ? 2 : 3;
  return { sum: 0, product: 1, max: 2, min: 3, avg: 4 }[op];
}

class NcclLib {
  readonly lib: LibraryHandle;
  private readonly fns = new Map<string, Fn>();
  readonly koffi = require('koffi') as typeof import('koffi');
  readonly uniqueId = this.koffi.struct('ncclUniqueId', { internal: this.koffi.array('uint8_t', 128, 'Typed') });
  constructor() {
    try {
      this.lib = loadLibrary('nccl').lib;
    } catch (e) {
      throw new DistributedError('initProcessGroup', `the nccl backend needs ${e instanceof LibraryNotFound ? e.message : (e as Error).message}`);
    }
  }
  fn(proto: string): Fn {
    let f = this.fns.get(proto);
    if (!f) this.fns.set(proto, (f = this.lib.func(proto) as unknown as Fn));
    return f;
  }
  check(op: string, call: string, status: number, comm?: bigint): void {
    if (status === 0 || status === NCCL_IN_PROGRESS) return;
    const text = this.fn('const char *ncclGetErrorString(int result)')(status) as unknown as string;
    const last = comm !== undefined ? (this.fn('const char *ncclGetLastError(void *comm)')(comm) as unknown as string) : '';
    throw new DistributedError(op, `${call} failed with NCCL error ${status}: ${text}${last ? ` (${last})` : ''}`);
  }
}

let nccl: NcclLib | null = null;

/**
 * Creates the world communicator: rank 0 makes NCCL's unique id and hands it out through the
 * store; every rank checks in at the store first, so a rank that never starts fails the others
 * with the store's timeout rather than leaving them blocked inside ncclCommInitRank.
 */
export async function createNcclGroup(store: TCPStore | null, rank: number, worldSize: number, timeoutMs: number): Promise<NcclGroup> {
  const lib = (nccl ??= new NcclLib());
  const device = cudaRuntime().device(currentDevice());
  device.makeCurrent();
  let id: Uint8Array;
  if (rank === 0) {
    const out = { internal: new Uint8Array(128) };
    lib.check('initProcessGroup', 'ncclGetUniqueId', lib.fn('int ncclGetUniqueId(_Out_ ncclUniqueId *id)')(out));
    id = out.internal;
    await store?.set('fiamma/nccl/unique_id', id);
  } else {
    id = await store!.get('fiamma/nccl/unique_id');
  }
  if (store) {
    // Two rounds: everyone joins, then everyone says it saw the others. Rank 0 hosts the store in
    // its own event loop, which ncclCommInitRank blocks: it must be the last rank to need the store.
    const started = Date.now();
    const everyone = async (key: string) => {
      await store.add(key, 1);
      while ((await store.add(key, 0)) < worldSize) {
        if (Date.now() - started > timeoutMs) throw timeoutError('initProcessGroup', { rank, size: worldSize, backend: 'nccl', timeoutMs });
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await everyone('fiamma/nccl/joined');
    if (rank === 0) await everyone('fiamma/nccl/left');
    else await store.add('fiamma/nccl/left', 1);
  }
  const comm: bigint[] = [0n];
  lib.check('initProcessGroup', 'ncclCommInitRank', lib.fn('int ncclCommInitRank(_Out_ void **comm, int nranks, ncclUniqueId id, int rank)')(comm, worldSize, { internal: id }, rank));
  return new NcclGroup(lib, device, comm[0]!, Array.from({ length: worldSize }, (_, i) => i), rank, timeoutMs);
}

/** A communicator of the nccl engine, bound to one GPU. */
export class NcclGroup implements ProcessGroup {
  readonly backend = 'nccl' as const;
  readonly size: number;
  private destroyed = false;
  constructor(
    private readonly lib: NcclLib,
    private readonly device: CudaDevice,
    private readonly comm: bigint,
    readonly ranks: readonly number[],
    readonly rank: number,
    readonly timeoutMs: number,
  ) {
    this.size = ranks.length;
  }

  allReduce(t: Tensor, op: ReduceOpName): Work {
    return this.run('allReduce', [t], () => this.call('ncclAllReduce', 'int ncclAllReduce(uintptr_t send, uintptr_t recv, size_t count, int type, int op, void *comm, uintptr_t stream)',
      this.ptr(t), this.ptr(t), t.numel(), ncclType[t.dtype], ncclOp(op, t.dtype), this.comm, this.stream()));
  }
  broadcast(t: Tensor, root: number): Work {
    return this.run('broadcast', [t], () => this.call('ncclBroadcast', 'int ncclBroadcast(uintptr_t send, uintptr_t recv, size_t count, int type, int root, void *comm, uintptr_t stream)',
      this.ptr(t), this.ptr(t), t.numel(), ncclType[t.dtype], root, this.comm, this.stream()));
  }
  reduce(t: Tensor, root: number, op: ReduceOpName): Work {
    return this.run('reduce', [t], () => this.call('ncclReduce', 'int ncclReduce(uintptr_t send, uintptr_t recv, size_t count, int type, int op, int root, void *comm, uintptr_t stream)',
      this.ptr(t), this.ptr(t), t.numel(), ncclType[t.dtype], ncclOp(op, t.dtype), root, this.comm, this.stream()));
  }
  allGather(out: Tensor, input: Tensor): Work {
    return this.run('allGather', [out, input], () => this.call('ncclAllGather', 'int ncclAllGather(uintptr_t send, uintptr_t recv, size_t count, int type, void *comm, uintptr_t stream)',
      this.ptr(input), this.ptr(out), input.numel(), ncclType[input.dtype], this.comm, this.stream()));
  }
  reduceScatter(out: Tensor, input: Tensor, op: ReduceOpName): Work {
    return this.run('reduceScatter', [out, input], () => this.call('ncclReduceScatter', 'int ncclReduceScatter(uintptr_t send, uintptr_t recv, size_t count, int type, int op, void *comm, uintptr_t stream)',
      this.ptr(input), this.ptr(out), out.numel(), ncclType[out.dtype], ncclOp(op, out.dtype), this.comm, this.stream()));
  }
  /** NCCL has no gather, scatter or all-to-all: they are grouped sends and receives, as in PyTorch. */
  gather(out: Tensor | null, input: Tensor, root: number): Work {
    const n = input.numel();
    return this.grouped('gather', out ? [out, input] : [input], () => {
      if (this.rank === root) for (let r = 0; r < this.size; r++) this.p2p('ncclRecv', out!, r, r * n, n);
      this.p2p('ncclSend', input, root, 0, n);
    });
  }
  scatter(out: Tensor, input: Tensor | null, root: number): Work {
    const n = out.numel();
    return this.grouped('scatter', input ? [out, input] : [out], () => {
      if (this.rank === root) for (let r = 0; r < this.size; r++) this.p2p('ncclSend', input!, r, r * n, n);
      this.p2p('ncclRecv', out, root, 0, n);
    });
  }
  allToAll(out: Tensor, input: Tensor): Work {
    const n = input.numel() / this.size;
    return this.grouped('allToAll', [out, input], () => {
      for (let r = 0; r < this.size; r++) {
        this.p2p('ncclSend', input, r, r * n, n);
        this.p2p('ncclRecv', out, r, r * n, n);
      }
    });
  }
  send(t: Tensor, peer: number): Work {
    return this.grouped('send', [t], () => this.p2p('ncclSend', t, peer, 0, t.numel()));
  }
  recv(t: Tensor, peer: number): Work {
    return this.grouped('recv', [t], () => this.p2p('ncclRecv', t, peer, 0, t.numel()));
  }
  /** An all-reduce of one number, as PyTorch's NCCL barrier. */
  barrier(): Work {
    const { buf, free } = this.scratch();
    const w = this.run('barrier', [], () => this.call('ncclAllReduce', 'int ncclAllReduce(uintptr_t send, uintptr_t recv, size_t count, int type, int op, void *comm, uintptr_t stream)',
      buf, buf, 1, ncclType.float32, 0, this.comm, this.stream()));
    return { isCompleted: () => w.isCompleted() && (free(), true), wait: () => (w.wait(), free()) };
  }

  subgroup(worldRanks: readonly number[]): NcclGroup | null {
    const me = this.ranks[this.rank]!;
    const key = worldRanks.indexOf(me);
    const out: bigint[] = [0n];
    this.device.makeCurrent();
    this.lib.check('newGroup', 'ncclCommSplit', this.lib.fn('int ncclCommSplit(void *comm, int color, int key, _Out_ void **newcomm, void *config)')(this.comm, key >= 0 ? 0 : NCCL_SPLIT_NOCOLOR, key, out, null), this.comm);
    return key >= 0 ? new NcclGroup(this.lib, this.device, out[0]!, worldRanks, key, this.timeoutMs) : null;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.lib.check('destroyProcessGroup', 'ncclCommDestroy', this.lib.fn('int ncclCommDestroy(void *comm)')(this.comm));
  }

  private ptr(t: Tensor): number {
    return addr(t.view_() as View<CudaStorage>);
  }
  private call(name: string, proto: string, ...args: unknown[]): void {
    this.lib.check(name, name, this.lib.fn(proto)(...args), this.comm);
  }
  private p2p(name: 'ncclSend' | 'ncclRecv', t: Tensor, peer: number, at: number, n: number): void {
    this.call(name, `int ${name}(uintptr_t buf, size_t count, int type, int peer, void *comm, uintptr_t stream)`, this.ptr(t) + at * bytesPerElement(t.dtype), n, ncclType[t.dtype], peer, this.comm, this.stream());
  }
  private grouped(op: string, tensors: readonly Tensor[], body: () => void): Work {
    return this.run(op, tensors, () => {
      this.lib.check(op, 'ncclGroupStart', this.lib.fn('int ncclGroupStart()')());
      try {
        body();
      } finally {
        this.lib.check(op, 'ncclGroupEnd', this.lib.fn('int ncclGroupEnd()')(), this.comm);
      }
    });
  }
  /** The current stream of this group's GPU: collectives and their events go there. */
  private stream(): number {
    return currentStreamHandle(this.device.index);
  }
  /** A 4-byte device buffer for the barrier. */
  private scratch(): { buf: number; free: () => void } {
    const block = this.device.allocator.allocate(4);
    let freed = false;
    // The device's context is made current first: with side streams, the release records events in it.
    return { buf: block.ptr, free: () => void (freed || ((freed = true), this.device.makeCurrent(), this.device.allocator.release(block.ptr, block.size))) };
  }

  /** Queues a collective on the stream, then an event after it that the Work polls. */
  private run(op: string, tensors: readonly Tensor[], enqueue: () => void): Work {
    if (this.destroyed) throw new DistributedError(op, 'the process group was destroyed');
    this.device.makeCurrent();
    // The side stream (if any) stays alive while the Work is pending: collected, its finalizer
    // would wait for a collective that may never finish.
    const stream = currentStreamRef(this.device.index);
    enqueue();
    const drv = this.device.runtime.driver;
    const ev: number[] = [0];
    drv.check('cuEventCreate', drv.fn('int cuEventCreate(_Out_ uintptr_t *event, uint32_t flags)')(ev, 2 /* CU_EVENT_DISABLE_TIMING */), op);
    drv.check('cuEventRecord', drv.fn('int cuEventRecord(uintptr_t event, uintptr_t stream)')(ev[0], this.stream()), op);
    const query = drv.fn('int cuEventQuery(uintptr_t event)');
    const asyncError = this.lib.fn('int ncclCommGetAsyncError(void *comm, _Out_ int *result)');
    const result = [0];
    let destroyed = false;
    const destroyEvent = () => void (destroyed || ((destroyed = true), drv.fn('int cuEventDestroy_v2(uintptr_t event)')(ev[0])));
    // On a timeout the collective may never finish: the communicator is aborted (its kernels
    // leave the stream, as PyTorch's watchdog does) and the group is unusable after.
    const abort = () => {
      this.lib.fn('int ncclCommAbort(void *comm)')(this.comm);
      this.destroyed = true;
      destroyEvent();
    };
    return new PolledWork(op, this, () => {
      void stream; // held (above)
      this.lib.check(op, 'ncclCommGetAsyncError', asyncError(this.comm, result));
      this.lib.check(op, 'NCCL (asynchronous)', result[0]!, this.comm);
      const status = query(ev[0]);
      if (status === CUDA_ERROR_NOT_READY) return false;
      drv.check('cuEventQuery', status, op);
      return true;
    }, destroyEvent, tensors, abort);
  }
}
