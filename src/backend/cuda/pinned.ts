// Page-locked ("pinned") host memory for cpu tensors (Tensor.pinMemory(), DataLoader's
// pinMemory): the GPU's copy engines read it directly, so a copy from it to the device can be
// queued on a stream and return at once (to('cuda', { nonBlocking: true })). The memory is the
// driver's (cuMemHostAlloc), viewed by a typed array. As PyTorch's caching host allocator, a
// block whose storage is disposed or collected is kept by size and handed out again once the
// copies queued from it are done: cuMemHostAlloc and cuMemFreeHost are slow, and the free waits
// for the device, which a loader pinning every batch would pay each time.
import { createRequire } from 'node:module';
import { bytesPerElement, typedArrayOver, type DType } from '../../dtype.js';
import { TsStorage } from '../ts/storage.js';
import type { CudaDevice } from './index.js';

const require = createRequire(import.meta.url);
const koffi = require('koffi') as typeof import('koffi');

/** CU_MEMHOSTALLOC_PORTABLE: pinned for every context, so any GPU's copies may use it. */
const PORTABLE = 1;

interface Block {
  readonly dev: CudaDevice;
  readonly pointer: unknown;
  readonly buffer: ArrayBuffer;
  readonly bytes: number;
  /** Events of the copies queued from this memory and not yet known to be done. */
  readonly copies: number[];
  /** False once its storage is gone (the block is cached, or freed). */
  inUse: boolean;
}

/** Cached blocks by byte size, and their total; past CACHE_MAX_BYTES blocks are freed instead. */
const cache = new Map<number, Block[]>();
let cachedBytes = 0;
const CACHE_MAX_BYTES = 1 << 30;

/** The blocks by the ArrayBuffer that views them: how a copy knows that its source is pinned. */
const blocks = new WeakMap<ArrayBufferLike, Block>();

/** Drops the events of copies that are done; true when none is left pending. */
function copiesDone(b: Block): boolean {
  const drv = b.dev.runtime.driver;
  for (let i = b.copies.length - 1; i >= 0; i--) {
    if (drv.eventQuery(b.copies[i]!)) {
      drv.eventDestroy(b.copies[i]!);
      b.copies.splice(i, 1);
    }
  }
  return b.copies.length === 0;
}

/** A block whose storage is gone: cached for reuse, or (over the cache's bound) freed once its copies are done. */
function retire(b: Block): void {
  if (!b.inUse) return;
  b.inUse = false;
  if (cachedBytes + b.bytes <= CACHE_MAX_BYTES) {
    let list = cache.get(b.bytes);
    if (!list) cache.set(b.bytes, (list = []));
    list.push(b);
    cachedBytes += b.bytes;
    return;
  }
  b.dev.makeCurrent();
  const drv = b.dev.runtime.driver;
  for (const e of b.copies) {
    drv.eventSynchronize(e);
    drv.eventDestroy(e);
  }
  blocks.delete(b.buffer);
  drv.freeHost(b.pointer);
}
const collected = new FinalizationRegistry<Block>((b) => {
  try {
    retire(b);
  } catch {
    // from the collector there is no caller to tell: the context is gone or the driver failed
  }
});

/** A cached block of `bytes` whose copies are done, taken from the cache; else undefined. */
function fromCache(bytes: number): Block | undefined {
  const list = cache.get(bytes);
  const i = list?.findIndex(copiesDone) ?? -1;
  if (i < 0) return undefined;
  const [b] = list!.splice(i, 1);
  cachedBytes -= bytes;
  return b;
}

/** A ts storage of `numel` elements in pinned memory, allocated through `dev`'s context. */
export function pinnedStorage(dev: CudaDevice, dtype: DType, numel: number): TsStorage {
  dev.makeCurrent();
  const drv = dev.runtime.driver;
  const bytes = Math.max(1, numel * bytesPerElement(dtype));
  let block = fromCache(bytes);
  if (!block) {
    const pointer = drv.hostAlloc(bytes, PORTABLE, 'pinMemory');
    const buffer = koffi.view(pointer, bytes) as ArrayBuffer;
    block = { dev, pointer, buffer, bytes, copies: [], inUse: false };
    blocks.set(buffer, block);
  }
  const b = block;
  b.inUse = true;
  const storage = new TsStorage(dtype, typedArrayOver(dtype, b.buffer, 0, numel), () => {
    collected.unregister(b);
    retire(b);
  });
  collected.register(storage, b, b);
  return storage;
}

/** True when `values` lie in pinned memory that a live storage holds. */
export function isPinnedArray(values: ArrayBufferView): boolean {
  return blocks.get(values.buffer)?.inUse ?? false;
}

/** Notes a copy queued from pinned `values` (its event recorded after it), so the memory is not reused before it is done. */
export function notePinnedCopy(values: ArrayBufferView, event: number): void {
  const b = blocks.get(values.buffer)!;
  copiesDone(b); // keeps the list short
  b.copies.push(event);
}
