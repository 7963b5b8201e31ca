// replicate and parallelApply for nn.DataParallel (as torch.nn.parallel.replicate / parallel_apply):
// per-device copies of a module tree whose parameters are differentiable copies of the original's.
import type { Tensor } from '../../tensor/tensor.js';
import { Device, currentCudaDevice, setCurrentCudaDevice } from '../../device.js';
import { noGrad } from '../../autograd/grad_mode.js';
import { ValueError } from '../../errors.js';
import { Module, hookSharingShell } from '../module.js';
import { isParameter } from '../parameter.js';
import { sameDevice as same, toParallelDevice, type ParallelDevice } from './scatter_gather.js';

/** Options of replicate. */
export interface ReplicateOptions {
  /** Copies without autograd history, so no gradient reaches the original (PyTorch's detach; DataParallel sets it under noGrad). */
  detach?: boolean;
}

/**
 * Copies of `network`, one per device. Replica i has the class, fields and training mode of the
 * original; its parameters are plain tensors that are differentiable copies of the original's
 * (moved with `to`, or a view when already on the device), so gradients flowing through any
 * replica sum into the original parameters' `.grad`. Buffers are copied without grad. The first
 * replica, when its device is the parameters' own, holds the original parameters and buffers
 * (so batch norm statistics it updates persist). Shared submodules and tied parameters stay
 * shared within each replica. Replicas are registered nowhere and are meant for one forward.
 * Replicas run the original modules' hooks. Example: `const [r0, r1] = nn.parallel.replicate(model, ['cuda:0', 'cuda:1'])`.
 */
export function replicate<M extends Module>(network: M, devices: readonly ParallelDevice[], opts: ReplicateOptions = {}): M[] {
  const targets = devices.map((d) => toParallelDevice('replicate', d));
  const params = network.parameters();
  const buffers = network.buffers();
  const persistent = new Set(Object.values(network.stateDict({ keepVars: true })));
  // One transfer per parameter and device, shared by the replicas on that device.
  const moved = new Map<string, Map<Tensor, Tensor>>();
  const movedTo = (p: Tensor, d: Device): Tensor => {
    if (!moved.has(String(d))) moved.set(String(d), new Map());
    const cache = moved.get(String(d))!;
    if (!cache.has(p)) cache.set(p, p.to(d));
    return cache.get(p)!;
  };
  const build = () => targets.map((d, i) => {
    const tensors = new Map<Tensor, Tensor>();
    for (const p of params) {
      // A view, not the parameter itself: the replica's field is then an ordinary non-leaf tensor, as in PyTorch.
      tensors.set(p, !same(p.device, d) ? movedTo(p, d) : i === 0 ? p : p.view(p.shape));
    }
    noGrad(() => {
      for (const b of buffers) tensors.set(b, !same(b.device, d) ? b.to(d) : i === 0 ? b : b.clone());
    });
    return copyTree(network, tensors, persistent, new Map()) as M;
  });
  return opts.detach ? noGrad(build) : build();
}

/** Copies a module tree, replacing parameters and buffers through `tensors`; `done` keeps shared modules shared. */
function copyTree(m: Module, tensors: Map<Tensor, Tensor>, persistent: Set<Tensor>, done: Map<Module, Module>): Module {
  const hit = done.get(m);
  if (hit) return hit;
  const r = hookSharingShell(m);
  done.set(m, r);
  const fields = m as unknown as Record<string, unknown>;
  const bufferNames = new Set([...m.namedBuffers({ recurse: false })].map(([k]) => k));
  for (const k of Object.keys(m)) {
    const v = fields[k];
    if (v instanceof Module) define(r, k, copyTree(v, tensors, persistent, done));
    else if (bufferNames.has(k)) r.registerBuffer(k, tensors.get(v as Tensor)!, persistent.has(v as Tensor));
    // A parameter, or a plain field that holds one of the module's tensors (its copy on the replica's device).
    else if (isParameter(v) || (v !== null && typeof v === 'object' && tensors.has(v as Tensor))) define(r, k, tensors.get(v as Tensor) ?? v);
    else define(r, k, v);
  }
  return r;
}

/** Sets a field as the original has it (defineProperty, so no setter of the class intervenes). */
function define(r: Module, k: string, value: unknown): void {
  Object.defineProperty(r, k, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * Runs `modules[i]` on `inputs[i]` (an array of arguments, or one argument) and returns the outputs
 * in order. The replicas run one after another on this thread; CUDA launches are asynchronous, so
 * GPUs still overlap. While a replica on a GPU runs, that GPU is the current one ('cuda' means it).
 * Example: `nn.parallel.parallelApply(replicas, [[x0], [x1]], ['cuda:0', 'cuda:1'])`.
 */
export function parallelApply(modules: readonly Module[], inputs: readonly unknown[], devices?: readonly ParallelDevice[]): unknown[] {
  if (modules.length !== inputs.length) throw new ValueError('parallelApply', `expected one input per module, got ${modules.length} modules and ${inputs.length} inputs`);
  if (devices && devices.length !== modules.length) throw new ValueError('parallelApply', `expected one device per module, got ${modules.length} modules and ${devices.length} devices`);
  const targets = devices?.map((d) => toParallelDevice('parallelApply', d));
  return modules.map((m, i) => {
    const args = Array.isArray(inputs[i]) ? (inputs[i] as unknown[]) : [inputs[i]];
    const run = () => (m as unknown as (...a: unknown[]) => unknown)(...args);
    const d = targets?.[i];
    if (d?.type !== 'cuda') return run();
    const saved = currentCudaDevice();
    setCurrentCudaDevice(d.index);
    try {
      return run();
    } finally {
      setCurrentCudaDevice(saved);
    }
  });
}
