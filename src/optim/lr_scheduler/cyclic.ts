// Cyclical schedules: OneCycleLR (the 1cycle policy, cos or linear annealing) and CyclicLR
// (triangular, triangular2, exp_range); both can cycle momentum (or Adam's beta1) inversely.
import { ValueError } from '../../errors.js';
import type { Optimizer, ParamGroup } from '../optimizer.js';
import { checkInteger, checkOneOf } from '../validate.js';
import { LRScheduler, perGroup } from './scheduler.js';

/** Whether the optimizer has a momentum to cycle: 'betas' (Adam-like, beta1 cycles) or 'momentum'. */
function momentumKind(op: string, optimizer: Optimizer): 'betas' | 'momentum' {
  if ('betas' in optimizer.defaults) return 'betas';
  if ('momentum' in optimizer.defaults) return 'momentum';
  throw new ValueError(op, `optimizer must support momentum or beta1 with the cycleMomentum option enabled (${optimizer.constructor.name} has neither)`);
}

/** Sets a group's momentum: beta1 for Adam-like optimizers, momentum otherwise. */
function setMomentum(group: ParamGroup, kind: 'betas' | 'momentum', value: number): void {
  if (kind === 'betas') group.betas = [value, ...(group.betas as number[]).slice(1)];
  else group.momentum = value;
}

/** OneCycleLR's options (PyTorch's, in camelCase). Example: `{ totalSteps: 1000, pctStart: 0.25, annealStrategy: 'linear' }`. */
export interface OneCycleLROptions {
  /** The number of steps of the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The fraction of the cycle spent increasing the lr (default 0.3). */
  pctStart?: number;
  /** 'cos' (default) or 'linear' annealing. */
  annealStrategy?: 'cos' | 'linear';
  /** Cycle momentum (or beta1) inversely to the lr between baseMomentum and maxMomentum (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  /** initialLr = maxLr / divFactor (default 25). */
  divFactor?: number;
  /** minLr = initialLr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Three phases (up, down to initialLr, then down to minLr) instead of two (default false). */
  threePhase?: boolean;
  lastEpoch?: number;
}

/** One phase of the 1cycle schedule: where it ends and the group keys it anneals between. */
interface Phase {
  endStep: number;
  startLr: string;
  endLr: string;
  startMomentum: string;
  endMomentum: string;
}

