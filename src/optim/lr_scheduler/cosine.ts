// Cosine annealing: CosineAnnealingLR (PyTorch's recursive form, so values match step for step)
// and CosineAnnealingWarmRestarts (SGDR, with restarts every tI epochs).
import { ValueError } from '../../errors.js';
import type { Optimizer } from '../optimizer.js';
import { checkInteger } from '../validate.js';
import { LRScheduler } from './scheduler.js';

/**
 * Anneals the learning rate from its initial value to etaMin along a half cosine of tMax epochs
 * (and back up over the next tMax, as PyTorch's recursive form does).
 * NOTE: each step scales the current lr, so changes made to a group's lr carry over, as in PyTorch.
 * Example: `new fm.optim.lrScheduler.CosineAnnealingLR(opt, 100, { etaMin: 1e-5 })`.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;
  constructor(optimizer: Optimizer, tMax: number, { etaMin = 0, lastEpoch = -1 }: { etaMin?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    if (!(tMax > 0)) throw new ValueError('CosineAnnealingLR', `expected tMax > 0, got ${tMax}`);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.init();
  }
  protected override getLr(): number[] {
    const { lastEpoch: t, tMax: T, etaMin } = this;
    if (t === 0) return this.groupLrs();
    if (this.stepCount === 1 && t > 0) return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((t * Math.PI) / T))) / 2);
    if ((t - 1 - T) % (2 * T) === 0) {
      return this.groupLrs().map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    return this.groupLrs().map((lr) => ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (lr - etaMin) + etaMin);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
}

/**
 * Cosine annealing with warm restarts (SGDR): the lr falls from its initial value to etaMin over
 * tI epochs, then restarts, with tI = t0, t0 tMult, t0 tMult^2, ... step(epoch) accepts
 * fractional epochs (a step per batch: `sched.step(epoch + i / iters)`).
 * Example: `new fm.optim.lrScheduler.CosineAnnealingWarmRestarts(opt, 10, { tMult: 2 })`.
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  t0: number;
  tI: number;
  tMult: number;
  etaMin: number;
  tCur: number;
  constructor(optimizer: Optimizer, t0: number, { tMult = 1, etaMin = 0, lastEpoch = -1 }: { tMult?: number; etaMin?: number; lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    checkInteger('CosineAnnealingWarmRestarts', 't0', t0, 1);
    checkInteger('CosineAnnealingWarmRestarts', 'tMult', tMult, 1);
    this.t0 = t0;
    this.tI = t0;
    this.tMult = tMult;
    this.etaMin = etaMin;
    this.tCur = lastEpoch;
    this.init();
  }
  protected override getLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.tCur) / this.tI))) / 2);
  }
  /** Moves to the next epoch, or to `epoch` (which may be fractional). Example: `sched.step(3.5)`. */
  override step(epoch?: number): void {
    if (epoch === undefined && this.lastEpoch < 0) epoch = 0;
    if (epoch === undefined) {
      epoch = this.lastEpoch + 1;
      this.tCur += 1;
      if (this.tCur >= this.tI) {
        this.tCur -= this.tI;
        this.tI *= this.tMult;
      }
    } else {
      if (epoch < 0) throw new ValueError('CosineAnnealingWarmRestarts.step', `expected a non-negative epoch, got ${epoch}`);
      if (epoch >= this.t0) {
        if (this.tMult === 1) {
          this.tCur = epoch % this.t0;
        } else {
          const n = Math.trunc(Math.log((epoch / this.t0) * (this.tMult - 1) + 1) / Math.log(this.tMult));
          this.tCur = epoch - (this.t0 * (this.tMult ** n - 1)) / (this.tMult - 1);
          this.tI = this.t0 * this.tMult ** n;
        }
      } else {
        this.tI = this.t0;
        this.tCur = epoch;
      }
    }
    this.lastEpoch = Math.floor(epoch);
    this.setLrs(this.getLr());
  }
}
