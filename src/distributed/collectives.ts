// The collectives as PyTorch's torch.distributed spells them: argument checks with clear errors,
// global ranks translated to group ranks, lists flattened for the engine and split back.
import type { Tensor } from '../tensor/tensor.js';
import { DistributedError } from '../errors.js';
import { isFloating, isReducedFloat } from '../dtype.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { empty } from '../functional/creation.js';
import { markWritten } from '../functional/inplace.js';
import { flatten, unflatten } from './flat.js';
import { defaultProcessGroup } from './state.js';
import { completedWork, type ProcessGroup, type ReduceOpName, type Work } from './process_group.js';

/** Options every collective takes: the group (default: the world) and whether to return a Work instead of waiting. */
export interface CollectiveOptions {
  group?: ProcessGroup;
  asyncOp?: boolean;
}
/** Options of the reducing collectives. */
export interface ReduceOptions extends CollectiveOptions {
  /** Default 'sum'. */
  op?: ReduceOpName;
}
/** A Work when `asyncOp` is true, nothing otherwise (the call has already waited). */
export type CollectiveResult<O> = O extends { asyncOp: true } ? Work : void;

function describe(t: Tensor): string {
  return `${fmtShape(t.shape)} ${t.dtype} tensor on ${t.device}`;
}

/** Checks that `t` can be handed to the group's engine: dense, on its device type, not disposed. */
function checkTensor(op: string, g: ProcessGroup, t: Tensor, what = 'tensor'): void {
  t.assertLive();
  const want = g.backend === 'nccl' ? 'cuda' : 'cpu';
  if (t.device.type !== want) {
    const hint = want === 'cpu' ? 'use the nccl backend for GPU tensors, or move it with .cpu()' : 'use the mpi backend for cpu tensors, or move it to the GPU';
    throw new DistributedError(op, `the ${g.backend} backend works on ${want} tensors, but the ${what} is a ${describe(t)}: ${hint}`);
  }
  if (!t.isContiguous()) throw new DistributedError(op, `the ${what} must be contiguous, got a non-contiguous ${describe(t)}: call .contiguous() first`);
}

function checkOp(op: string, reduce: ReduceOpName, t: Tensor, g: ProcessGroup): void {
  if (g.backend !== 'nccl' && isReducedFloat(t.dtype)) throw new DistributedError(op, `the ${g.backend} backend cannot reduce ${t.dtype} (MPI has no 16-bit float type): reduce a .float() copy, or use nccl on GPUs`);
  if (reduce === 'avg' && !isFloating(t.dtype)) throw new DistributedError(op, `op 'avg' needs a floating tensor, got a ${describe(t)}; use 'sum' and divide`);
  if (!['sum', 'avg', 'max', 'min', 'product'].includes(reduce)) throw new DistributedError(op, `unknown reduce op '${reduce}' (expected sum, avg, max, min or product)`);
}

/** The group rank of a global rank, or an error naming the group's members. */
function groupRank(op: string, g: ProcessGroup, globalRank: number, role: string): number {
  const r = g.ranks.indexOf(globalRank);
  if (!Number.isInteger(globalRank) || r < 0) throw new DistributedError(op, `${role} rank ${globalRank} is not in the group (its ranks are ${g.ranks.join(', ')})`);
  return r;
}

/** A list of `size` tensors, each like `like`. */
function checkList(op: string, g: ProcessGroup, list: readonly Tensor[], like: Tensor, what: string): void {
  if (list.length !== g.size) throw new DistributedError(op, `${what} must hold one tensor per rank (${g.size}), got ${list.length}`);
  list.forEach((t, i) => {
    checkTensor(op, g, t, `${what}[${i}]`);
    if (!sameShape(t.shape, like.shape) || t.dtype !== like.dtype) {
      throw new DistributedError(op, `${what}[${i}] is a ${describe(t)}, but every tensor must be a ${fmtShape(like.shape)} ${like.dtype} tensor like the input`);
    }
  });
}


/** Runs `after` once `work` completes; waits now unless asyncOp. */
function finish<O extends CollectiveOptions>(work: Work, opts: O | undefined, after?: () => void): CollectiveResult<O> {
  let done = false;
  const w: Work = {
    isCompleted: () => {
      if (!done && work.isCompleted()) {
        done = true;
        after?.();
      }
      return done;
    },
    wait: () => {
      work.wait();
      w.isCompleted();
    },
  };
  if (opts?.asyncOp) return w as CollectiveResult<O>;
  w.wait();
  return undefined as CollectiveResult<O>;
}

/** What a collective gives a rank outside its group: nothing happens, as in PyTorch. */
function notAMember<O extends CollectiveOptions>(opts: O | undefined): CollectiveResult<O> {
  return (opts?.asyncOp ? completedWork : undefined) as CollectiveResult<O>;
}

function like(t: Tensor, blocks: number): Tensor {
  return empty([blocks * t.numel()], { dtype: t.dtype, device: t.device });
}