/**
 * The 1cycle policy: the lr rises from maxLr / divFactor to maxLr over pctStart of the cycle,
 * then anneals to minLr; momentum moves the opposite way. Step once per batch.
 * Example: `new fm.optim.lrScheduler.OneCycleLR(opt, 0.1, { totalSteps: 1000 })`.
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  pctStart: number;
  threePhase: boolean;
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  useBeta1: boolean;
  constructor(optimizer: Optimizer, maxLr: number | number[], opts: OneCycleLROptions = {}) {
    const { totalSteps, epochs, stepsPerEpoch, pctStart = 0.3, annealStrategy = 'cos', cycleMomentum = true } = opts;
    const { baseMomentum = 0.85, maxMomentum = 0.95, divFactor = 25, finalDivFactor = 1e4, threePhase = false, lastEpoch = -1 } = opts;
    super(optimizer, lastEpoch);
    const op = 'OneCycleLR';
    if (totalSteps === undefined && (epochs === undefined || stepsPerEpoch === undefined)) throw new ValueError(op, 'you must define either totalSteps OR (epochs AND stepsPerEpoch)');
    if (totalSteps !== undefined) checkInteger(op, 'totalSteps', totalSteps, 1);
    else {
      checkInteger(op, 'epochs', epochs, 1);
      checkInteger(op, 'stepsPerEpoch', stepsPerEpoch, 1);
    }
    this.totalSteps = totalSteps ?? epochs! * stepsPerEpoch!;
    if (!(pctStart >= 0 && pctStart <= 1)) throw new ValueError(op, `expected pctStart between 0 and 1, got ${pctStart}`);
    checkOneOf(op, 'annealStrategy', annealStrategy, ['cos', 'linear']);
    this.pctStart = pctStart;
    this.threePhase = threePhase;
    this.annealStrategy = annealStrategy;
    const groups = optimizer.paramGroups;
    const maxLrs = perGroup(op, 'maxLr', optimizer, maxLr);
    if (lastEpoch === -1) {
      groups.forEach((g, i) => {
        g.initialLr = maxLrs[i]! / divFactor;
        g.maxLr = maxLrs[i]!;
        g.minLr = g.initialLr / finalDivFactor;
      });
    }
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = false;
    if (cycleMomentum) {
      const kind = momentumKind(op, optimizer);
      this.useBeta1 = kind === 'betas';
      const maxMs = perGroup(op, 'maxMomentum', optimizer, maxMomentum);
      const baseMs = perGroup(op, 'baseMomentum', optimizer, baseMomentum);
      if (lastEpoch === -1) {
        groups.forEach((g, i) => {
          setMomentum(g, kind, maxMs[i]!);
          g.maxMomentum = maxMs[i]!;
          g.baseMomentum = baseMs[i]!;
        });
      }
    }
    this.init();
  }

  /** The phases: up to maxLr, then down (to minLr; or to initialLr, then to minLr, with threePhase). */
  private phases(): Phase[] {
    const n = this.totalSteps;
    const up = this.pctStart * n - 1;
    if (this.threePhase) {
      return [
        { endStep: up, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
        { endStep: 2 * this.pctStart * n - 2, startLr: 'maxLr', endLr: 'initialLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
        { endStep: n - 1, startLr: 'initialLr', endLr: 'minLr', startMomentum: 'maxMomentum', endMomentum: 'maxMomentum' },
      ];
    }
    return [
      { endStep: up, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
      { endStep: n - 1, startLr: 'maxLr', endLr: 'minLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
    ];
  }

  /** From start to end as pct goes from 0 to 1, along a half cosine or a line. */
  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'linear') return (end - start) * pct + start;
    return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  }

  protected override getLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) {
      throw new ValueError('OneCycleLR.step', `tried to step ${stepNum + 1} times; the specified number of total steps is ${this.totalSteps}`);
    }
    const phases = this.phases();
    return this.optimizer.paramGroups.map((g) => {
      let startStep = 0;
      let lr = 0;
      for (const [i, phase] of phases.entries()) {
        if (stepNum <= phase.endStep || i === phases.length - 1) {
          const pct = (stepNum - startStep) / (phase.endStep - startStep);
          lr = this.anneal(g[phase.startLr] as number, g[phase.endLr] as number, pct);
          if (this.cycleMomentum) setMomentum(g, this.useBeta1 ? 'betas' : 'momentum', this.anneal(g[phase.startMomentum] as number, g[phase.endMomentum] as number, pct));
          break;
        }
        startStep = phase.endStep;
      }
      return lr;
    });
  }
}

/** CyclicLR's options (PyTorch's, in camelCase). Example: `{ stepSizeUp: 200, mode: 'exp_range', gamma: 0.99 }`. */
export interface CyclicLROptions {
  /** Steps of the increasing half of a cycle (default 2000). */
  stepSizeUp?: number;
  /** Steps of the decreasing half (default stepSizeUp). */
  stepSizeDown?: number | null;
  /** 'triangular' (default), 'triangular2' (amplitude halves each cycle) or 'exp_range' (scaled by gamma^step). */
  mode?: 'triangular' | 'triangular2' | 'exp_range';
  /** The base of exp_range's scaling (default 1). */
  gamma?: number;
  /** A custom amplitude scaling of the cycle number or step (overrides mode). */
  scaleFn?: ((x: number) => number) | null;
  /** What scaleFn takes: the cycle number ('cycle', default) or the step ('iterations'). */
  scaleMode?: 'cycle' | 'iterations';
  /** Cycle momentum (or beta1) inversely to the lr (default true). */
  cycleMomentum?: boolean;
  baseMomentum?: number | number[];
  maxMomentum?: number | number[];
  lastEpoch?: number;
}

