// A caching allocator for one device, in the manner of PyTorch's: freed blocks go to free lists
// keyed by their rounded size and are handed out again without a driver call (cuMemAlloc and
// cuMemFree each cost tens of microseconds and cuMemFree synchronises the device). While all work
// runs on the default stream, a block freed by the host may be reused at once: kernels run in
// order. While side streams exist (fm.cuda.Stream), a freed block waits until the work queued
// before its release on every stream is done (an event on each), since a kernel on another
// stream may still read it; PyTorch asks the user to name those streams (record_stream) instead.
import { OutOfMemoryError } from '../../errors.js';
import { CUDA_ERROR_OUT_OF_MEMORY, type Driver } from './driver.js';
import { CollectionPolicy } from '../../tensor/collect.js';


const MiB = 1 << 20;
const fmtBytes = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(2)} GiB` : `${(b / MiB).toFixed(2)} MiB`);

/** Sizes are rounded to 512 bytes below 1 MiB and to 2 MiB above, so that blocks of near sizes are shared. */
export function roundSize(bytes: number): number {
  if (bytes <= MiB) return Math.max(512, Math.ceil(bytes / 512) * 512);
  return Math.ceil(bytes / (2 * MiB)) * (2 * MiB);
}

export interface MemoryStats {
  /** Bytes held by live tensors (rounded sizes). */
  allocated: number;
  /** Bytes taken from the driver: live plus cached. */
  reserved: number;
  /** The highest `allocated` since the start or the last reset. */
  peakAllocated: number;
  /** Allocation requests served, and how many of them needed the driver. */
  allocations: number;
  driverAllocations: number;
}

export class CachingAllocator {
  private readonly freeLists = new Map<number, number[]>();
  readonly stats: MemoryStats = { allocated: 0, reserved: 0, peakAllocated: 0, allocations: 0, driverAllocations: 0 };
  /** Collects garbage when tensors held grow fast (those nobody disposed are freed by finalizers at the next await). */
  private readonly pressure = new CollectionPolicy();
  /** Blocks released while side streams existed, with an event per stream recorded at the release. */
  private readonly pending: { ptr: number; size: number; events: number[] }[] = [];
  private readonly spareEvents: number[] = [];

  /** `sideStreams`: the device's live side streams (work may also be queued on the default stream 0). */
  constructor(private readonly driver: Driver, readonly deviceName: string, private readonly sideStreams: ReadonlySet<number> = new Set()) {}

  /** A block of at least `bytes`: its address and its rounded size. */
  allocate(bytes: number): { ptr: number; size: number } {
    const size = roundSize(bytes);
    this.stats.allocations++;
    if (this.pending.length > 0) this.reclaim(false);
    let ptr = this.freeLists.get(size)?.pop();
    if (ptr === undefined) {
      this.pressure.check(this.stats.allocated);
      ptr = this.fromDriver(size, bytes);
    }
    this.stats.allocated += size;
    if (this.stats.allocated > this.stats.peakAllocated) this.stats.peakAllocated = this.stats.allocated;
    return { ptr, size };
  }

  private fromDriver(size: number, requested: number): number {
    let r = this.driver.tryMalloc(size);
    if (typeof r !== 'number' && r.status === CUDA_ERROR_OUT_OF_MEMORY) {
      // Cached blocks of other sizes, and blocks waiting for side streams, may make room.
      if (this.pending.length > 0) {
        this.driver.synchronize();
        this.reclaim(true);
        const reused = this.freeLists.get(size)?.pop();
        if (reused !== undefined) return reused;
      }
      this.emptyCache();
      r = this.driver.tryMalloc(size);
    }
    if (typeof r !== 'number') {
      if (r.status !== CUDA_ERROR_OUT_OF_MEMORY) this.driver.check('cuMemAlloc', r.status, 'allocate');
      const [free, total] = this.driver.memInfo();
      throw new OutOfMemoryError('allocate', `CUDA out of memory on ${this.deviceName}: tried to allocate ${fmtBytes(requested)}; ` +
        `${fmtBytes(total)} total, ${fmtBytes(free)} free, ${fmtBytes(this.stats.allocated)} allocated by Fiamma's tensors, ` +
        `${fmtBytes(this.stats.reserved)} reserved by Fiamma. Release tensors with dispose() or scope(), or use smaller batches`);
    }
    this.stats.reserved += size;
    this.stats.driverAllocations++;
    return r;
  }

  /** Returns a block to its free list (at once, or when the work queued on side streams is done). */
  release(ptr: number, size: number): void {
    this.stats.allocated -= size;
    if (this.sideStreams.size > 0) {
      const events = [0, ...this.sideStreams].map((s) => {
        const e = this.spareEvents.pop() ?? this.driver.eventCreate(false);
        this.driver.eventRecord(e, s);
        return e;
      });
      this.pending.push({ ptr, size, events });
      return;
    }
    this.toFreeList(ptr, size);
  }

  private toFreeList(ptr: number, size: number): void {
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
  }

  /**
   * Moves pending blocks whose events are done (all of them, after a device synchronize: `all`) to
   * the free lists. Blocks are pending in release order and each stream completes its events in
   * record order, so the done blocks are a prefix: the scan stops at the first one not done.
   */
  private reclaim(all: boolean): void {
    let done = 0;
    while (done < this.pending.length && (all || this.pending[done]!.events.every((e) => this.driver.eventQuery(e)))) {
      const b = this.pending[done++]!;
      this.spareEvents.push(...b.events);
      this.toFreeList(b.ptr, b.size);
    }
    this.pending.splice(0, done);
  }

  /** Gives every cached (unused) block back to the driver (cuMemFree waits for the device, so pending blocks are done too). */
  emptyCache(): void {
    if (this.pending.length > 0) {
      this.driver.synchronize();
      this.reclaim(true);
    }
    for (const [size, list] of this.freeLists) {
      for (const ptr of list) {
        this.driver.free(ptr);
        this.stats.reserved -= size;
      }
    }
    this.freeLists.clear();
  }

  /** Bytes cached in free lists (and waiting for side streams). */
  cached(): number {
    let n = this.pending.reduce((t, b) => t + b.size, 0);
    for (const [size, list] of this.freeLists) n += size * list.length;
    return n;
  }
}
