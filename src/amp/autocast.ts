// Automatic mixed precision (PyTorch's torch.autocast): inside `autocast`, the ops that gain from
// 16-bit floats (matrix products, linear, convolutions, attention) run in float16 or bfloat16,
// and the ops that need range or precision run in float32: losses on both device types, and on
// cuda softmax and the normalisations too (PyTorch's cpu list leaves those in 16 bits).
// The casts are ordinary differentiable ops, so gradients flow back in each leaf's own dtype.
// The mode lives in an AsyncLocalStorage context, as grad mode does, so autocast(async () => ...)
// keeps it across its own awaits only.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { DeviceType } from '../device.js';
import { isFloating, type DType, type ReducedFloat } from '../dtype.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** The 16-bit float dtypes autocast runs in. */
export type AutocastDtype = ReducedFloat;

/** Options of `autocast`, as torch.autocast's arguments. */
export interface AutocastOptions {
  /** The device type whose ops are cast: 'cuda' or 'cpu'. */
  deviceType: DeviceType;
  /** The lower precision: default float16 on cuda and bfloat16 on cpu, as PyTorch's. */
  dtype?: AutocastDtype;
  /** false runs `fn` with autocast off for this device type (default true). */
  enabled?: boolean;
}

type State = Readonly<Record<DeviceType, AutocastDtype | null>>;
const context = new AsyncLocalStorage<State>();
const off: State = { cpu: null, cuda: null };

const defaultDtype: Record<DeviceType, AutocastDtype> = { cuda: 'float16', cpu: 'bfloat16' };
/** Whether autocast was ever entered: until then the hooks skip the context lookup (every matmul, loss and norm runs one). */
let entered = false;

/**
 * Runs `fn` (sync or async) with autocast on (or off) for one device type.
 * Example: `const loss = fm.autocast({ deviceType: 'cuda', dtype: 'bfloat16' }, () => lossFn(model(x), y));`
 * then `loss.backward()` outside it, as PyTorch recommends.
 */
export function autocast<T>(opts: AutocastOptions, fn: () => T): T {
  const { deviceType, enabled = true } = opts;
  if (deviceType !== 'cpu' && deviceType !== 'cuda') throw new ValueError('autocast', `deviceType must be 'cuda' or 'cpu', got '${String(deviceType)}'`);
  const dtype = opts.dtype ?? defaultDtype[deviceType];
  if (dtype !== 'float16' && dtype !== 'bfloat16') throw new ValueError('autocast', `dtype must be 'float16' or 'bfloat16', got '${String(dtype)}'`);
  if (typeof fn !== 'function') throw new ValueError('autocast', `expected a function to run, got ${typeof fn}`);
  entered = true;
  return context.run({ ...(context.getStore() ?? off), [deviceType]: enabled ? dtype : null }, fn);
}

/** True inside an enabled `autocast` for `deviceType` (default 'cuda'). Example: `fm.isAutocastEnabled('cpu')`. */
export function isAutocastEnabled(deviceType: DeviceType = 'cuda'): boolean {
  return (context.getStore() ?? off)[deviceType] !== null;
}

/** The dtype autocast uses for `deviceType`, on or off (its default outside autocast). */
export function getAutocastDtype(deviceType: DeviceType = 'cuda'): AutocastDtype {
  return (context.getStore() ?? off)[deviceType] ?? defaultDtype[deviceType];
}

type Operand = Tensor | null | undefined;

/** Which of PyTorch's lists an op is on: 16 bits; float32 on both device types; float32 on cuda only. */
type Policy = 'lower' | 'float32' | 'float32Cuda';

/** The target of `t` under the current autocast: float64 and non-float tensors are left alone, as PyTorch's. */
function target(state: State, t: Operand, policy: Policy): DType | null {
  if (!t || !isFloating(t.dtype) || t.dtype === 'float64') return null;
  if (policy === 'float32Cuda' && t.device.type !== 'cuda') return null;
  const lower = policy === 'lower';
  const low = state[t.device.type];
  if (low === null) return null;
  const want = lower ? low : 'float32';
  return t.dtype === want ? null : want;
}

function cast<T extends readonly Operand[]>(policy: Policy, ts: T): T {
  if (!entered) return ts;
  const state = context.getStore();
  if (state === undefined || (state.cpu === null && state.cuda === null)) return ts;
  return ts.map((t) => {
    const d = target(state, t, policy);
    return d === null ? t : t!.to(d);
  }) as unknown as T;
}

/** The operands of an op that autocast runs in 16 bits (matmul, linear, convolution, attention), cast. */
export function autocastLower<T extends readonly Operand[]>(...ts: T): T {
  return cast('lower', ts);
}

/** The operands of an op that autocast runs in float32 on both device types (the losses), cast. */
export function autocastFloat32<T extends readonly Operand[]>(...ts: T): T {
  return cast('float32', ts);
}

/** The operands of an op that autocast runs in float32 on cuda only (softmax, normalisations), cast. */
export function autocastFloat32OnCuda<T extends readonly Operand[]>(...ts: T): T {
  return cast('float32Cuda', ts);
}

/** True inside an enabled autocast for `t`'s device type (ops PyTorch refuses to autocast check it). */
export function autocastActiveFor(t: Tensor): boolean {
  return entered && (context.getStore() ?? off)[t.device.type] !== null;
}

/** Runs `fn` with autocast off: the inside of an op autocast treats as one (attention). */
export function withoutAutocast<T>(fn: () => T): T {
  return !entered || context.getStore() === undefined ? fn() : context.run(off, fn);
}
