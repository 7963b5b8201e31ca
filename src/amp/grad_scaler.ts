// Loss scaling for float16 training (PyTorch's torch.amp.GradScaler): the loss is multiplied by a
// large factor so that small gradients survive float16's range, the gradients are divided by it
// before the update, and a step whose gradients overflowed is skipped while the factor backs off.
import { noGrad } from '../autograd/grad_mode.js';
import { ValueError } from '../errors.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Tensor } from '../tensor/tensor.js';
import { stack } from '../functional/shape.js';
import { scope } from '../tensor/scope.js';
import type { Device } from '../device.js';

/** Options of GradScaler, as PyTorch's keyword arguments. */
export interface GradScalerOptions {
  /** The first scale factor (default 2^16). */
  initScale?: number;
  /** Multiplies the scale after `growthInterval` steps in a row without overflow (default 2). */
  growthFactor?: number;
  /** Multiplies the scale after a step whose gradients overflowed (default 0.5). */
  backoffFactor?: number;
  /** Steps without overflow before the scale grows (default 2000). */
  growthInterval?: number;
  /** false makes every method a pass-through (default true). */
  enabled?: boolean;
}

/** GradScaler's state, with PyTorch's keys (so the dict matches `scaler.state_dict()`). */
export interface GradScalerState {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

type Stage = 'unscaled' | 'stepped';

/**
 * Dynamic loss scaling. Example:
 * ```ts
 * const scaler = new fm.amp.GradScaler();
 * const loss = fm.autocast({ deviceType: 'cuda' }, () => F.crossEntropy(model(x), y));
 * opt.zeroGrad();
 * scaler.scale(loss).backward();
 * scaler.step(opt);   // unscales, skips the step if a gradient is inf or NaN
 * scaler.update();    // backs off or grows the scale
 * ```
 */
export class GradScaler {
  private scaleValue: number;
  private growthFactor: number;
  private backoffFactor: number;
  private growthInterval: number;
  private growthTracker = 0;
  private readonly enabled: boolean;
  /** Per optimizer since the last update: how far it got, and whether its gradients overflowed. */
  private readonly stages = new Map<Optimizer, { stage: Stage; foundInf: boolean; checked: number }>();

  constructor(opts: GradScalerOptions = {}) {
    const { initScale = 2 ** 16, growthFactor = 2, backoffFactor = 0.5, growthInterval = 2000, enabled = true } = opts;
    checkScale('GradScaler', initScale);
    this.scaleValue = initScale;
    this.growthFactor = checkGrowth(growthFactor);
    this.backoffFactor = checkBackoff(backoffFactor);
    this.growthInterval = checkInterval(growthInterval);
    this.enabled = enabled;
  }

  /** True unless built with `enabled: false`. */
  isEnabled(): boolean {
    return this.enabled;
  }

  /** The loss (or losses) times the scale. Example: `scaler.scale(loss).backward()`. */
  scale(outputs: Tensor): Tensor;
  scale(outputs: readonly Tensor[]): Tensor[];
  scale(outputs: Tensor | readonly Tensor[]): Tensor | Tensor[] {
    if (!this.enabled) return Array.isArray(outputs) ? [...outputs] : (outputs as Tensor);
    const s = this.scaleValue;
    return Array.isArray(outputs) ? outputs.map((t: Tensor) => t.mul(s)) : (outputs as Tensor).mul(s);
  }

  /**
   * Divides the optimizer's gradients by the scale, in place, and notes whether any is inf or
   * NaN. Call it before clipping gradients; `step` calls it when you have not.
   */
  unscale_(optimizer: Optimizer): void {
    if (!this.enabled) return;
    const op = 'GradScaler.unscale_';
    const st = this.stages.get(optimizer);
    if (st?.stage === 'unscaled') throw new ValueError(op, 'unscale_() has already been called on this optimizer since the last update()');
    if (st?.stage === 'stepped') throw new ValueError(op, 'unscale_() is being called after step()');
    const grads: Tensor[] = [];
    for (const g of optimizer.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (p.grad.dtype === 'float16') throw new ValueError(op, 'Attempting to unscale float16 gradients: keep the parameters in float32 (autocast casts them for each op)');
        grads.push(p.grad);
      }
    }
    const inv = 1 / this.scaleValue;
    // The scaled gradients are checked (as PyTorch's kernel does), then divided. One flag per
    // device, read once: a sync per device, not per gradient. The flags are freed at once.
    const foundInf = noGrad(() => scope(() => {
      const byDevice = new Map<Device, Tensor[]>();
      for (const g of grads) {
        if (!byDevice.has(g.device)) byDevice.set(g.device, []);
        byDevice.get(g.device)!.push(g.isfinite().all());
        g.mul_(inv);
      }
      return [...byDevice.values()].some((flags) => !stack(flags).all().item());
    }));
    this.stages.set(optimizer, { stage: 'unscaled', foundInf, checked: grads.length });
  }

