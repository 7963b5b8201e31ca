// Tensor.pinMemory() and isPinned(): cpu tensors in page-locked host memory, which the GPU's copy
// engines read directly (backend/cuda/pinned.ts), so that batch.to('cuda', { nonBlocking: true })
// queues the copy and returns.
import { backendFor } from './backend/registry.js';
import { deviceOf } from './cuda_device.js';
import { isPinnedArray, pinnedStorage } from './backend/cuda/pinned.js';
import { hostArray } from './backend/ts/storage.js';
import { Device } from './device.js';
import { DeviceError } from './errors.js';
import { Storage } from './tensor/storage.js';
import { Tensor } from './tensor/tensor.js';

/** A copy of cpu tensor `t` in pinned memory (`t` itself when it already is). */
export function pinMemory(t: Tensor): Tensor {
  t.assertLive();
  if (t.device.type !== 'cpu') throw new DeviceError('pinMemory', `only cpu tensors can be pinned, got a ${t.dtype} tensor on ${t.device}`);
  if (isPinned(t)) return t;
  const dev = deviceOf('pinMemory');
  const n = t.numel();
  const handle = pinnedStorage(dev, t.dtype, n);
  const src = t.contiguous();
  const from = hostArray(src.storage.handle)!;
  (handle.data as unknown as { set(a: ArrayLike<unknown>): void }).set(from.subarray(src.offset, src.offset + n));
  if (src !== t) src.dispose();
  const cpu = Device.of('cpu');
  return Tensor.fromStorage(new Storage(handle, backendFor(cpu), cpu), t.shape);
}

/** True for a cpu tensor whose memory is pinned. */
export function isPinned(t: Tensor): boolean {
  const data = hostArray(t.storage.handle);
  return data !== undefined && isPinnedArray(data);
}
