// A caching allocator for one device, in the manner of PyTorch's: freed blocks go to free lists
// keyed by their rounded size and are handed out again without a driver call (cuMemAlloc and
// cuMemFree each cost tens of microseconds and cuMemFree synchronises the device). All work runs
// on one stream, so a block freed by the host may be reused at once: kernels run in order.
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

  constructor(private readonly driver: Driver, readonly deviceName: string) {}

  /** A block of at least `bytes`: its address and its rounded size. */
  allocate(bytes: number): { ptr: number; size: number } {
    const size = roundSize(bytes);
    this.stats.allocations++;
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
      // Cached blocks of other sizes may make room.
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

  /** Returns a block to its free list. */
  release(ptr: number, size: number): void {
    this.stats.allocated -= size;
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
  }

  /** Gives every cached (unused) block back to the driver. */
  emptyCache(): void {
    for (const [size, list] of this.freeLists) {
      for (const ptr of list) {
        this.driver.free(ptr);
        this.stats.reserved -= size;
      }
    }
    this.freeLists.clear();
  }

  /** Bytes cached in free lists. */
  cached(): number {
    let n = 0;
    for (const [size, list] of this.freeLists) n += size * list.length;
    return n;
  }
}
