// The base of the learning-rate schedulers (PyTorch's LRScheduler): the epoch counter, the
// groups' initial learning rates, step, and state dicts in PyTorch's names.
import { ValueError } from '../../errors.js';
import { Optimizer } from '../optimizer.js';
import { copyPlain } from '../state_dict.js';
import { describe } from '../validate.js';
import { fromPyName, toPyName } from '../names.js';

/** A scheduler's state: its fields in PyTorch's names. Example: `{ last_epoch: 3, base_lrs: [0.1], gamma: 0.5, ... }`. */
export type SchedulerStateDict = Record<string, unknown>;

/** Keys of PyTorch's scheduler state dicts that Fiamma keeps elsewhere or not at all: loading skips them. */
const pytorchOnly = new Set(['verbose', '_get_lr_called_within_step', 'lr_lambdas', '_scale_fn_ref', '_scale_fn_custom', 'anneal_func', '_anneal_func_type', '_schedule_phases', 'mode_worse']);

/** The state of a scheduler object: its own fields but `transient` ones and functions, in PyTorch's names. Example: `schedulerState(this, ['optimizer'])`. */
export function schedulerState(obj: object, transient: readonly string[]): SchedulerStateDict {
  const out: SchedulerStateDict = {};
  for (const [k, v] of Object.entries(obj)) {
    if (transient.includes(k) || typeof v === 'function') continue;
    out[toPyName(k)] = copyPlain(v);
  }
  return out;
}

/** Sets a scheduler object's fields from a state dict; raises on keys it does not have. Example: `loadSchedulerState(this, sd, ['optimizer'], op)`. */
export function loadSchedulerState(obj: object, sd: SchedulerStateDict, transient: readonly string[], op: string): void {
  if (sd === null || typeof sd !== 'object' || Array.isArray(sd)) throw new ValueError(op, `expected a scheduler state dict (an object), got ${describe(sd)}`);
  const fields = obj as Record<string, unknown>;
  for (const [k, v] of Object.entries(sd)) {
    const name = fromPyName(k);
    if (transient.includes(name) || pytorchOnly.has(k)) continue;
    if (!(name in fields) || typeof fields[name] === 'function') throw new ValueError(op, `unknown key '${k}' in the state dict: this ${obj.constructor.name} has no field ${name}`);
    fields[name] = copyPlain(v);
  }
}

/** One value per parameter group: a number for all, or an array with one per group. Example: `perGroup(op, 'maxLr', opt, 0.1)`. */
export function perGroup(op: string, name: string, optimizer: Optimizer, value: number | readonly number[]): number[] {
  const n = optimizer.paramGroups.length;
  if (typeof value === 'number') return new Array<number>(n).fill(value);
  if (!Array.isArray(value) || value.length !== n) throw new ValueError(op, `expected ${n} values for ${name} (one per parameter group), got ${Array.isArray(value) ? value.length : describe(value)}`);
  return [...value];
}

/**
 * The base of the schedulers. A subclass sets its fields, then calls `init()`, which records
 * each group's `initialLr` and takes the initial step (epoch 0); each `step()` after
 * `optimizer.step()` moves to the next epoch and sets the groups' `lr` from `getLr()`.
 * Example: `const sched = new fm.optim.lrScheduler.StepLR(opt, 30); for (...) { train(); sched.step(); }`.
 */
export abstract class LRScheduler {
  /** The optimizer whose groups' `lr` this scheduler sets. */
  readonly optimizer: Optimizer;
  /** The epoch (number of steps) the current learning rates belong to; -1 before the initial step. */
  lastEpoch: number;
  /** The groups' initial learning rates (`initialLr`). */
  baseLrs: number[] = [];
  /** How many times step() ran (PyTorch's `_step_count`). */
  protected stepCount = 0;
  /** The learning rates the last step set. */
  protected lastLr: number[] = [];

  constructor(optimizer: Optimizer, lastEpoch = -1) {
    if (!(optimizer instanceof Optimizer)) throw new ValueError(new.target.name, `${describe(optimizer)} is not an Optimizer`);
    this.optimizer = optimizer;
    this.lastEpoch = lastEpoch;
  }

  /** Fields that are not state (functions, other objects): left out of stateDict. */
  protected transientKeys(): string[] {
    return ['optimizer'];
  }

  /** Records initialLr in the groups (or checks it is there when resuming), then takes the initial step. */
  protected init(): void {
    const op = this.constructor.name;
    const groups = this.optimizer.paramGroups;
    groups.forEach((g, i) => {
      if (this.lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined) throw new ValueError(op, `initialLr is not set in paramGroups[${i}]: resuming (lastEpoch ${this.lastEpoch}) needs the groups of the run it resumes`);
    });
    this.baseLrs = groups.map((g) => g.initialLr!);
    this.initialStep();
  }

  /** Takes the step to epoch lastEpoch + 1 that construction takes (SequentialLR calls it on its first scheduler). Example: `sched.initialStep()`. */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The learning rates of this scheduler's next step, one per group (PyTorch's chainable form). */
  protected abstract getLr(): number[];

  /** The learning rates at lastEpoch computed from the start, where the schedule has such a form. */
  protected closedFormLr?(): number[];

  /** The groups' current learning rates. */
  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /**
   * Moves to the next epoch and sets each group's lr. Given an epoch (PyTorch's deprecated form),
   * jumps there, using the closed form where the schedule has one.
   * Example: `sched.step()`.
   */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr?.() ?? this.getLr();
    }
    this.setLrs(values);
  }

  /** Sets the groups' lr and remembers them for getLastLr. */
  protected setLrs(values: readonly number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = values[i]!;
    });
    this.lastLr = this.groupLrs();
  }

  /** The learning rates the last step set, one per group. Example: `sched.getLastLr()[0]`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's state (its fields, in PyTorch's names). Example: `const sd = sched.stateDict()`. */
  stateDict(): SchedulerStateDict {
    return schedulerState(this, this.transientKeys());
  }

  /** Restores a state made by stateDict. Example: `sched.loadStateDict(sd)`. */
  loadStateDict(stateDict: SchedulerStateDict): void {
    loadSchedulerState(this, stateDict, this.transientKeys(), `${this.constructor.name}.loadStateDict`);
  }
}
