// DDP's gradient reducer: parameters grouped into buckets (in reverse order, as backward produces
// their gradients); a bucket is all-reduced as soon as its last gradient arrives, so communication
// overlaps the rest of backward; at the end of backward the results are copied back into `.grad`.
import type { Tensor } from '../../tensor/tensor.js';
import { DistributedError } from '../../errors.js';
import { noGrad } from '../../autograd/grad_mode.js';
import { queueCallback } from '../../autograd/engine.js';
import { flatten } from '../../distributed/flat.js';
import { bytesPerElement } from '../../dtype.js';
import { tensor, zeros } from '../../functional/creation.js';
import { allReduce } from '../../distributed/collectives.js';
import type { ProcessGroup, Work } from '../../distributed/process_group.js';
import { fmtShape } from '../../tensor/shape.js';

/** PyTorch's first bucket is small so that the first all-reduce starts early in backward. */
const FIRST_BUCKET_BYTES = 1024 * 1024;

interface Bucket {
  readonly params: readonly Tensor[];
  pending: number;
  flat: Tensor | null;
  work: Work | null;
}

/** Splits parameters (given in reverse order) into buckets of one dtype and at most `capBytes` each (the first at most 1 MiB). */
export function assignBuckets(params: readonly Tensor[], capBytes: number): Tensor[][] {
  const buckets: Tensor[][] = [];
  let current: Tensor[] = [];
  let bytes = 0;
  for (const p of params) {
    const size = p.numel() * bytesPerElement(p.dtype);
    const cap = buckets.length === 0 ? Math.min(FIRST_BUCKET_BYTES, capBytes) : capBytes;
    if (current.length > 0 && (bytes + size > cap || current[0]!.dtype !== p.dtype)) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(p);
    bytes += size;
  }
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/** The per-step state of gradient synchronisation for one DDP module. */
export class Reducer {
  private readonly buckets: Bucket[];
  private readonly bucketOf = new Map<Tensor, Bucket>();
  private readonly ready = new Set<Tensor>();
  private nextBucket = 0;
  private expecting = false;
  private finalizeQueued = false;
  /** Parameters the last forward did not use on this rank (findUnusedParameters). */
  private unused = new Set<Tensor>();

  constructor(
    private readonly group: ProcessGroup,
    private readonly names: ReadonlyMap<Tensor, string>,
    params: readonly Tensor[],
    bucketCapBytes: number,
    private readonly findUnused: boolean,
  ) {
    this.buckets = assignBuckets([...params].reverse(), bucketCapBytes).map((ps) => ({ params: ps, pending: ps.length, flat: null, work: null }));
    for (const b of this.buckets) for (const p of b.params) this.bucketOf.set(p, b);
    for (const p of params) p.registerPostAccumulateGradHook((leaf) => this.markReady(leaf));
  }

  /** The bucket layout (for tests and printing): parameter names per bucket, in all-reduce order. */
  layout(): string[][] {
    return this.buckets.map((b) => b.params.map((p) => this.names.get(p)!));
  }

  /** Called by each forward that will be followed by a synchronised backward. `unused`: parameters the forward's graph does not reach. */
  prepare(unused: Set<Tensor>): void {
    if (this.expecting && this.ready.size > 0) {
      throw new DistributedError('DistributedDataParallel', 'a new forward started while the previous backward had reduced only some gradients; finish backward (or use noSync) first');
    }
    this.expecting = true;
    this.unused = unused;
    this.ready.clear();
    this.nextBucket = 0;
    this.finalizeQueued = false;
    for (const b of this.buckets) {
      b.pending = b.params.length;
      b.flat = null;
      b.work = null;
    }
  }

  private markReady(p: Tensor): void {
    // A backward that no synchronised forward announced (noSync, or a second backward through a
    // retained graph) accumulates locally, as in PyTorch.
    if (!this.expecting) return;
    if (!this.finalizeQueued) {
      this.finalizeQueued = true;
      // The unused parameters count as ready from the start, as in PyTorch.
      for (const u of this.unused) this.setReady(u);
      queueCallback(() => this.finalize());
    }
    this.setReady(p);
    // Polling a bucket in flight lets MPI move the data of all of them while backward goes on (its
    // nonblocking collectives progress only inside MPI calls); NCCL's run on the GPU regardless.
    this.buckets.slice(0, this.nextBucket).find((b) => !b.work!.isCompleted());
  }

  private setReady(p: Tensor): void {
    if (this.ready.has(p)) {
      // An unused parameter (counted ready at the start) that got a gradient after all: its bucket
      // may already be reduced without it, and the ranks would silently disagree.
      throw new DistributedError(
        'DistributedDataParallel',
        `parameter '${this.names.get(p)}' got a gradient although the forward's output does not use it (findUnusedParameters counted it as unused): ` +
          'a loss term outside the module\'s output, or a weight used outside forward. Compute every use inside forward.',
      );
    }
    this.ready.add(p);
    const b = this.bucketOf.get(p)!;
    b.pending--;
    // Buckets start in index order on every rank: collectives must be issued in the same order everywhere.
    while (this.nextBucket < this.buckets.length && this.buckets[this.nextBucket]!.pending === 0) this.launch(this.buckets[this.nextBucket++]!);
  }

  private launch(b: Bucket): void {
    b.flat = flatten(b.params.map((p) => p.grad ?? zeros(p.shape, { dtype: p.dtype, device: p.device })));
    b.work = allReduce(b.flat, { op: 'avg', group: this.group, asyncOp: true });
  }

  /** End of backward: every bucket must have started; wait for them and write the averages back. */
  private finalize(): void {
    this.expecting = false;
    const missing = [...this.names.keys()].filter((p) => !this.ready.has(p));
    if (missing.length > 0) {
      const list = missing.map((p) => `'${this.names.get(p)}' ${fmtShape(p.shape)}`).join(', ');
      throw new DistributedError(
        'DistributedDataParallel',
        `${missing.length} parameter${missing.length > 1 ? 's' : ''} got no gradient in this backward: ${list}. They did not take part in computing the loss; ` +
          'pass { findUnusedParameters: true } if the model legitimately skips them in some steps, or remove them from the model.',
      );
    }
    const globallyUsed = this.findUnused ? this.usedAnywhere() : null;
    noGrad(() => {
      for (const b of this.buckets) {
        b.work!.wait();
        let at = 0;
        for (const p of b.params) {
          const n = p.numel();
          const avg = b.flat!.narrow(0, at, n).reshape(p.shape);
          at += n;
          if (globallyUsed && !globallyUsed.has(p)) continue; // no rank used it: .grad stays as it was
          if (p.grad) p.grad.copy_(avg);
          else p.grad = avg.clone();
        }
        b.flat = null;
        b.work = null;
      }
    });
  }

  /** The parameters some rank used in this step: one all-reduce (max) of the local used-flags. */
  private usedAnywhere(): Set<Tensor> {
    const params = this.buckets.flatMap((b) => b.params);
    const flags = tensor(params.map((p) => (this.unused.has(p) ? 0 : 1)), { dtype: 'uint8', device: params[0]!.device });
    allReduce(flags, { op: 'max', group: this.group });
    const got = flags.toArray() as number[];
    return new Set(params.filter((_, i) => got[i] !== 0));
  }
}
