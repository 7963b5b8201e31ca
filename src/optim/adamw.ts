// AdamW: Adam with decoupled weight decay (the parameters shrink by lr * weightDecay each step).
import { type Params } from './optimizer.js';
import { definedOptions } from './validate.js';
import { Adam, type AdamOptions } from './adam.js';

/**
 * AdamW (Loshchilov & Hutter): p *= 1 - lr * weightDecay, then Adam's update without the L2
 * term in the gradient. Options as Adam's; weightDecay defaults to 1e-2.
 * Example: `const opt = new fm.optim.AdamW(params, { lr: 1e-3, weightDecay: 0.05 })`.
 */
export class AdamW extends Adam {
  protected override readonly decoupledWeightDecay: boolean = true;

  constructor(params: Params<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, { weightDecay: 1e-2, ...definedOptions(options) });
  }
}
