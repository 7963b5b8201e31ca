// Page-locked ("pinned") host memory for cpu tensors (Tensor.pinMemory(), DataLoader's
// pinMemory): the GPU's copy engines read it directly, so a copy from it to the device can be
// queued on a stream and return at once (to('cuda', { nonBlocking: true })). The memory is the
// driver's (cuMemHostAlloc), viewed by a typed array; it goes back with cuMemFreeHost when the
// storage is disposed or collected, after the copies queued from it are done.
import { createRequire } from 'node:module';
import { bytesPerElement, type DType, type TypedArray } from '../../dtype.js';
import { TsStorage } from '../ts/storage.js';
import type { CudaDevice } from './index.js';

const require = createRequire(import.meta.url);
const koffi = require('koffi') as typeof import('koffi');

type Ctor = new (b: ArrayBuffer, offset: number, length: number) => TypedArray;
const arrays: Record<DType, Ctor> = {
  float16: Uint16Array, bfloat16: Uint16Array, float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
} as unknown as Record<DType, Ctor>;

/** CU_MEMHOSTALLOC_PORTABLE: pinned for every context, so any GPU's copies may use it. */
const PORTABLE = 1;

interface Block {
  readonly dev: CudaDevice;
  readonly pointer: unknown;
  /** Events of the copies queued from this memory and not yet known to be done. */
  readonly copies: number[];
  freed: boolean;
}

/** The blocks by the ArrayBuffer that views them: how a copy knows that its source is pinned. */
const blocks = new WeakMap<ArrayBufferLike, Block>();

function freeBlock(b: Block): void {
  if (b.freed) return;
  b.freed = true;
  const drv = b.dev.runtime.driver;
  for (const e of b.copies) {
    drv.eventSynchronize(e);
    drv.eventDestroy(e);
  }
  drv.check('cuMemFreeHost', drv.fn('int cuMemFreeHost(void *p)')(b.pointer));
}
const collected = new FinalizationRegistry<Block>(freeBlock);

/** A ts storage of `numel` elements in pinned memory, allocated through `dev`'s context. */
export function pinnedStorage(dev: CudaDevice, dtype: DType, numel: number): TsStorage {
  dev.makeCurrent();
  const drv = dev.runtime.driver;
  const bytes = Math.max(1, numel * bytesPerElement(dtype));
  const out: unknown[] = [null];
  drv.check('cuMemHostAlloc', drv.fn('int cuMemHostAlloc(_Out_ void **pp, size_t bytes, uint32_t flags)')(out, bytes, PORTABLE), 'pinMemory');
  const block: Block = { dev, pointer: out[0], copies: [], freed: false };
  const buffer = koffi.view(out[0], bytes) as ArrayBuffer;
  blocks.set(buffer, block);
  const storage = new TsStorage(dtype, new arrays[dtype](buffer, 0, numel), () => {
    collected.unregister(block);
    freeBlock(block);
  });
  collected.register(storage, block, block);
  return storage;
}

/** True when `values` lie in pinned memory that is still allocated. */
export function isPinnedArray(values: ArrayBufferView): boolean {
  const b = blocks.get(values.buffer);
  return b !== undefined && !b.freed;
}

/** Notes a copy queued from pinned `values` (its event recorded after it), so the memory outlives it. */
export function notePinnedCopy(values: ArrayBufferView, event: number): void {
  const b = blocks.get(values.buffer)!;
  const drv = b.dev.runtime.driver;
  // Copies already done need no waiting: keep the list short.
  for (let i = b.copies.length - 1; i >= 0; i--) {
    if (drv.eventQuery(b.copies[i]!)) {
      drv.eventDestroy(b.copies[i]!);
      b.copies.splice(i, 1);
    }
  }
  b.copies.push(event);
}
