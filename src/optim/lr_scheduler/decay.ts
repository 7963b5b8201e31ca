// Schedules that multiply the learning rate by fixed factors: StepLR, MultiStepLR, ExponentialLR,
// ConstantLR, LinearLR, PolynomialLR (PyTorch's chainable and closed forms).
import { ValueError } from '../../errors.js';
import type { Optimizer } from '../optimizer.js';
import { checkInteger, checkRange } from '../validate.js';
import { LRScheduler } from './scheduler.js';

/**
 * Multiplies the learning rate by gamma every stepSize epochs.
 * Example: `new fm.optim.lrScheduler.StepLR(opt, 30, { gamma: 0.1 })` (lr 0.05 for epochs 0-29, 0.005 for 30-59, ...).
 */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: Optimizer, stepSize: number, { gamma = 0.1, lastEpoch = -1 }: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    checkInteger('StepLR', 'stepSize', stepSize, 1);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.init();
  }
  protected override getLr(): number[] {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** How many of the sorted values are <= x (Python's bisect_right). Example: `bisectRight([2, 5], 5) === 2`. */
export function bisectRight(sorted: readonly number[], x: number): number {
  let i = 0;
  while (i < sorted.length && sorted[i]! <= x) i++;
  return i;
}

/**
 * Multiplies the learning rate by gamma at each milestone (a milestone listed twice, twice).
 * Example: `new fm.optim.lrScheduler.MultiStepLR(opt, [30, 80], { gamma: 0.1 })`.
 */
export class MultiStepLR extends LRScheduler {
  milestones: number[];
  gamma: number;
  constructor(optimizer: Optimizer, milestones: readonly number[], { gamma = 0.1, lastEpoch = -1 }: { gamma?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    if (!Array.isArray(milestones)) throw new ValueError('MultiStepLR', `milestones must be an array of epochs, got ${String(milestones)}`);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.gamma = gamma;
    this.init();
  }
  protected override getLr(): number[] {
    const count = this.milestones.filter((m) => m === this.lastEpoch).length;
    if (count === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma ** count);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** bisectRight(this.milestones, this.lastEpoch));
  }
}

/**
 * Multiplies the learning rate by gamma every epoch.
 * Example: `new fm.optim.lrScheduler.ExponentialLR(opt, 0.95)`.
 */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: Optimizer, gamma: number, { lastEpoch = -1 }: { lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    this.gamma = gamma;
    this.init();
  }
  protected override getLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }
}

/**
 * Multiplies the learning rate by a constant factor until epoch totalIters.
 * Example: `new fm.optim.lrScheduler.ConstantLR(opt, { factor: 0.5, totalIters: 4 })`.
 */
export class ConstantLR extends LRScheduler {
  factor: number;
  totalIters: number;
  constructor(optimizer: Optimizer, { factor = 1 / 3, totalIters = 5, lastEpoch = -1 }: { factor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    checkRange('ConstantLR', 'factor (a multiplicative factor)', factor, 0, 1, true);
    this.factor = factor;
    this.totalIters = totalIters;
    this.init();
  }
  protected override getLr(): number[] {
    if (this.lastEpoch === 0) return this.groupLrs().map((lr) => lr * this.factor);
    if (this.lastEpoch !== this.totalIters) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * (1 / this.factor));
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * (this.factor + (this.lastEpoch >= this.totalIters ? 1 : 0) * (1 - this.factor)));
  }
}

/**
 * Moves the learning rate's factor linearly from startFactor to endFactor over totalIters epochs.
 * Example: `new fm.optim.lrScheduler.LinearLR(opt, { startFactor: 0.1, totalIters: 10 })` (a warmup).
 */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;
  constructor(optimizer: Optimizer, { startFactor = 1 / 3, endFactor = 1, totalIters = 5, lastEpoch = -1 }: { startFactor?: number; endFactor?: number; totalIters?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    if (!(startFactor > 0 && startFactor <= 1)) throw new ValueError('LinearLR', `invalid startFactor: ${startFactor} (expected a multiplicative factor in (0, 1])`);
    checkRange('LinearLR', 'endFactor (a multiplicative factor)', endFactor, 0, 1, true);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.init();
  }
  protected override getLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    if (this.lastEpoch === 0) return this.groupLrs().map((lr) => lr * s);
    if (this.lastEpoch > n) return this.groupLrs();
    return this.groupLrs().map((lr) => lr * (1 + (e - s) / (n * s + (this.lastEpoch - 1) * (e - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: e, totalIters: n } = this;
    return this.baseLrs.map((b) => b * (s + ((e - s) * Math.min(n, this.lastEpoch)) / n));
  }
}

/**
 * Decays the learning rate as (1 - t / totalIters)^power until totalIters.
 * Example: `new fm.optim.lrScheduler.PolynomialLR(opt, { totalIters: 10, power: 2 })`.
 */
export class PolynomialLR extends LRScheduler {
  totalIters: number;
  power: number;
  constructor(optimizer: Optimizer, { totalIters = 5, power = 1, lastEpoch = -1 }: { totalIters?: number; power?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    checkInteger('PolynomialLR', 'totalIters', totalIters, 1);
    this.totalIters = totalIters;
    this.power = power;
    this.init();
  }
  protected override getLr(): number[] {
    const n = this.totalIters;
    if (this.lastEpoch === 0 || this.lastEpoch > n) return this.groupLrs();
    const decay = ((1 - this.lastEpoch / n) / (1 - (this.lastEpoch - 1) / n)) ** this.power;
    return this.groupLrs().map((lr) => lr * decay);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * (1 - Math.min(this.totalIters, this.lastEpoch) / this.totalIters) ** this.power);
  }
}