  /**
   * Unscales (unless `unscale_` already did) and runs `optimizer.step()` when every gradient is
   * finite; returns its result, or undefined for a skipped step.
   */
  step<L = Tensor>(optimizer: Optimizer, closure?: () => L): L | undefined {
    if (!this.enabled) return optimizer.step(closure);
    const op = 'GradScaler.step';
    if (closure !== undefined) throw new ValueError(op, 'a closure is not supported while the scaler is enabled: compute the loss, scale it and call backward first');
    const st = this.stages.get(optimizer);
    if (st?.stage === 'stepped') throw new ValueError(op, 'step() has already been called since the last update()');
    if (st === undefined) this.unscale_(optimizer);
    const now = this.stages.get(optimizer)!;
    if (now.checked === 0) throw new ValueError(op, 'no inf checks were recorded for this optimizer: none of its parameters has a gradient (call backward first)');
    now.stage = 'stepped';
    return now.foundInf ? undefined : optimizer.step();
  }

  /**
   * Adjusts the scale after a step: times backoffFactor if any optimizer's gradients overflowed,
   * times growthFactor after growthInterval clean steps in a row. `newScale` sets it instead.
   */
  update(newScale?: number): void {
    if (!this.enabled) return;
    if (newScale !== undefined) {
      checkScale('GradScaler.update', newScale);
      this.scaleValue = newScale;
    } else {
      if (this.stages.size === 0) throw new ValueError('GradScaler.update', 'no inf checks were recorded before update(): call step() (or unscale_()) first');
      // The scale is a float32, as PyTorch's; it grows only while the product stays finite.
      if ([...this.stages.values()].some((s) => s.foundInf)) {
        this.scaleValue = Math.fround(this.scaleValue * this.backoffFactor);
        this.growthTracker = 0;
      } else if (++this.growthTracker === this.growthInterval) {
        const grown = Math.fround(this.scaleValue * this.growthFactor);
        if (Number.isFinite(grown)) this.scaleValue = grown;
        this.growthTracker = 0;
      }
    }
    this.stages.clear();
  }

  /** The current scale (1 when disabled). */
  getScale(): number {
    return this.enabled ? this.scaleValue : 1;
  }
  getGrowthFactor(): number {
    return this.growthFactor;
  }
  setGrowthFactor(f: number): void {
    this.growthFactor = checkGrowth(f);
  }
  getBackoffFactor(): number {
    return this.backoffFactor;
  }
  setBackoffFactor(f: number): void {
    this.backoffFactor = checkBackoff(f);
  }
  getGrowthInterval(): number {
    return this.growthInterval;
  }
  setGrowthInterval(n: number): void {
    this.growthInterval = checkInterval(n);
  }

  /** The scaler's state (empty when disabled, as PyTorch's). Example: `fm.saveCheckpoint({ scaler: scaler.stateDict(), ... })`. */
  stateDict(): GradScalerState | Record<string, never> {
    if (!this.enabled) return {};
    return { scale: this.scaleValue, growth_factor: this.growthFactor, backoff_factor: this.backoffFactor, growth_interval: this.growthInterval, _growth_tracker: this.growthTracker };
  }

  /** Restores a state from `stateDict()`. */
  loadStateDict(sd: GradScalerState | Record<string, never>): void {
    if (!this.enabled) return;
    const op = 'GradScaler.loadStateDict';
    if (!('scale' in sd)) throw new ValueError(op, 'the state dict is empty: it was saved from a disabled GradScaler');
    checkScale(op, sd.scale);
    this.scaleValue = sd.scale;
    this.growthFactor = checkGrowth(sd.growth_factor);
    this.backoffFactor = checkBackoff(sd.backoff_factor);
    this.growthInterval = checkInterval(sd.growth_interval);
    if (!Number.isInteger(sd._growth_tracker) || sd._growth_tracker < 0) throw new ValueError(op, `_growth_tracker must be a non-negative integer, got ${sd._growth_tracker}`);
    this.growthTracker = sd._growth_tracker;
  }
}

function checkScale(op: string, s: number): void {
  if (!(typeof s === 'number' && s > 0 && Number.isFinite(s))) throw new ValueError(op, `the scale must be a positive finite number, got ${String(s)}`);
}
function checkGrowth(f: number): number {
  if (!(typeof f === 'number' && f > 1 && Number.isFinite(f))) throw new ValueError('GradScaler', `growthFactor must be a finite number above 1, got ${String(f)}`);
  return f;
}
function checkBackoff(f: number): number {
  if (!(typeof f === 'number' && f > 0 && f < 1)) throw new ValueError('GradScaler', `backoffFactor must be between 0 and 1 (exclusive), got ${String(f)}`);
  return f;
}
function checkInterval(n: number): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new ValueError('GradScaler', `growthInterval must be a positive integer, got ${String(n)}`);
  return n;
}
