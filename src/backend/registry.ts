// Which backend serves each device type. cpu starts on the ts kernels; native cpu and cuda
// backends register themselves here when they load.
import type { Backend } from './interface.js';
import type { Device, DeviceType } from '../device.js';
import { DeviceError } from '../errors.js';
import { tsBackend } from './ts/index.js';

const backends = new Map<DeviceType, Backend>([['cpu', tsBackend as unknown as Backend]]);
const unavailable = new Map<DeviceType, string>([
  ['cuda', 'no CUDA backend is loaded in this build of Fiamma (it runs on cpu only)'],
]);

/** Makes `backend` serve every device of `type`. Example: `registerBackend('cpu', tsBackend)`. */
export function registerBackend(type: DeviceType, backend: Backend): void {
  backends.set(type, backend);
}

/** Records why a device type has no backend, for the error an op on it raises. */
export function markUnavailable(type: DeviceType, reason: string): void {
  backends.delete(type);
  unavailable.set(type, reason);
}

/** The backend that runs ops on `device`; raises a DeviceError saying why when there is none. */
export function backendFor(device: Device, op = 'device'): Backend {
  const b = backends.get(device.type);
  if (b) return b;
  throw new DeviceError(op, `device '${device}' is not available: ${unavailable.get(device.type) ?? 'no backend registered'}`);
}

/** True when a backend serves `type`. */
export function isBackendAvailable(type: DeviceType): boolean {
  return backends.has(type);
}
