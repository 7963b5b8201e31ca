// `fm.cuda`: the GPUs as PyTorch's torch.cuda shows them: availability, devices and their
// properties, the current device, synchronisation, and the caching allocator's statistics.
import { cudaRuntime } from './backend/cuda/index.js';
import { deviceOf, isAvailable } from './cuda_device.js';
import { setCurrentCudaDevice, currentCudaDevice } from './device.js';
import { manualSeed as seedAll } from './functional/random.js';

/** What getDeviceProperties() tells of a GPU. */
export interface CudaDeviceProperties {
  name: string;
  major: number;
  minor: number;
  totalMemory: number;
  multiProcessorCount: number;
}

const MiB = 1 << 20;

export { isAvailable } from './cuda_device.js';

/** Why CUDA is not available (undefined when it is): which piece is missing and where it was looked for. */
export function unavailableReason(): string | undefined {
  try {
    cudaRuntime();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The number of GPUs (0 without CUDA). */
export function deviceCount(): number {
  return isAvailable() ? cudaRuntime().count : 0;
}

/** The index that 'cuda' (without ':N') means. */
export function currentDevice(): number {
  return currentCudaDevice();
}

/** Makes 'cuda' mean cuda:index. Example: `fm.cuda.setDevice(1)`. */
export function setDevice(index: number): void {
  deviceOf('setDevice', index);
  setCurrentCudaDevice(index);
}

/** The GPU's name, e.g. 'NVIDIA H200'. */
export function getDeviceName(index?: number | string): string {
  return deviceOf('getDeviceName', index).name;
}

/** Name, compute capability, memory and multiprocessors of a GPU. */
export function getDeviceProperties(index?: number | string): CudaDeviceProperties {
  const d = deviceOf('getDeviceProperties', index);
  const drv = d.runtime.driver;
  return { name: d.name, major: Math.floor(d.arch / 10), minor: d.arch % 10, totalMemory: drv.totalMemory(d.handle), multiProcessorCount: d.sms };
}

/** Waits until every kernel queued on the GPU has finished. */
export function synchronize(index?: number | string): void {
  const d = deviceOf('synchronize', index);
  d.makeCurrent();
  d.runtime.driver.synchronize();
}

/** Bytes held by live tensors on the GPU. */
export function memoryAllocated(index?: number | string): number {
  return deviceOf('memoryAllocated', index).allocator.stats.allocated;
}
/** Bytes the caching allocator holds from the driver (live and cached). */
export function memoryReserved(index?: number | string): number {
  return deviceOf('memoryReserved', index).allocator.stats.reserved;
}
/** The most bytes live tensors held at once since the start or resetPeakMemoryStats(). */
export function maxMemoryAllocated(index?: number | string): number {
  return deviceOf('maxMemoryAllocated', index).allocator.stats.peakAllocated;
}
/** Restarts maxMemoryAllocated() from the current allocation. */
export function resetPeakMemoryStats(index?: number | string): void {
  const s = deviceOf('resetPeakMemoryStats', index).allocator.stats;
  s.peakAllocated = s.allocated;
}
/** Returns the cached, unused blocks of every opened GPU to the driver. */
export function emptyCache(): void {
  if (!isAvailable()) return;
  for (const d of cudaRuntime().opened()) {
    d.makeCurrent();
    d.allocator.emptyCache();
  }
}
/** A few lines on the allocator's state, as torch.cuda.memory_summary(). */
export function memorySummary(index?: number | string): string {
  const d = deviceOf('memorySummary', index);
  const s = d.allocator.stats;
  const [free, total] = (d.makeCurrent(), d.runtime.driver.memInfo());
  const mb = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
  return [
    `cuda:${d.index} (${d.name}) memory`,
    `  allocated (live tensors): ${mb(s.allocated)}   peak: ${mb(s.peakAllocated)}`,
    `  reserved (from driver):   ${mb(s.reserved)}   cached for reuse: ${mb(d.allocator.cached())}`,
    `  requests: ${s.allocations}, of which from the driver: ${s.driverAllocations}`,
    `  device: ${mb(free)} free of ${mb(total)}`,
  ].join('\n');
}

/**
 * Seeds random numbers for the GPUs. Fiamma draws the same Philox numbers on every device from
 * one default generator, so this seeds that generator (as fm.manualSeed does).
 */
export function manualSeed(seed: number | bigint): void {
  seedAll(seed);
}
export { Event, Stream, stream, currentStream, defaultStream, type EventOptions, type StreamOptions } from './cuda_stream.js';
