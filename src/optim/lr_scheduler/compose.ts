// Schedulers made of schedulers: SequentialLR (one after another at milestones) and
// ChainedScheduler (all of them every step).
import { ValueError } from '../../errors.js';
import type { Optimizer } from '../optimizer.js';
import { bisectRight } from './decay.js';
import { LRScheduler, loadSchedulerState, type SchedulerStateDict } from './scheduler.js';

/** Checks a list of schedulers: non-empty, all LRSchedulers of `optimizer` (or of the first's). */
function checkSchedulers(op: string, schedulers: readonly LRScheduler[], optimizer?: Optimizer): Optimizer {
  if (!Array.isArray(schedulers) || schedulers.length === 0) throw new ValueError(op, 'expects at least one scheduler');
  const opt = optimizer ?? schedulers[0]!.optimizer;
  schedulers.forEach((s, i) => {
    if (!(s instanceof LRScheduler)) throw new ValueError(op, `schedulers[${i}] is not an LRScheduler (ReduceLROnPlateau cannot be combined)`);
    if (s.optimizer !== opt) throw new ValueError(op, `expects all schedulers to belong to the same optimizer, but schedulers[${i}] has another one`);
  });
  return opt;
}

/**
 * A scheduler made of schedulers of one optimizer: its state holds theirs (in `_schedulers`, as
 * PyTorch's), and the learning rates are whatever they set.
 */
abstract class CompositeScheduler extends LRScheduler {
  /** The schedulers it runs. */
  schedulers: LRScheduler[] = [];
  protected override transientKeys(): string[] {
    return [...super.transientKeys(), 'schedulers'];
  }
  protected override getLr(): number[] {
    return this.groupLrs();
  }
  /** Its state and its schedulers' (in `_schedulers`). Example: `const sd = sched.stateDict()`. */
  override stateDict(): SchedulerStateDict {
    return { ...super.stateDict(), _schedulers: this.schedulers.map((s) => s.stateDict()) };
  }
  /** Restores its state and its schedulers'. Example: `sched.loadStateDict(sd)`. */
  override loadStateDict(stateDict: SchedulerStateDict): void {
    const op = `${this.constructor.name}.loadStateDict`;
    loadSchedulerState(this, stateDict, this.transientKeys(), op); // `_schedulers` is `schedulers`: skipped
    const children = stateDict._schedulers;
    if (!Array.isArray(children) || children.length !== this.schedulers.length) {
      throw new ValueError(op, `expected _schedulers with ${this.schedulers.length} state dicts, got ${Array.isArray(children) ? children.length : String(children)}`);
    }
    children.forEach((c, i) => this.schedulers[i]!.loadStateDict(c as SchedulerStateDict));
  }
}

/**
 * Runs schedulers one after another: schedulers[i] from milestones[i - 1] on (restarted there).
 * Example: `new fm.optim.lrScheduler.SequentialLR(opt, [warmup, cosine], [5])`.
 */
export class SequentialLR extends CompositeScheduler {
  milestones: number[];
  constructor(optimizer: Optimizer, schedulers: readonly LRScheduler[], milestones: readonly number[], { lastEpoch = -1 }: { lastEpoch?: number } = {}) {
    super(optimizer, lastEpoch);
    const op = 'SequentialLR';
    checkSchedulers(op, schedulers, optimizer);
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw new ValueError(op, `expects one milestone fewer than schedulers, but got ${schedulers.length} schedulers and ${Array.isArray(milestones) ? milestones.length : String(milestones)} milestones`);
    }
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.lastEpoch = lastEpoch + 1;
    // Back to the initial learning rates, undoing the other schedulers' initial steps.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr!;
    for (const s of this.schedulers) s.lastEpoch -= 1;
    this.schedulers[0]!.initialStep();
    this.baseLrs = this.schedulers[0]!.baseLrs;
    this.lastLr = this.schedulers[0]!.getLastLr();
  }
  /** Steps the scheduler of the current epoch (restarting it at its milestone). Example: `sched.step()`. */
  override step(): void {
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const scheduler = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) scheduler.step(0);
    else scheduler.step();
    this.lastLr = scheduler.getLastLr();
  }
}

/**
 * Steps every scheduler at each step, so their factors multiply (say a warmup and a decay).
 * Example: `new fm.optim.lrScheduler.ChainedScheduler([new ConstantLR(opt, { factor: 0.1, totalIters: 2 }), new ExponentialLR(opt, 0.9)])`.
 */
export class ChainedScheduler extends CompositeScheduler {
  constructor(schedulers: readonly LRScheduler[], optimizer?: Optimizer) {
    super(checkSchedulers('ChainedScheduler', schedulers, optimizer));
    this.schedulers = [...schedulers];
    // NOTE: PyTorch's ChainedScheduler has no epoch; this one counts its steps from 0.
    this.lastEpoch = 0;
    this.lastLr = this.groupLrs();
  }
  /** Steps every scheduler in order. Example: `sched.step()`. */
  override step(): void {
    this.lastEpoch += 1;
    for (const s of this.schedulers) s.step();
    this.lastLr = this.groupLrs();
  }
}
