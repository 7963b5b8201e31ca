// Linear layers and the shape-only ones: Identity, Linear, Bilinear, Flatten, Unflatten.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { pyBool, pyTuple } from './repr.js';

export interface FactoryOptions {
  dtype?: fm.DType;
  device?: fm.DeviceLike;
}

/** Passes its input through. */
export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }
}

/** y = x W^T + b with W [outFeatures, inFeatures], initialised as PyTorch's. Example: `new nn.Linear(784, 10)`. */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: FactoryOptions & { bias?: boolean } = {}) {
    super();
    this.weight = Parameter(fm.empty([outFeatures, inFeatures], opts));
    this.bias = opts.bias === false ? null : Parameter(fm.empty([outFeatures], opts));
    this.resetParameters();
  }
  /** kaiming_uniform(a = sqrt(5)) for the weight, U(-1/sqrt(in), 1/sqrt(in)) for the bias. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const b = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform_(this.bias, -b, b);
    }
  }
  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** y = x1^T W x2 + b with W [out, in1, in2]. */
export class Bilinear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly in1Features: number, readonly in2Features: number, readonly outFeatures: number, opts: FactoryOptions & { bias?: boolean } = {}) {
    super();
    this.weight = Parameter(fm.empty([outFeatures, in1Features, in2Features], opts));
    this.bias = opts.bias === false ? null : Parameter(fm.empty([outFeatures], opts));
    const b = 1 / Math.sqrt(in1Features);
    init.uniform_(this.weight, -b, b);
    if (this.bias) init.uniform_(this.bias, -b, b);
  }
  override forward(x1: Tensor, x2: Tensor): Tensor {
    return F.bilinear(x1, x2, this.weight, this.bias);
  }
  override extraRepr(): string {
    return `in1_features=${this.in1Features}, in2_features=${this.in2Features}, out_features=${this.outFeatures}, bias=${pyBool(this.bias !== null)}`;
  }
}

/** Flattens dims startDim..endDim (default 1..-1). */
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** Splits dim into the given sizes. */
export class Unflatten extends Module {
  constructor(readonly dim: number, readonly unflattenedSize: readonly number[]) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.unflatten(this.dim, this.unflattenedSize);
  }
  override extraRepr(): string {
    return `dim=${this.dim}, unflattened_size=${pyTuple(this.unflattenedSize)}`;
  }
}
