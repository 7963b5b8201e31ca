// Which backend serves each device. cpu gets the native C kernels on first use (compiled and
// cached), or the ts kernels when FIAMMA_CPU_KERNELS=ts or no compiler works; cuda:N gets the
// cuda backend of that GPU, loaded on first use (the driver, NVRTC and cuBLAS through koffi).
import * as os from 'node:os';
import type { Backend } from './interface.js';
import type { Device, DeviceType } from '../device.js';
import { DeviceError, ValueError } from '../errors.js';
import { tsBackend } from './ts/index.js';
import { makeCpuBackend } from './cpu/index.js';
import { loadNative } from './cpu/native.js';
import { cudaBackend, cudaRuntime, setTf32 } from './cuda/index.js';
import { withReducedFloats } from './reduced_float.js';

const backends = new Map<DeviceType, Backend>();

/** A backend whose thread count can be set (the native cpu one). */
interface Threaded {
  setThreads(n: number): void;
}

let cpuKernels: 'native' | 'ts' | undefined;
/** OMP_NUM_THREADS, as PyTorch reads it (launchers set it so that processes on one node share the cores); else every core. */
function defaultThreads(): number {
  const omp = Number(process.env.OMP_NUM_THREADS);
  return Number.isInteger(omp) && omp >= 1 ? omp : Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}
let cpuThreads = defaultThreads();

/** The cpu backend, chosen once: native kernels unless disabled or unavailable (then one warning). */
function cpuBackend(): Backend {
  const want = process.env.FIAMMA_CPU_KERNELS ?? 'native';
  if (want !== 'ts' && want !== 'native') {
    throw new ValueError('FIAMMA_CPU_KERNELS', `expected 'native' or 'ts', got '${want}'`);
  }
  let backend: Backend = tsBackend as unknown as Backend;
  cpuKernels = 'ts';
  if (want === 'native') {
    try {
      backend = makeCpuBackend(loadNative()) as unknown as Backend;
      cpuKernels = 'native';
      (backend as unknown as Threaded).setThreads(cpuThreads);
    } catch (e) {
      const reason = (e as Error).message.split('\n').slice(0, 6).join('\n  ');
      console.warn(`fiamma: native cpu kernels unavailable, using the TypeScript kernels: ${reason}`);
    }
  }
  backend = withReducedFloats(backend);
  backends.set('cpu', backend);
  return backend;
}

/** Makes `backend` serve every device of `type`. Example: `registerBackend('cpu', tsBackend)`. */
export function registerBackend(type: DeviceType, backend: Backend): void {
  backends.set(type, withReducedFloats(backend));
}

/** The backend that runs ops on `device`; raises a DeviceError saying why when there is none. */
export function backendFor(device: Device, op = 'device'): Backend {
  const b = backends.get(device.type);
  if (b) return b;
  if (device.type === 'cpu') return cpuBackend();
  try {
    return cudaBackend(device.index);
  } catch (e) {
    if (e instanceof DeviceError && e.op !== 'cuda') throw e;
    throw new DeviceError(op, `device '${device}' is not available: ${(e as Error).message}`);
  }
}

/** True when a backend serves `type` (for cuda: a driver, a GPU, NVRTC and cuBLAS were found). */
export function isBackendAvailable(type: DeviceType): boolean {
  if (type === 'cpu' || backends.has(type)) return true;
  try {
    cudaRuntime();
    return true;
  } catch {
    return false;
  }
}

/** Which kernels run cpu ops: 'native' (compiled C) or 'ts' (TypeScript). Example: `fm.cpuKernels()`. */
export function cpuKernelsInUse(): 'native' | 'ts' {
  if (cpuKernels === undefined) cpuBackend();
  return cpuKernels!;
}

/** Sets how many threads cpu kernels use (default: OMP_NUM_THREADS, else the cores available). Example: `fm.setNumThreads(1)`. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ValueError('setNumThreads', `expected a positive integer, got ${n}`);
  cpuThreads = n;
  const b = backends.get('cpu') as unknown as Partial<Threaded> | undefined;
  b?.setThreads?.(n);
}

/** The number of threads cpu kernels use. Example: `fm.getNumThreads()`. */
export function getNumThreads(): number {
  return cpuThreads;
}

let matmulPrecision: 'highest' | 'high' | 'medium' = 'highest';

/**
 * How float32 matrix products may trade precision for speed, as PyTorch's: 'highest' (full
 * float32, the default) or 'high' / 'medium' (TF32 tensor cores on GPUs that have them).
 * Example: `fm.setFloat32MatmulPrecision('high')`.
 */
export function setFloat32MatmulPrecision(p: 'highest' | 'high' | 'medium'): void {
  if (p !== 'highest' && p !== 'high' && p !== 'medium') throw new ValueError('setFloat32MatmulPrecision', `expected 'highest', 'high' or 'medium', got '${String(p)}'`);
  matmulPrecision = p;
  setTf32(p !== 'highest');
}

/** The current float32 matmul precision. */
export function getFloat32MatmulPrecision(): 'highest' | 'high' | 'medium' {
  return matmulPrecision;
}
