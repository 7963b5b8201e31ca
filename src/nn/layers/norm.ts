// Normalisation layers: BatchNorm1d/2d (running statistics, momentum, eval mode), LayerNorm,
// GroupNorm, RMSNorm, InstanceNorm1d/2d.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ShapeError } from '../../errors.js';
import { noGrad } from '../../autograd/grad_mode.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import { pyBool, pyFloat, pyTuple } from './repr.js';
import type { FactoryOptions } from './linear.js';

/** A buffer registered under PyTorch's snake_case name. */
function buffer(m: Module, name: string): Tensor | null {
  return ((m as unknown as Record<string, Tensor | null>)[name]) ?? null;
}

export interface BatchNormOptions extends FactoryOptions {
  eps?: number;
  /** null: a cumulative moving average (as PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  constructor(readonly numFeatures: number, opts: BatchNormOptions, private readonly dims: number[]) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.weight = this.affine ? Parameter(fm.ones([numFeatures], opts)) : null;
    this.bias = this.affine ? Parameter(fm.zeros([numFeatures], opts)) : null;
    // Buffers under PyTorch's names, so that state dicts match key for key.
    this.registerBuffer('running_mean', this.trackRunningStats ? fm.zeros([numFeatures], opts) : null);
    this.registerBuffer('running_var', this.trackRunningStats ? fm.ones([numFeatures], opts) : null);
    this.registerBuffer('num_batches_tracked', this.trackRunningStats ? fm.zeros([], { dtype: 'int64', device: opts.device }) : null);
  }
  get runningMean(): Tensor | null {
    return buffer(this, 'running_mean');
  }
  get runningVar(): Tensor | null {
    return buffer(this, 'running_var');
  }
  get numBatchesTracked(): Tensor | null {
    return buffer(this, 'num_batches_tracked');
  }
  override forward(x: Tensor): Tensor {
    if (!this.dims.includes(x.ndim)) throw new ShapeError(this.constructor.name, `expected ${this.dims.map((d) => `${d}D`).join(' or ')} input, got ${x.ndim}D input of shape ${JSON.stringify(x.shape)}`);
    let momentum = this.momentum ?? 0;
    const useBatch = this.training || this.runningMean === null;
    if (this.training && this.trackRunningStats && this.numBatchesTracked) {
      noGrad(() => this.numBatchesTracked!.add_(1));
      if (this.momentum === null) momentum = 1 / this.numBatchesTracked.item();
    }
    return F.batchNorm(x, !useBatch || this.training ? this.runningMean : null, !useBatch || this.training ? this.runningVar : null,
      { weight: this.weight, bias: this.bias, training: useBatch, momentum, eps: this.eps });
  }
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${this.momentum === null ? 'None' : pyFloat(this.momentum)}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

/** Batch norm over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [2, 3]);
  }
}
/** Batch norm over [N, C, H, W]. Example: `new nn.BatchNorm2d(32)`. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts, [4]);
  }
}

/** Layer norm over the last dims. Example: `new nn.LayerNorm([512])`. */
export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  constructor(normalizedShape: number | number[], opts: FactoryOptions & { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    this.weight = this.elementwiseAffine ? Parameter(fm.ones(this.normalizedShape, opts)) : null;
    this.bias = this.elementwiseAffine && opts.bias !== false ? Parameter(fm.zeros(this.normalizedShape, opts)) : null;
  }
  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${pyFloat(this.eps)}, elementwise_affine=${pyBool(this.elementwiseAffine)}`;
  }
}

/** RMS norm over the last dims. */
export class RMSNorm extends Module {
  weight: Tensor | null;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | number[], readonly opts: FactoryOptions & { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    this.weight = opts.elementwiseAffine === false ? null : Parameter(fm.ones(this.normalizedShape, opts));
  }
  override forward(x: Tensor): Tensor {
    return F.rmsNorm(x, this.normalizedShape, this.weight, this.opts.eps);
  }
  override extraRepr(): string {
    return `${pyTuple(this.normalizedShape)}, eps=${this.opts.eps === undefined ? 'None' : pyFloat(this.opts.eps)}, elementwise_affine=${pyBool(this.weight !== null)}`;
  }
}

/** Group norm: channels in numGroups groups. */
export class GroupNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  constructor(readonly numGroups: number, readonly numChannels: number, opts: FactoryOptions & { eps?: number; affine?: boolean } = {}) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.weight = opts.affine === false ? null : Parameter(fm.ones([numChannels], opts));
    this.bias = opts.affine === false ? null : Parameter(fm.zeros([numChannels], opts));
  }
  override forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${pyFloat(this.eps)}, affine=${pyBool(this.weight !== null)}`;
  }
}

abstract class InstanceNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  constructor(readonly numFeatures: number, opts: FactoryOptions & { eps?: number; momentum?: number; affine?: boolean; trackRunningStats?: boolean }) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.weight = opts.affine ? Parameter(fm.ones([numFeatures], opts)) : null;
    this.bias = opts.affine ? Parameter(fm.zeros([numFeatures], opts)) : null;
    this.registerBuffer('running_mean', opts.trackRunningStats ? fm.zeros([numFeatures], opts) : null);
    this.registerBuffer('running_var', opts.trackRunningStats ? fm.ones([numFeatures], opts) : null);
  }
  get runningMean(): Tensor | null {
    return buffer(this, 'running_mean');
  }
  get runningVar(): Tensor | null {
    return buffer(this, 'running_var');
  }
  override forward(x: Tensor): Tensor {
    const useInputStats = this.training || this.runningMean === null;
    return F.instanceNorm(x, { runningMean: this.runningMean, runningVar: this.runningVar, weight: this.weight, bias: this.bias, useInputStats, momentum: this.momentum, eps: this.eps });
  }
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${pyFloat(this.momentum)}, affine=${pyBool(this.weight !== null)}, track_running_stats=${pyBool(this.runningMean !== null)}`;
  }
}
/** Instance norm over [N, C, L]. */
export class InstanceNorm1d extends InstanceNormBase {}
/** Instance norm over [N, C, H, W]. */
export class InstanceNorm2d extends InstanceNormBase {}
