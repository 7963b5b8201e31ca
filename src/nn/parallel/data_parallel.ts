// nn.DataParallel (as torch.nn.DataParallel): one process, several devices. Each forward scatters
// the batch, replicates the module, runs the replicas and gathers their outputs on one device.
import { Device } from '../../device.js';
import { isGradEnabled } from '../../autograd/grad_mode.js';
import { DeviceError, ValueError } from '../../errors.js';
import { isAvailable as cudaIsAvailable, deviceCount as cudaDeviceCount } from '../../cuda.js';
import { Module } from '../module.js';
import { gather, sameDevice, scatter, toParallelDevice, type ParallelDevice } from './scatter_gather.js';
import { parallelApply, replicate } from './replicate.js';

/** Options of DataParallel and dataParallel (PyTorch's keyword arguments). */
export interface DataParallelOptions {
  /** The devices to run on (default: every GPU, or none without CUDA); the first holds the module. Numbers are CUDA indices. */
  deviceIds?: readonly ParallelDevice[];
  /** Where outputs are gathered (default: deviceIds[0]). */
  outputDevice?: ParallelDevice;
  /** The dim along which inputs are split and outputs joined (default 0). */
  dim?: number;
}

interface Resolved {
  deviceIds: Device[];
  outputDevice: Device | null;
  dim: number;
}

function resolve(op: string, opts: DataParallelOptions): Resolved {
  const ids = opts.deviceIds ?? (cudaIsAvailable() ? Array.from({ length: cudaDeviceCount() }, (_, i) => i) : []);
  const deviceIds = ids.map((d) => toParallelDevice(op, d));
  const dim = opts.dim ?? 0;
  if (!Number.isInteger(dim)) throw new ValueError(op, `dim must be an integer, got ${dim}`);
  if (deviceIds.length === 0 && opts.outputDevice !== undefined) throw new ValueError(op, 'outputDevice was given without any device to run on');
  const outputDevice = opts.outputDevice !== undefined ? toParallelDevice(op, opts.outputDevice) : (deviceIds[0] ?? null);
  return { deviceIds, outputDevice, dim };
}

/** Raises unless every parameter and buffer is on `src` (PyTorch checks before each forward). */
function checkOnSource(op: string, module: Module, src: Device): void {
  for (const [kind, named] of [['parameter', module.namedParameters()], ['buffer', module.namedBuffers()]] as const) {
    for (const [name, t] of named) {
      if (!sameDevice(t.device, src)) {
        throw new DeviceError(op, `module must have its parameters and buffers on device ${src} (deviceIds[0]) but found ${kind} '${name}' on device ${t.device}`);
      }
    }
  }
}

/** The forward of DataParallel and dataParallel: scatter, replicate, apply, gather. */
function run(op: string, module: Module, inputs: unknown[], r: Resolved): unknown {
  const call = module as unknown as (...a: unknown[]) => unknown;
  if (r.deviceIds.length === 0) return call(...inputs);
  checkOnSource(op, module, r.deviceIds[0]!);
  // With no argument at all, one replica runs (as PyTorch's ((),) default).
  const pieces = inputs.length === 0 ? [[]] : scatter(inputs, r.deviceIds, r.dim);
  if (pieces.length === 0) throw new ValueError(op, `nothing to scatter along dim ${r.dim}: the inputs have no entries there`);
  // One device: the module itself runs, on inputs moved to it, and its output is returned as it is (as PyTorch).
  if (r.deviceIds.length === 1) return call(...pieces[0]!);
  const used = r.deviceIds.slice(0, pieces.length);
  // Under noGrad the copies need no history (PyTorch's detach = not torch.is_grad_enabled()).
  const replicas = replicate(module, used, { detach: !isGradEnabled() });
  return gather(parallelApply(replicas, pieces, used), r.outputDevice!, r.dim);
}

/**
 * Runs a module on several devices of this process: each call splits its tensor arguments along
 * `dim` (nested arrays and plain objects too, other values are repeated), copies the module to each
 * device used, runs the copies and joins their outputs on `outputDevice`. Gradients of every copy
 * sum into the wrapped module's parameters, which (with its buffers) must live on `deviceIds[0]`.
 * The module is the child `module`, so state-dict keys start with `module.` (as PyTorch).
 * Without devices (no CUDA and no `deviceIds`) it simply runs the module.
 * Hooks of the wrapped module and its submodules run in every copy, as in PyTorch.
 * Example:
 * ```ts
 * const model = new nn.DataParallel(new Net().to('cuda:0'), { deviceIds: [0, 1] });
 * const loss = F.crossEntropy(model(x), y); // x split between cuda:0 and cuda:1
 * loss.backward(); // gradients in model.module's parameters on cuda:0
 * ```
 */
export class DataParallel<M extends Module = Module> extends Module {
  /** The wrapped module. */
  module: M;
  /** The devices the batch is split over; empty when the module runs as it is. */
  deviceIds: Device[];
  /** Where outputs are gathered (null without devices). */
  outputDevice: Device | null;
  /** The dim along which inputs are split and outputs joined. */
  dim: number;

  constructor(module: M, opts: DataParallelOptions = {}) {
    super();
    if (!(module instanceof Module)) throw new ValueError('DataParallel', `${String(module)} is not a Module`);
    const r = resolve('DataParallel', opts);
    this.module = module;
    this.deviceIds = r.deviceIds;
    this.outputDevice = r.outputDevice;
    this.dim = r.dim;
    // As PyTorch: with a single device the module is simply moved there.
    if (r.deviceIds.length === 1) module.to(r.deviceIds[0]!);
  }

  override forward(...inputs: Parameters<M['forward']>): ReturnType<M['forward']> {
    return run('DataParallel', this.module, inputs, this) as ReturnType<M['forward']>;
  }
}

/**
 * The function form of DataParallel (PyTorch's data_parallel): runs `module` on `inputs` (its
 * argument list) split over `deviceIds`, for one call.
 * Example: `const y = nn.parallel.dataParallel(model, [x], { deviceIds: ['cuda:0', 'cuda:1'] })`.
 */
export function dataParallel<M extends Module>(module: M, inputs: Parameters<M['forward']>, opts: DataParallelOptions = {}): ReturnType<M['forward']> {
  return run('dataParallel', module, [...inputs], resolve('dataParallel', opts)) as ReturnType<M['forward']>;
}