/**
 * Combines `tensor` across the group's ranks, in place on every rank (default op 'sum').
 * Example: `distributed.allReduce(grad, { op: 'avg' })`.
 */
export function allReduce<O extends ReduceOptions>(tensor: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('allReduce');
  if (g.rank < 0) return notAMember(opts);
  const op = opts?.op ?? 'sum';
  checkTensor('allReduce', g, tensor);
  checkOp('allReduce', op, tensor, g);
  return finish(g.allReduce(tensor, op), opts, () => markWritten(tensor));
}

/** Copies rank `src`'s tensor into every rank's tensor. Example: `distributed.broadcast(w, 0)`. */
export function broadcast<O extends CollectiveOptions>(tensor: Tensor, src: number, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('broadcast');
  if (g.rank < 0) return notAMember(opts);
  checkTensor('broadcast', g, tensor);
  return finish(g.broadcast(tensor, groupRank('broadcast', g, src, 'source')), opts, () => markWritten(tensor));
}

/** Combines `tensor` across ranks into rank `dst`'s tensor (others keep theirs). Example: `distributed.reduce(loss, 0)`. */
export function reduce<O extends ReduceOptions>(tensor: Tensor, dst: number, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('reduce');
  if (g.rank < 0) return notAMember(opts);
  const op = opts?.op ?? 'sum';
  checkTensor('reduce', g, tensor);
  checkOp('reduce', op, tensor, g);
  return finish(g.reduce(tensor, groupRank('reduce', g, dst, 'destination'), op), opts, () => markWritten(tensor));
}

/** Fills `tensorList[r]` with rank r's `tensor` on every rank. Example: `distributed.allGather(parts, mine)`. */
export function allGather<O extends CollectiveOptions>(tensorList: Tensor[], tensor: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('allGather');
  if (g.rank < 0) return notAMember(opts);
  checkTensor('allGather', g, tensor);
  checkList('allGather', g, tensorList, tensor, 'tensorList');
  const flat = like(tensor, g.size);
  return finish(g.allGather(flat, tensor), opts, () => unflatten(flat, tensorList));
}

/** allGather into one tensor whose first dim is the ranks' tensors end to end (PyTorch's all_gather_into_tensor). */
export function allGatherIntoTensor<O extends CollectiveOptions>(output: Tensor, input: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('allGatherIntoTensor');
  if (g.rank < 0) return notAMember(opts);
  checkTensor('allGatherIntoTensor', g, input, 'input');
  checkTensor('allGatherIntoTensor', g, output, 'output');
  checkBlocks('allGatherIntoTensor', g, output, input);
  return finish(g.allGather(output, input), opts, () => markWritten(output));
}

function checkBlocks(op: string, g: ProcessGroup, whole: Tensor, block: Tensor): void {
  if (whole.numel() !== block.numel() * g.size || whole.dtype !== block.dtype) {
    throw new DistributedError(op, `expected a ${block.dtype} tensor of ${g.size} x ${block.numel()} elements beside the ${describe(block)}, got a ${describe(whole)}`);
  }
}

/** Options of gather: the list that receives the tensors, on `dst` only. */
export interface GatherOptions extends CollectiveOptions {
  gatherList?: Tensor[] | null;
  dst?: number;
}
/** Collects every rank's `tensor` into `gatherList` on rank `dst` (default 0). */
export function gather<O extends GatherOptions>(tensor: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('gather');
  if (g.rank < 0) return notAMember(opts);
  const dst = groupRank('gather', g, opts?.dst ?? g.ranks[0]!, 'destination');
  checkTensor('gather', g, tensor);
  const list = opts?.gatherList ?? null;
  if (g.rank === dst) {
    if (!list) throw new DistributedError('gather', `the destination rank ${g.ranks[dst]} must pass a gatherList`);
    checkList('gather', g, list, tensor, 'gatherList');
  } else if (list && list.length > 0) {
    throw new DistributedError('gather', `only the destination rank ${g.ranks[dst]} passes a gatherList (this is rank ${g.ranks[g.rank]})`);
  }
  const flat = g.rank === dst ? like(tensor, g.size) : null;
  return finish(g.gather(flat, tensor, dst), opts, () => flat && unflatten(flat, list!));
}

/** Options of scatter: the list to hand out, on `src` only. */
export interface ScatterOptions extends CollectiveOptions {
  scatterList?: Tensor[] | null;
  src?: number;
}
/** Rank `src` (default 0) sends `scatterList[r]` to rank r's `tensor`. */
export function scatter<O extends ScatterOptions>(tensor: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('scatter');
  if (g.rank < 0) return notAMember(opts);
  const src = groupRank('scatter', g, opts?.src ?? g.ranks[0]!, 'source');
  checkTensor('scatter', g, tensor);
  const list = opts?.scatterList ?? null;
  if (g.rank === src) {
    if (!list) throw new DistributedError('scatter', `the source rank ${g.ranks[src]} must pass a scatterList`);
    checkList('scatter', g, list, tensor, 'scatterList');
  } else if (list && list.length > 0) {
    throw new DistributedError('scatter', `only the source rank ${g.ranks[src]} passes a scatterList (this is rank ${g.ranks[g.rank]})`);
  }
  return finish(g.scatter(tensor, g.rank === src ? flatten(list!) : null, src), opts, () => markWritten(tensor));
}

