// Schedules given by user functions of the epoch: LambdaLR (a factor of the initial lr) and
// MultiplicativeLR (a factor of the current lr).
import { ValueError } from '../../errors.js';
import type { Optimizer } from '../optimizer.js';
import { LRScheduler } from './scheduler.js';

/** A function of the epoch giving a learning-rate factor. Example: `(epoch) => 0.95 ** epoch`. */
export type LrLambda = (epoch: number) => number;

/** One function per group, from one function for all or an array with one per group. */
function lambdasFor(op: string, optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[]): LrLambda[] {
  const n = optimizer.paramGroups.length;
  if (!Array.isArray(lrLambda)) {
    if (typeof lrLambda !== 'function') throw new ValueError(op, `lrLambda must be a function or an array of functions, got ${typeof lrLambda}`);
    return new Array<LrLambda>(n).fill(lrLambda as LrLambda);
  }
  if (lrLambda.length !== n) throw new ValueError(op, `expected ${n} lrLambdas (one per parameter group), but got ${lrLambda.length}`);
  return [...(lrLambda as readonly LrLambda[])];
}

/** A schedule of user functions, one per group (functions are not state: stateDict leaves them out). */
abstract class LambdaScheduler extends LRScheduler {
  lrLambdas: LrLambda[];
  constructor(optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[], lastEpoch: number) {
    super(optimizer, lastEpoch);
    this.lrLambdas = lambdasFor(new.target.name, optimizer, lrLambda);
    this.init();
  }
  protected override transientKeys(): string[] {
    return [...super.transientKeys(), 'lrLambdas'];
  }
}

/**
 * Sets each group's lr to its initial lr times lrLambda(epoch).
 * Example: `new fm.optim.lrScheduler.LambdaLR(opt, (epoch) => 0.95 ** epoch)`.
 */
export class LambdaLR extends LambdaScheduler {
  constructor(optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[], { lastEpoch = -1 }: { lastEpoch?: number } = {}) {
    super(optimizer, lrLambda, lastEpoch);
  }
  protected override getLr(): number[] {
    return this.baseLrs.map((b, i) => b * this.lrLambdas[i]!(this.lastEpoch));
  }
}

/**
 * Multiplies each group's lr by lrLambda(epoch) every epoch after the first.
 * Example: `new fm.optim.lrScheduler.MultiplicativeLR(opt, () => 0.95)`.
 */
export class MultiplicativeLR extends LambdaScheduler {
  constructor(optimizer: Optimizer, lrLambda: LrLambda | readonly LrLambda[], { lastEpoch = -1 }: { lastEpoch?: number } = {}) {
    super(optimizer, lrLambda, lastEpoch);
  }
  protected override getLr(): number[] {
    if (this.lastEpoch <= 0) return this.groupLrs();
    return this.groupLrs().map((lr, i) => lr * this.lrLambdas[i]!(this.lastEpoch));
  }
}
