// Tensor.pinMemory() and isPinned(): cpu tensors in page-locked host memory, which the GPU's copy
// engines read directly (backend/cuda/pinned.ts), so that batch.to('cuda', { nonBlocking: true })
// queues the copy and returns.
import { backendFor } from './backend/registry.js';
import { cudaRuntime } from './backend/cuda/index.js';
import { isPinnedArray, pinnedStorage } from './backend/cuda/pinned.js';
import type { TsStorage } from './backend/ts/storage.js';
import { Device, currentCudaDevice } from './device.js';
import { DeviceError } from './errors.js';
import { Storage } from './tensor/storage.js';
import { Tensor } from './tensor/tensor.js';

/** A copy of cpu tensor `t` in pinned memory (`t` itself when it already is). */
export function pinMemory(t: Tensor): Tensor {
  t.assertLive();
  if (t.device.type !== 'cpu') throw new DeviceError('pinMemory', `only cpu tensors can be pinned, got a ${t.dtype} tensor on ${t.device}`);
  if (isPinned(t)) return t;
  let dev;
  try {
    dev = cudaRuntime().device(currentCudaDevice());
  } catch (e) {
    throw new DeviceError('pinMemory', `pinned memory needs CUDA, which is not available: ${(e as Error).message}`);
  }
  const n = t.numel();
  const handle = pinnedStorage(dev, t.dtype, n);
  const src = t.contiguous();
  const from = (src.storage.handle as TsStorage).data;
  (handle.data as unknown as { set(a: ArrayLike<unknown>): void }).set(from.subarray(src.offset, src.offset + n));
  if (src !== t) src.dispose();
  const cpu = Device.of('cpu');
  return Tensor.fromStorage(new Storage(handle, backendFor(cpu), cpu), t.shape);
}

/** True when pinned memory can be had: a CUDA driver and GPU were found. */
export function canPinMemory(): boolean {
  try {
    cudaRuntime();
    return true;
  } catch {
    return false;
  }
}

/** True for a cpu tensor whose memory is pinned. */
export function isPinned(t: Tensor): boolean {
  const data = (t.storage.handle as Partial<TsStorage>).data;
  return t.device.type === 'cpu' && data !== undefined && isPinnedArray(data);
}