/** Reduces `inputList` element-wise across ranks; rank r keeps the reduction of everyone's `inputList[r]` in `output`. */
export function reduceScatter<O extends ReduceOptions>(output: Tensor, inputList: Tensor[], opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('reduceScatter');
  if (g.rank < 0) return notAMember(opts);
  const op = opts?.op ?? 'sum';
  checkTensor('reduceScatter', g, output, 'output');
  checkOp('reduceScatter', op, output, g);
  checkList('reduceScatter', g, inputList, output, 'inputList');
  return finish(g.reduceScatter(output, flatten(inputList), op), opts, () => markWritten(output));
}

/** reduceScatter from one input tensor of `size` blocks (PyTorch's reduce_scatter_tensor). */
export function reduceScatterTensor<O extends ReduceOptions>(output: Tensor, input: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('reduceScatterTensor');
  if (g.rank < 0) return notAMember(opts);
  const op = opts?.op ?? 'sum';
  checkTensor('reduceScatterTensor', g, output, 'output');
  checkTensor('reduceScatterTensor', g, input, 'input');
  checkOp('reduceScatterTensor', op, output, g);
  checkBlocks('reduceScatterTensor', g, input, output);
  return finish(g.reduceScatter(output, input, op), opts, () => markWritten(output));
}

/** Rank r sends `inputList[s]` to rank s, which receives it in `outputList[r]`. */
export function allToAll<O extends CollectiveOptions>(outputList: Tensor[], inputList: Tensor[], opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('allToAll');
  if (g.rank < 0) return notAMember(opts);
  if (inputList.length === 0) throw new DistributedError('allToAll', 'inputList is empty');
  checkList('allToAll', g, inputList, inputList[0]!, 'inputList');
  checkList('allToAll', g, outputList, inputList[0]!, 'outputList');
  const out = like(inputList[0]!, g.size);
  return finish(g.allToAll(out, flatten(inputList)), opts, () => unflatten(out, outputList));
}

/** allToAll over equal blocks of one tensor's first dim (PyTorch's all_to_all_single without split sizes). */
export function allToAllSingle<O extends CollectiveOptions>(output: Tensor, input: Tensor, opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('allToAllSingle');
  if (g.rank < 0) return notAMember(opts);
  checkTensor('allToAllSingle', g, input, 'input');
  checkTensor('allToAllSingle', g, output, 'output');
  if (input.numel() % g.size !== 0 || output.numel() !== input.numel() || output.dtype !== input.dtype) {
    throw new DistributedError('allToAllSingle', `input and output must hold the same dtype and a multiple of ${g.size} elements, got a ${describe(input)} and a ${describe(output)}`);
  }
  return finish(g.allToAll(output, input), opts, () => markWritten(output));
}

/** Waits until every rank of the group has reached the barrier. */
export function barrier<O extends CollectiveOptions>(opts?: O): CollectiveResult<O> {
  const g = opts?.group ?? defaultProcessGroup('barrier');
  if (g.rank < 0) return notAMember(opts);
  return finish(g.barrier(), opts);
}

/** Options of point-to-point calls. */
export interface P2POptions {
  group?: ProcessGroup;
  /** Matches a send with a recv (default 0). */
  tag?: number;
}
/** Starts sending `tensor` to rank `dst`; returns the Work to wait on. */
export function isend(tensor: Tensor, dst: number, opts?: P2POptions): Work {
  const g = opts?.group ?? defaultProcessGroup('isend');
  if (g.rank < 0) return completedWork;
  checkTensor('isend', g, tensor);
  return g.send(tensor, groupRank('isend', g, dst, 'destination'), opts?.tag ?? 0);
}
/** Starts receiving rank `src`'s tensor into `tensor`; returns the Work to wait on. */
export function irecv(tensor: Tensor, src: number, opts?: P2POptions): Work {
  const g = opts?.group ?? defaultProcessGroup('irecv');
  if (g.rank < 0) return completedWork;
  checkTensor('irecv', g, tensor);
  return finish(g.recv(tensor, groupRank('irecv', g, src, 'source'), opts?.tag ?? 0), { asyncOp: true }, () => markWritten(tensor));
}
/** Sends `tensor` to rank `dst` and waits. Example: `distributed.send(t, 1)`. */
export function send(tensor: Tensor, dst: number, opts?: P2POptions): void {
  isend(tensor, dst, opts).wait();
}
/** Receives rank `src`'s tensor into `tensor` and waits; returns src. Example: `distributed.recv(t, 0)`. */
export function recv(tensor: Tensor, src: number, opts?: P2POptions): number {
  irecv(tensor, src, opts).wait();
  return src;
}
