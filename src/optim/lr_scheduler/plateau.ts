// ReduceLROnPlateau: lowers the learning rate when a watched metric stops improving.
import { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { Optimizer } from '../optimizer.js';
import { checkOneOf, describe } from '../validate.js';
import { loadSchedulerState, perGroup, schedulerState, type SchedulerStateDict } from './scheduler.js';

/** ReduceLROnPlateau's options (PyTorch's, in camelCase). Example: `{ mode: 'max', patience: 3, minLr: 1e-5 }`. */
export interface ReduceLROnPlateauOptions {
  /** 'min' (default): the metric should fall; 'max': it should rise. */
  mode?: 'min' | 'max';
  /** The lr is multiplied by factor (< 1) on a plateau (default 0.1). */
  factor?: number;
  /** Epochs without improvement tolerated before reducing (default 10). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 1e-4). */
  threshold?: number;
  /** 'rel' (default): relative to the best; 'abs': absolute. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** The lowest lr, for all groups or one per group (default 0). */
  minLr?: number | number[];
  /** Reductions smaller than eps are skipped (default 1e-8). */
  eps?: number;
}

/**
 * Multiplies the learning rate by factor once the metric given to step() has not improved for
 * patience epochs. Not an LRScheduler: its step takes the metric.
 * Example: `const sched = new fm.optim.lrScheduler.ReduceLROnPlateau(opt, { patience: 5 }); sched.step(valLoss)`.
 */
export class ReduceLROnPlateau {
  readonly optimizer: Optimizer;
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  cooldownCounter = 0;
  minLrs: number[];
  eps: number;
  /** The best metric so far. */
  best: number;
  /** Epochs since the last improvement. */
  numBadEpochs = 0;
  lastEpoch = 0;
  protected lastLr: number[];

  constructor(optimizer: Optimizer, opts: ReduceLROnPlateauOptions = {}) {
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = opts;
    const op = 'ReduceLROnPlateau';
    if (!(optimizer instanceof Optimizer)) throw new ValueError(op, `${describe(optimizer)} is not an Optimizer`);
    if (!(factor < 1)) throw new ValueError(op, `factor should be < 1.0, got ${factor}`);
    checkOneOf(op, 'mode', mode, ['min', 'max']);
    checkOneOf(op, 'thresholdMode', thresholdMode, ['rel', 'abs']);
    this.optimizer = optimizer;
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.minLrs = perGroup(op, 'minLr', optimizer, minLr);
    this.eps = eps;
    this.best = this.modeWorse();
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The worst value of the metric for the mode (where `best` starts). */
  private modeWorse(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  /** True while waiting after a reduction. Example: `if (!sched.inCooldown) ...`. */
  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Whether metric a improves on best by more than the threshold. Example: `sched.isBetter(0.5, sched.best)`. */
  isBetter(a: number, best: number): boolean {
    const { threshold: th } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - th) : a < best - th;
    return this.thresholdMode === 'rel' ? a > best * (th + 1) : a > best + th;
  }

  /** Records this epoch's metric (a number or a one-element tensor) and reduces the lr on a plateau. Example: `sched.step(valLoss)`. */
  step(metric: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : metric;
    if (typeof current !== 'number') throw new ValueError('ReduceLROnPlateau.step', `expected the metric as a number or a one-element Tensor, got ${describe(metric)}`);
    this.lastEpoch += 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs in cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const newLr = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - newLr > this.eps) g.lr = newLr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The groups' learning rates after the last step. Example: `sched.getLastLr()`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's state (its fields, in PyTorch's names). Example: `const sd = sched.stateDict()`. */
  stateDict(): SchedulerStateDict {
    return schedulerState(this, ['optimizer']);
  }

  /** Restores a state made by stateDict. Example: `sched.loadStateDict(sd)`. */
  loadStateDict(stateDict: SchedulerStateDict): void {
    loadSchedulerState(this, stateDict, ['optimizer'], 'ReduceLROnPlateau.loadStateDict');
  }
}
