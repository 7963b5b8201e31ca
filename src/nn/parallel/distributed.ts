// DistributedDataParallel: one model replica per process; parameters and buffers start equal
// (broadcast from rank 0) and gradients are averaged across processes during backward (reducer.ts).
import { Module } from '../module.js';
import { Tensor } from '../../tensor/tensor.js';
import { Device, type DeviceLike } from '../../device.js';
import { DistributedError, ValueError } from '../../errors.js';
import { isGradEnabled } from '../../autograd/grad_mode.js';
import { AccumulateGrad, type Node } from '../../autograd/node.js';
import { flatten, unflatten } from '../../distributed/flat.js';
import { broadcast } from '../../distributed/collectives.js';
import { defaultProcessGroup } from '../../distributed/state.js';
import type { ProcessGroup } from '../../distributed/process_group.js';
import { Reducer } from './reducer.js';

/** Options of DistributedDataParallel, as PyTorch's keyword arguments. */
export interface DistributedDataParallelOptions {
  /** For a GPU module: the one device it lives on (`[localRank]`); leave unset for cpu modules. */
  deviceIds?: (DeviceLike | number)[];
  /** Bucket size in MiB (default 25): larger buckets mean fewer all-reduces, smaller ones start earlier. */
  bucketCapMb?: number;
  /** Let some parameters go unused in a step (their buckets are reduced anyway); costs a graph walk per forward. */
  findUnusedParameters?: boolean;
  /** Copy rank 0's buffers (batch norm statistics) to every rank before each forward (default true). */
  broadcastBuffers?: boolean;
  /** The group to average over (default: the world). */
  processGroup?: ProcessGroup;
}

/**
 * Wraps a module for data-parallel training across processes: run one process per device, give
 * each a different shard of the data (`data.DistributedSampler`), and train as usual; after
 * `loss.backward()` every rank holds the same averaged gradients, so the optimizers stay in step.
 * The state dict is the wrapped module's (same keys), so checkpoints load without DDP.
 * Example:
 * ```ts
 * await distributed.initProcessGroup({ backend: 'mpi' });
 * const ddp = new nn.parallel.DistributedDataParallel(model);
 * const loss = F.crossEntropy(ddp(x), y);
 * loss.backward(); // gradients averaged over the ranks
 * opt.step();
 * ```
 */
export class DistributedDataParallel<M extends Module = Module> extends Module {
  readonly module: M;
  readonly processGroup: ProcessGroup;
  readonly broadcastBuffers: boolean;
  readonly findUnusedParameters: boolean;
  private readonly reducer: Reducer;
  private requireSync = true;

  constructor(module: M, opts: DistributedDataParallelOptions = {}) {
    super();
    const op = 'DistributedDataParallel';
    if (!(module instanceof Module)) throw new ValueError(op, 'expected an nn.Module to wrap');
    this.module = module;
    const group = opts.processGroup ?? defaultProcessGroup(op);
    this.processGroup = group;
    this.broadcastBuffers = opts.broadcastBuffers ?? true;
    this.findUnusedParameters = opts.findUnusedParameters ?? false;
    const capMb = opts.bucketCapMb ?? 25;
    if (!(capMb > 0)) throw new ValueError(op, `bucketCapMb must be positive, got ${opts.bucketCapMb}`);
    checkDevices(module, group, opts.deviceIds);

    const named = [...module.namedParameters()].filter(([, p]) => p.requiresGrad);
    if (named.length === 0) throw new ValueError(op, 'the module has no parameter that requires a gradient: there is nothing to synchronise');
    const names = new Map(named.map(([n, p]) => [p, n]));
    // Every rank starts from rank 0's weights and buffers.
    syncFromRankZero(module.parameters(), group);
    syncFromRankZero(module.buffers(), group);
    this.reducer = new Reducer(group, names, named.map(([, p]) => p), capMb * 2 ** 20, this.findUnusedParameters);
  }

  /** Runs the wrapped module; its backward will average the gradients (unless inside noSync). */
  override forward(...args: Parameters<M['forward']>): ReturnType<M['forward']> {
    if (this.broadcastBuffers && this.processGroup.size > 1) syncFromRankZero(this.module.buffers(), this.processGroup);
    const out = (this.module as unknown as (...a: unknown[]) => ReturnType<M['forward']>)(...args);
    // As PyTorch: whenever a backward may follow (grad enabled), in training or eval mode alike.
    if (this.requireSync && isGradEnabled()) {
      this.reducer.prepare(this.findUnusedParameters ? unusedParameters(this.module, out) : new Set());
    }
    return out;
  }

