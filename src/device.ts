// Device names ('cpu', 'cuda', 'cuda:1'), parsed once into a canonical form.
import { DeviceError } from './errors.js';

/** A device type Fiamma knows. */
export type DeviceType = 'cpu' | 'cuda';

/** A parsed device: its type and index. `String(device)` gives the canonical name. */
export class Device {
  private constructor(readonly type: DeviceType, readonly index: number) {}

  private static readonly cache = new Map<string, Device>();

  /** Parses `'cpu'`, `'cuda'` (device 0) or `'cuda:N'`. Example: `Device.of('cuda:1').index === 1`. */
  static of(spec: DeviceLike): Device {
    if (spec instanceof Device) return spec;
    // 'cuda' is the current GPU: the same object as its 'cuda:N' (devices are compared by identity).
    if (spec === 'cuda') return Device.of(`cuda:${currentCuda}`);
    const hit = Device.cache.get(spec);
    if (hit) return hit;
    const m = /^(cpu|cuda)(?::(\d+))?$/.exec(spec);
    if (!m) throw new DeviceError('device', `unknown device '${spec}' (expected 'cpu', 'cuda' or 'cuda:N')`);
    const type = m[1] as DeviceType;
    const index = m[2] === undefined ? 0 : Number(m[2]);
    if (type === 'cpu' && index !== 0) throw new DeviceError('device', `'${spec}': the cpu device has no index`);
    // One object per canonical name, whatever the spelling ('cuda:01' is 'cuda:1').
    const name = type === 'cpu' ? 'cpu' : `cuda:${index}`;
    const d = Device.cache.get(name) ?? new Device(type, index);
    Device.cache.set(name, d);
    Device.cache.set(spec, d);
    return d;
  }

  /** The canonical name: `'cpu'` or `'cuda:N'`. */
  toString(): string {
    return this.type === 'cpu' ? 'cpu' : `${this.type}:${this.index}`;
  }
}

/** Anything accepted where a device is expected. */
export type DeviceLike = Device | string;

/** The GPU that 'cuda' without an index means (fm.cuda.setDevice). */
let currentCuda = 0;
export function currentCudaDevice(): number {
  return currentCuda;
}
export function setCurrentCudaDevice(index: number): void {
  currentCuda = index;
}
