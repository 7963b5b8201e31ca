// Normalisation layers: BatchNorm1d/2d (running statistics, momentum, eval mode), LayerNorm,
// GroupNorm, RMSNorm, InstanceNorm1d/2d.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ShapeError, ValueError } from '../../errors.js';
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

/**
 * What batch and instance norm share (PyTorch's _NormBase): per-channel weight and bias when
 * affine, and running statistics as buffers under PyTorch's names when tracked, so that state
 * dicts match key for key (num_batches_tracked too, though instance norm never counts).
 */
abstract class NormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  constructor(readonly numFeatures: number, opts: BatchNormOptions, defaults: { affine: boolean; trackRunningStats: boolean }) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? defaults.affine;
    this.trackRunningStats = opts.trackRunningStats ?? defaults.trackRunningStats;
    this.weight = this.affine ? Parameter(fm.ones([numFeatures], opts)) : null;
    this.bias = this.affine ? Parameter(fm.zeros([numFeatures], opts)) : null;
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
  override extraRepr(): string {
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${this.momentum === null ? 'None' : pyFloat(this.momentum)}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

abstract class BatchNormBase extends NormBase {
  constructor(numFeatures: number, opts: BatchNormOptions, private readonly dims: number[]) {
    super(numFeatures, opts, { affine: true, trackRunningStats: true });
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
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups !== 0) throw new ValueError('GroupNorm', `numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
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

export interface InstanceNormOptions extends FactoryOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
}

abstract class InstanceNormBase extends NormBase {
  /** `spatial`: the number of spatial dims (1 for [N, C, L], 2 for [N, C, H, W]); unbatched input has one dim less. */
  constructor(numFeatures: number, opts: InstanceNormOptions, private readonly spatial: number) {
    super(numFeatures, opts, { affine: false, trackRunningStats: false });
  }
  override forward(x: Tensor): Tensor {
    const k = this.spatial;
    if (x.ndim !== k + 1 && x.ndim !== k + 2) throw new ShapeError(this.constructor.name, `expected ${k + 1}D (unbatched) or ${k + 2}D input, got ${x.ndim}D input of shape ${JSON.stringify(x.shape)}`);
    const unbatched = x.ndim === k + 1;
    const useInputStats = this.training || this.runningMean === null;
    const y = F.instanceNorm(unbatched ? x.unsqueeze(0) : x, { runningMean: this.runningMean, runningVar: this.runningVar, weight: this.weight, bias: this.bias, useInputStats, momentum: this.momentum ?? 0.1, eps: this.eps });
    return unbatched ? y.squeeze(0) : y;
  }
}
/** Instance norm over [N, C, L] (or unbatched [C, L]). Example: `new nn.InstanceNorm1d(16)`. */
export class InstanceNorm1d extends InstanceNormBase {
  constructor(numFeatures: number, opts: InstanceNormOptions = {}) {
    super(numFeatures, opts, 1);
  }
}
/** Instance norm over [N, C, H, W] (or unbatched [C, H, W]). Example: `new nn.InstanceNorm2d(16, { affine: true })`. */
export class InstanceNorm2d extends InstanceNormBase {
  constructor(numFeatures: number, opts: InstanceNormOptions = {}) {
    super(numFeatures, opts, 2);
  }
}
