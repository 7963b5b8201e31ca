// Runs registry ops: checks devices, runs forward without recording, and records a graph node
// when grad mode is on and an input requires grad.
import type { Tensor } from '../tensor/tensor.js';
import { Tensor as TensorClass } from '../tensor/tensor.js';
import { Storage } from '../tensor/storage.js';
import { backendFor } from '../backend/registry.js';
import type { Backend, View } from '../backend/interface.js';
import type { Device } from '../device.js';
import { isFloating, type DType } from '../dtype.js';
import { AutogradError, DeviceError, FiammaError, addErrorContext } from '../errors.js';
import { isGradEnabled, setGradEnabled } from '../autograd/grad_mode.js';
import { gradientEdge } from '../autograd/engine.js';
import { numelOf, fmtShape } from '../tensor/shape.js';
import { Ctx, OpNode, noGradCtx, type OpDef } from './op_def.js';
import { registry, type PrimAttrs, type PrimName } from './registry.js';

/** A new contiguous tensor with uninitialised contents. */
export function emptyTensor(shape: readonly number[], dtype: DType, device: Device): Tensor {
  const backend = backendFor(device);
  return TensorClass.fromStorage(new Storage(backend.allocate(dtype, numelOf(shape)), backend, device), shape);
}

/** The backend of a tensor. */
export function backendOf(t: Tensor): Backend {
  return t.storage.backend;
}

/** A kernel's view of `t` read as if broadcast to `shape` (zero strides, no copy, nothing recorded). */
export function broadcastView(t: Tensor, shape: readonly number[], strides: readonly number[]): View {
  return { storage: t.storage.handle, dtype: t.dtype, shape, strides, offset: t.offset };
}

/** `[2, 3] float32 on cpu, [4] int64 on cpu`: what error messages say of an op's inputs. */
export function describeInputs(inputs: readonly Tensor[]): string {
  return inputs.map((t) => `${fmtShape(t.shape)} ${t.dtype} on ${t.device}`).join(', ');
}

/**
 * A view whose storage changed in place after it was made (through its base or another view)
 * would backpropagate through its old history. PyTorch rebuilds the view's history; Fiamma asks
 * for the view to be made again.
 */
function staleViewError(op: string, t: Tensor): AutogradError {
  return new AutogradError(op, `a view (shape ${fmtShape(t.shape)}) is used after its storage was modified in place; its recorded history would be stale. Take the view again after the in-place change`);
}

/** Raises unless every input lives on one device. */
export function checkSameDevice(op: string, inputs: readonly Tensor[]): void {
  if (inputs.length < 2) return;
  const d = inputs[0]!.storage.device;
  for (let i = 1; i < inputs.length; i++) {
    if (inputs[i]!.storage.device !== d) {
      throw new DeviceError(op, `expected all tensors on the same device, got ${describeInputs(inputs)}. Move them with .to(device) first`);
    }
  }
}

/**
 * Applies primitive `name` to `inputs`. Example: `applyOp('exp', [x], [])`.
 * The forward runs with grad mode off; the output records a node when an input requires grad.
 */
export function applyOp<K extends PrimName>(name: K, inputs: readonly Tensor[], attrs: PrimAttrs[K]): Tensor {
  const def = registry[name] as OpDef<PrimAttrs[K]>;
  checkSameDevice(name, inputs);
  let record = false;
  if (def.backward !== undefined && isGradEnabled()) {
    for (const t of inputs) {
      if (!t.requiresGrad) continue;
      record = true;
      if (t.base !== null && t.gradFn !== null && t.viewVersion !== t.storage.version) throw staleViewError(name, t);
    }
  }
  const ctx = record ? new Ctx(name, inputs.map((t) => t.requiresGrad), inputs.map((t) => t.shape)) : noGradCtx;
  const mode = isGradEnabled();
  setGradEnabled(false);
  let out: Tensor;
  try {
    out = def.forward(ctx, inputs, attrs);
  } catch (e) {
    if (e instanceof FiammaError) addErrorContext(e, `(inputs: ${describeInputs(inputs)})`);
    throw e;
  } finally {
    setGradEnabled(mode);
  }
  if (record && isFloating(out.dtype)) {
    const next = inputs.map((t) => (t.requiresGrad ? gradientEdge(t) : null));
    const meta = inputs.map((t) => (t.requiresGrad ? { shape: t.shape, dtype: t.dtype, device: t.device } : null));
    out.gradFn = new OpNode(name, next, meta, def, ctx, attrs);
    out.requiresGrad = true;
    if (out.base !== null) out.viewVersion = out.storage.version;
  }
  return out;
}