  /**
   * Runs `fn` (forward and backward of micro-batches) without averaging gradients: they
   * accumulate locally, and the first forward/backward after it synchronises the sum. The
   * forward must run inside. Example: `ddp.noSync(() => loss(ddp(x1)).backward())`.
   */
  noSync<T>(fn: () => T): T {
    const prev = this.requireSync;
    this.requireSync = false;
    let async = false;
    try {
      const r = fn();
      if (r instanceof Promise) {
        async = true;
        return r.finally(() => (this.requireSync = prev)) as T;
      }
      return r;
    } finally {
      if (!async) this.requireSync = prev;
    }
  }

  /** Parameter names per gradient bucket, in the order they are all-reduced. */
  bucketLayout(): string[][] {
    return this.reducer.layout();
  }

  /** The wrapped module's state dict: the same keys as without DDP. */
  override stateDict(opts: { keepVars?: boolean } = {}): Record<string, Tensor> {
    return this.module.stateDict(opts);
  }
  /** Loads into the wrapped module (keys without a `module.` prefix). */
  override loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): ReturnType<Module['loadStateDict']> {
    return this.module.loadStateDict(sd, opts);
  }
}

/** cpu modules go with mpi and take no deviceIds; GPU modules go with nccl, on one device. */
function checkDevices(module: Module, group: ProcessGroup, deviceIds: (DeviceLike | number)[] | undefined): void {
  const op = 'DistributedDataParallel';
  const devs = new Set([...module.parameters(), ...module.buffers()].map((t) => String(t.device)));
  if (devs.size > 1) throw new DistributedError(op, `the module's parameters and buffers are on several devices (${[...devs].join(', ')}); DDP needs a module on one device`);
  const dev = [...devs][0] ?? 'cpu';
  const want = group.backend === 'nccl' ? 'cuda' : 'cpu';
  if (Device.of(dev).type !== want) {
    throw new DistributedError(op, `the module is on ${dev}, but the ${group.backend} backend reduces ${want} tensors: ${want === 'cpu' ? 'use the nccl backend for a GPU module' : 'move the module to the GPU (cuda:LOCAL_RANK) or use the mpi backend'}`);
  }
  if (deviceIds === undefined) return;
  if (want === 'cpu') throw new ValueError(op, `deviceIds must be left unset for a cpu module, got [${deviceIds.join(', ')}]`);
  const ids = deviceIds.map((d) => String(typeof d === 'number' ? Device.of(`cuda:${d}`) : Device.of(d)));
  if (ids.length !== 1 || ids[0] !== dev) throw new ValueError(op, `deviceIds must name the one device the module is on (${dev}), got [${ids.join(', ')}]`);
}

/** Copies rank 0's values into every rank's tensors: one broadcast per dtype (a flat copy of them all). */
function syncFromRankZero(tensors: readonly Tensor[], group: ProcessGroup): void {
  if (group.size === 1 || tensors.length === 0) return;
  const byDtype = new Map<string, Tensor[]>();
  for (const t of tensors) {
    const list = byDtype.get(t.dtype) ?? [];
    list.push(t);
    byDtype.set(t.dtype, list);
  }
  for (const list of byDtype.values()) {
    const flat = flatten(list);
    broadcast(flat, group.ranks[0]!, { group });
    unflatten(flat, list);
  }
}

/** The parameters that the graph of `out` does not reach. */
function unusedParameters(module: Module, out: unknown): Set<Tensor> {
  const reached = new Set<Tensor>();
  const seen = new Set<Node>();
  const stack: Node[] = [];
  const visitTensor = (t: Tensor) => {
    if (t.gradFn) stack.push(t.gradFn);
    else if (t.requiresGrad) reached.add(t);
  };
  forEachTensor(out, visitTensor);
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (n instanceof AccumulateGrad) reached.add(n.leaf);
    for (const e of n.next) if (e) stack.push(e.node);
  }
  return new Set(module.parameters().filter((p) => p.requiresGrad && !reached.has(p)));
}

function forEachTensor(x: unknown, f: (t: Tensor) => void): void {
  if (x instanceof Tensor) f(x);
  else if (Array.isArray(x)) for (const v of x) forEachTensor(v, f);
  else if (x !== null && typeof x === 'object') for (const v of Object.values(x)) forEachTensor(v, f);
}
