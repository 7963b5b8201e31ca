// Scatter and gather for nn.DataParallel (as torch.nn.parallel.scatter_gather): split nested inputs
// into per-device chunks along a dim, and join per-replica outputs back onto one device.
import { Tensor } from '../../tensor/tensor.js';
import { Device, type DeviceLike } from '../../device.js';
import { cat, chunk } from '../../functional/shape.js';
import { ValueError } from '../../errors.js';

/** A device as DataParallel takes it: a name, a `Device`, or a number (a CUDA index; -1 is the cpu, as PyTorch's gather). */
export type ParallelDevice = DeviceLike | number;

/** Parses a ParallelDevice. Example: `toParallelDevice(1)` is `cuda:1`. */
export function toParallelDevice(op: string, d: ParallelDevice): Device {
  if (typeof d !== 'number') return Device.of(d);
  if (d === -1) return Device.of('cpu');
  if (!Number.isInteger(d) || d < 0) throw new ValueError(op, `a device index must be a non-negative integer (or -1 for the cpu), got ${d}`);
  return Device.of(`cuda:${d}`);
}

/** Device equality by name: Device.of('cuda') and Device.of('cuda:0') may be distinct objects. */
export function sameDevice(a: Device, b: Device): boolean {
  return String(a) === String(b);
}

/** Only plain objects ({...}) are walked; class instances (a Device, a Module) are values to copy. */
function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Transposes per-field lists into per-replica records, keeping as many replicas as the shortest list (PyTorch's zip). */
function zipRecords<K extends string | number>(keys: readonly K[], parts: readonly unknown[][], n: number): Map<K, unknown>[] {
  const count = Math.min(n, ...parts.map((p) => p.length));
  return Array.from({ length: count }, (_, i) => new Map(keys.map((k, j) => [k, parts[j]![i]])));
}

function scatterMap(x: unknown, devices: readonly Device[], dim: number): unknown[] {
  if (x instanceof Tensor) {
    // PyTorch's sizes: Tensor.chunk, so a short batch gives fewer chunks and fewer replicas run.
    return chunk(x, devices.length, dim).map((part, i) => part.to(devices[i]!));
  }
  // A container with nothing in it is copied, as any other value (PyTorch's zip would drop every replica).
  if (Array.isArray(x) && x.length > 0) {
    const parts = x.map((v) => scatterMap(v, devices, dim));
    return zipRecords([...x.keys()], parts, devices.length).map((r) => [...r.values()]);
  }
  if (isPlainObject(x) && Object.keys(x).length > 0) {
    const keys = Object.keys(x);
    const parts = keys.map((k) => scatterMap(x[k], devices, dim));
    return zipRecords(keys, parts, devices.length).map((r) => Object.fromEntries(r));
  }
  return devices.map(() => x);
}

/**
 * Splits `inputs` into one piece per device: each tensor is chunked along `dim` (Tensor.chunk's
 * sizes) and each chunk moved to its device; arrays and plain objects are split recursively; other
 * values are repeated (an empty array or object too, where PyTorch's zip would yield no piece).
 * When a batch has fewer entries than devices, fewer pieces come back.
 * Example: `nn.parallel.scatter(fm.randn([5, 3]), ['cpu', 'cpu', 'cpu'])` gives chunks of 2, 2 and 1 rows.
 */
export function scatter<T>(inputs: T, devices: readonly ParallelDevice[], dim = 0): T[] {
  if (devices.length === 0) throw new ValueError('scatter', 'expected at least one device');
  return scatterMap(inputs, devices.map((d) => toParallelDevice('scatter', d)), dim) as T[];
}

let scalarWarned = false;

function gatherMap(outs: readonly unknown[], target: Device, dim: number, path: string): unknown {
  const first = outs[0];
  if (first instanceof Tensor) {
    const ts = outs.map((o, i) => {
      if (!(o instanceof Tensor)) throw new ValueError('gather', `output${path} is a tensor in replica 0 but not in replica ${i}`);
      return o.to(target);
    });
    if (ts.every((t) => t.ndim === 0)) {
      if (!scalarWarned) {
        scalarWarned = true;
        process.emitWarning('Was asked to gather along dimension 0, but all input tensors were scalars; will instead unsqueeze and return a vector.', 'UserWarning');
      }
      return cat(ts.map((t) => t.unsqueeze(0)), 0);
    }
    return ts.length === 1 ? ts[0] : cat(ts, dim);
  }
  if (first === null || first === undefined) return first;
  if (Array.isArray(first)) {
    outs.forEach((o, i) => {
      if (!Array.isArray(o) || o.length !== first.length) throw new ValueError('gather', `output${path} is an array of ${first.length} in replica 0 but not in replica ${i}`);
    });
    return first.map((_, j) => gatherMap(outs.map((o) => (o as unknown[])[j]), target, dim, `${path}[${j}]`));
  }
  if (isPlainObject(first)) {
    const keys = Object.keys(first);
    outs.forEach((o, i) => {
      if (!isPlainObject(o) || Object.keys(o).length !== keys.length || keys.some((k) => !(k in o))) throw new ValueError('gather', `all dicts must have the same number of keys: output${path} differs in replica ${i}`);
    });
    return Object.fromEntries(keys.map((k) => [k, gatherMap(outs.map((o) => (o as Record<string, unknown>)[k]), target, dim, `${path}.${k}`)]));
  }
  // NOTE: PyTorch fails on a number in the outputs; an equal value in every replica is kept here instead.
  if (outs.every((o) => Object.is(o, first))) return first;
  throw new ValueError('gather', `cannot gather output${path}: replicas returned different non-tensor values (${outs.map(String).join(', ')})`);
}

/**
 * Joins one output per replica on `target`: tensors are moved there and concatenated along `dim`
 * (scalars are stacked into a vector, with a warning, as PyTorch); arrays and plain objects are
 * gathered element by element; null stays null. Differentiable, so gradients flow back to each replica.
 * Deviations: scalars are stacked along dim 0 whatever `dim` is; a non-tensor value is kept when
 * every replica returned the same one (PyTorch raises), else a ValueError names it.
 * Example: `nn.parallel.gather([a, b], 'cpu')` is `fm.cat([a, b])` on the cpu.
 */
export function gather<T>(outputs: readonly T[], target: ParallelDevice, dim = 0): T {
  if (outputs.length === 0) throw new ValueError('gather', 'expected at least one output');
  return gatherMap(outputs, toParallelDevice('gather', target), dim, '') as T;
}
