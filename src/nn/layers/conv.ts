// Convolutions: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, with PyTorch's parameter
// layouts ([out, in / groups, ...kernel] and [in, out / groups, ...kernel]) and initialisation.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { ValueError } from '../../errors.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import * as init from '../init.js';
import { ntuple, pyTuple } from './repr.js';
import type { FactoryOptions } from './linear.js';

export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

export interface ConvLayerOptions extends FactoryOptions {
  stride?: number | number[];
  padding?: number | number[] | 'valid' | 'same';
  dilation?: number | number[];
  groups?: number;
  bias?: boolean;
  paddingMode?: PaddingMode;
}

abstract class ConvNd extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[] | 'valid' | 'same';
  readonly dilation: number[];
  readonly groups: number;
  readonly paddingMode: PaddingMode;
  readonly outputPadding: number[];

  constructor(readonly k: number, readonly inChannels: number, readonly outChannels: number, kernelSize: number | number[], readonly transposed: boolean, opts: ConvLayerOptions & { outputPadding?: number | number[] }) {
    super();
    const name = this.constructor.name;
    this.kernelSize = ntuple(kernelSize, k);
    this.stride = ntuple(opts.stride ?? 1, k);
    this.padding = typeof opts.padding === 'string' ? opts.padding : ntuple(opts.padding ?? 0, k);
    this.dilation = ntuple(opts.dilation ?? 1, k);
    this.outputPadding = ntuple(opts.outputPadding ?? 0, k);
    this.groups = opts.groups ?? 1;
    this.paddingMode = opts.paddingMode ?? 'zeros';
    if (typeof this.padding === 'string' && this.padding !== 'same' && this.padding !== 'valid') throw new ValueError(name, `invalid padding string '${this.padding}', should be 'valid' or 'same'`);
    if (!['zeros', 'reflect', 'replicate', 'circular'].includes(this.paddingMode)) throw new ValueError(name, `paddingMode must be 'zeros', 'reflect', 'replicate' or 'circular', got '${String(this.paddingMode)}'`);
    if (!Number.isInteger(this.groups) || this.groups < 1) throw new ValueError(name, `groups must be a positive integer, got ${this.groups}`);
    if (inChannels % this.groups !== 0) throw new ValueError(name, `inChannels (${inChannels}) must be divisible by groups (${this.groups})`);
    if (outChannels % this.groups !== 0) throw new ValueError(name, `outChannels (${outChannels}) must be divisible by groups (${this.groups})`);
    if (this.padding === 'same' && this.stride.some((s) => s !== 1)) throw new ValueError(name, "padding='same' is not supported for strided convolutions");
    const shape = transposed ? [inChannels, outChannels / this.groups, ...this.kernelSize] : [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = Parameter(fm.empty(shape, opts));
    this.bias = opts.bias === false ? null : Parameter(fm.empty([outChannels], opts));
    this.resetParameters();
  }

  /** kaiming_uniform(a = sqrt(5)) for the weight; U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for the bias. */
  resetParameters(): void {
    init.kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = init.calculateFanInAndFanOut(this.weight);
      const b = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform_(this.bias, -b, b);
    }
  }

  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pyTuple(this.kernelSize)}, stride=${pyTuple(this.stride)}`;
    if (typeof this.padding === 'string') s += `, padding=${this.padding}`;
    else if (this.padding.some((p) => p !== 0)) s += `, padding=${pyTuple(this.padding)}`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=${pyTuple(this.dilation)}`;
    if (this.outputPadding.some((d) => d !== 0)) s += `, output_padding=${pyTuple(this.outputPadding)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=False';
    if (this.paddingMode !== 'zeros') s += `, padding_mode=${this.paddingMode}`;
    return s;
  }

  /** Input padded by the padding mode (non-zero modes pad here and convolve with padding 0). */
  protected padded(x: Tensor): [Tensor, number | number[] | 'valid' | 'same'] {
    if (this.paddingMode === 'zeros' || this.padding === 'valid') return [x, this.padding];
    const amounts = this.padding === 'same'
      ? this.kernelSize.map((kk, i) => this.dilation[i]! * (kk - 1))
      : this.padding.map((p) => 2 * p);
    const pads = [...amounts].reverse().flatMap((total) => [Math.floor(total / 2), total - Math.floor(total / 2)]);
    return [F.pad(x, pads, this.paddingMode), 0];
  }
}

/** 1-D convolution over [N, C, L]. Example: `new nn.Conv1d(16, 32, 3, { padding: 1 })`. */
export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], opts: ConvLayerOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, false, opts);
  }
  override forward(x: Tensor): Tensor {
    const [xp, padding] = this.padded(x);
    return F.conv1d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

/** 2-D convolution over [N, C, H, W]. Example: `new nn.Conv2d(1, 32, 3, { padding: 'same' })`. */
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], opts: ConvLayerOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, false, opts);
  }
  override forward(x: Tensor): Tensor {
    const [xp, padding] = this.padded(x);
    return F.conv2d(xp, this.weight, this.bias, { stride: this.stride, padding, dilation: this.dilation, groups: this.groups });
  }
}

export interface ConvTransposeLayerOptions extends FactoryOptions {
  stride?: number | number[];
  padding?: number | number[];
  outputPadding?: number | number[];
  dilation?: number | number[];
  groups?: number;
  bias?: boolean;
}

/** 1-D transposed convolution. */
export class ConvTranspose1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], opts: ConvTransposeLayerOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, true, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.convTranspose1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding as number[], outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups });
  }
}

/** 2-D transposed convolution. Example: `new nn.ConvTranspose2d(32, 16, 2, { stride: 2 })`. */
export class ConvTranspose2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: number | number[], opts: ConvTransposeLayerOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, true, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding as number[], outputPadding: this.outputPadding, dilation: this.dilation, groups: this.groups });
  }
}
