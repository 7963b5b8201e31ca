// The GPU a `fm.cuda` call names (an index, 'cuda:N', or the current device), and whether there
// is CUDA at all: shared by fm.cuda, its streams and events, and pinned memory.
import { cudaRuntime, type CudaDevice } from './backend/cuda/index.js';
import { currentCudaDevice } from './device.js';
import { DeviceError, ValueError } from './errors.js';

/** True when a CUDA driver, a GPU and the CUDA libraries were found. Example: `fm.cuda.isAvailable()`. */
export function isAvailable(): boolean {
  try {
    cudaRuntime();
    return true;
  } catch {
    return false;
  }
}

/** The device `index` names, with `op` in the error when CUDA is missing or the name is bad. */
export function deviceOf(op: string, index?: number | string): CudaDevice {
  const i = index === undefined ? currentCudaDevice() : typeof index === 'number' ? index : Number(/^cuda(?::(\d+))?$/.exec(index)?.[1] ?? (index === 'cuda' ? currentCudaDevice() : NaN));
  if (!Number.isInteger(i)) throw new ValueError(op, `expected a device index or 'cuda:N', got ${String(index)}`);
  let runtime;
  try {
    runtime = cudaRuntime();
  } catch (e) {
    throw new DeviceError(op, `CUDA is not available: ${(e as Error).message}`);
  }
  return runtime.device(i);
}