/**
 * Cyclical learning rates: the lr moves between baseLr and maxLr in triangles of stepSizeUp +
 * stepSizeDown steps, with the amplitude scaled by the mode; step once per batch.
 * Example: `new fm.optim.lrScheduler.CyclicLR(opt, 0.001, 0.1, { stepSizeUp: 200, mode: 'triangular2' })`.
 */
export class CyclicLR extends LRScheduler {
  maxLrs: number[];
  totalSize: number;
  stepRatio: number;
  mode: string;
  gamma: number;
  scaleFn: ((x: number) => number) | null;
  scaleMode: 'cycle' | 'iterations';
  cycleMomentum: boolean;
  useBeta1: boolean;
  baseMomentums: number[];
  maxMomentums: number[];
  constructor(optimizer: Optimizer, baseLr: number | number[], maxLr: number | number[], opts: CyclicLROptions = {}) {
    const { stepSizeUp = 2000, stepSizeDown = null, mode = 'triangular', gamma = 1, scaleFn = null, scaleMode = 'cycle', cycleMomentum = true } = opts;
    const { baseMomentum = 0.8, maxMomentum = 0.9, lastEpoch = -1 } = opts;
    super(optimizer, lastEpoch);
    const op = 'CyclicLR';
    const baseLrs = perGroup(op, 'baseLr', optimizer, baseLr);
    if (lastEpoch === -1) optimizer.paramGroups.forEach((g, i) => (g.lr = baseLrs[i]!));
    this.maxLrs = perGroup(op, 'maxLr', optimizer, maxLr);
    const down = stepSizeDown ?? stepSizeUp;
    if (!(stepSizeUp > 0 && down > 0)) throw new ValueError(op, `expected stepSizeUp and stepSizeDown > 0, got ${stepSizeUp} and ${down}`);
    this.totalSize = stepSizeUp + down;
    this.stepRatio = stepSizeUp / this.totalSize;
    if (scaleFn === null) checkOneOf(op, 'mode', mode, ['triangular', 'triangular2', 'exp_range']);
    this.mode = mode;
    this.gamma = gamma;
    this.scaleFn = scaleFn;
    this.scaleMode = scaleFn === null ? (mode === 'exp_range' ? 'iterations' : 'cycle') : scaleMode;
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = false;
    this.baseMomentums = [];
    this.maxMomentums = [];
    if (cycleMomentum) {
      const kind = momentumKind(op, optimizer);
      this.useBeta1 = kind === 'betas';
      this.baseMomentums = perGroup(op, 'baseMomentum', optimizer, baseMomentum);
      this.maxMomentums = perGroup(op, 'maxMomentum', optimizer, maxMomentum);
      if (lastEpoch === -1) {
        optimizer.paramGroups.forEach((g, i) => {
          setMomentum(g, kind, this.maxMomentums[i]!);
          g.maxMomentum = this.maxMomentums[i]!;
          g.baseMomentum = this.baseMomentums[i]!;
        });
      }
    }
    this.init();
    this.baseLrs = baseLrs;
  }

  protected override transientKeys(): string[] {
    return [...super.transientKeys(), 'scaleFn'];
  }

  /** The amplitude's scale at cycle number or step x. */
  private scale(x: number): number {
    if (this.scaleFn !== null) return this.scaleFn(x);
    if (this.mode === 'triangular2') return 1 / 2 ** (x - 1);
    if (this.mode === 'exp_range') return this.gamma ** x;
    return 1;
  }

  protected override getLr(): number[] {
    const cycle = Math.floor(1 + this.lastEpoch / this.totalSize);
    const x = 1 + this.lastEpoch / this.totalSize - cycle;
    const scaleFactor = x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
    const s = this.scale(this.scaleMode === 'cycle' ? cycle : this.lastEpoch);
    const lrs = this.baseLrs.map((base, i) => base + (this.maxLrs[i]! - base) * scaleFactor * s);
    if (this.cycleMomentum) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const [lo, hi] = [this.baseMomentums[i]!, this.maxMomentums[i]!];
        setMomentum(g, this.useBeta1 ? 'betas' : 'momentum', hi - (hi - lo) * scaleFactor * s);
      });
    }
    return lrs;
  }
}
