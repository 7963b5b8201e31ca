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
  const cpu = Device.of('cpu');
  const backend = backendFor(cpu);
  const out = Tensor.fromStorage(new Storage(pinnedStorage(dev, t.dtype, n), backend, cpu), t.shape);
  // One strided copy straight into the pinned memory (a non-contiguous t is not made contiguous first).
  backend.copy(out.view_(), t.view_());
  return out;
}

/** True for a cpu tensor whose memory is pinned. */
export function isPinned(t: Tensor): boolean {
  const data = hostArray(t.storage.handle);
  return data !== undefined && isPinnedArray(data);
}
