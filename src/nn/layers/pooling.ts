// Pooling layers: max and average over windows, and adaptive pooling to a fixed output size.
import type { Tensor } from '../../tensor/tensor.js';
import { ValueError } from '../../errors.js';
import { Module } from '../module.js';
import * as F from '../functional.js';
import { pyBool, pyTuple } from './repr.js';

type Size = number | number[];
const show = (v: Size) => (typeof v === 'number' ? String(v) : `(${v.join(', ')})`);

export interface MaxPoolOptions {
  stride?: Size | null;
  padding?: Size;
  dilation?: Size;
  ceilMode?: boolean;
  returnIndices?: false;
}

abstract class MaxPoolNd extends Module {
  readonly stride: Size;
  readonly padding: Size;
  readonly dilation: Size;
  readonly ceilMode: boolean;
  constructor(readonly kernelSize: Size, opts: MaxPoolOptions) {
    super();
    if ((opts as { returnIndices?: boolean }).returnIndices) throw new ValueError(this.constructor.name, 'returnIndices is not supported yet');
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.ceilMode = opts.ceilMode ?? false;
  }
  protected get opts() {
    return { stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode };
  }
  override extraRepr(): string {
    return `kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)}, dilation=${show(this.dilation)}, ceil_mode=${pyBool(this.ceilMode)}`;
  }
}

/** Max over windows of [N, C, L]. */
export class MaxPool1d extends MaxPoolNd {
  constructor(kernelSize: Size, opts: MaxPoolOptions = {}) {
    super(kernelSize, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.maxPool1d(x, this.kernelSize, this.opts);
  }
}
/** Max over windows of [N, C, H, W]. Example: `new nn.MaxPool2d(2)`. */
export class MaxPool2d extends MaxPoolNd {
  constructor(kernelSize: Size, opts: MaxPoolOptions = {}) {
    super(kernelSize, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.opts);
  }
}

export interface AvgPoolOptions {
  stride?: Size | null;
  padding?: Size;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}
abstract class AvgPoolNd extends Module {
  readonly stride: Size;
  readonly padding: Size;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride?: number;
  constructor(readonly kernelSize: Size, opts: AvgPoolOptions) {
    super();
    this.stride = opts.stride ?? kernelSize;
    this.padding = opts.padding ?? 0;
    this.ceilMode = opts.ceilMode ?? false;
    this.countIncludePad = opts.countIncludePad ?? true;
    this.divisorOverride = opts.divisorOverride;
  }
  protected get opts() {
    return { stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad, divisorOverride: this.divisorOverride };
  }
  override extraRepr(): string {
    return `kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)}`;
  }
}
/** Mean over windows of [N, C, L]. */
export class AvgPool1d extends AvgPoolNd {
  constructor(kernelSize: Size, opts: AvgPoolOptions = {}) {
    super(kernelSize, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.avgPool1d(x, this.kernelSize, this.opts);
  }
  /** PyTorch's AvgPool1d (unlike the others) stores its sizes as 1-tuples, and prints them so. */
  override extraRepr(): string {
    const one = (v: Size) => pyTuple(typeof v === 'number' ? [v] : v);
    return `kernel_size=${one(this.kernelSize)}, stride=${one(this.stride)}, padding=${one(this.padding)}`;
  }
}
/** Mean over windows of [N, C, H, W]. */
export class AvgPool2d extends AvgPoolNd {
  constructor(kernelSize: Size, opts: AvgPoolOptions = {}) {
    super(kernelSize, opts);
  }
  override forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
}

type OutSize = number | (number | null)[];
const showOut = (v: OutSize) => (typeof v === 'number' ? String(v) : `(${v.map((s) => (s === null ? 'None' : s)).join(', ')})`);

/** Average pooling to a fixed length. */
export class AdaptiveAvgPool1d extends Module {
  constructor(readonly outputSize: number) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool1d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${this.outputSize}`;
  }
}
/** Average pooling to a fixed size. Example: `new nn.AdaptiveAvgPool2d([1, 1])`. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: OutSize) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${showOut(this.outputSize)}`;
  }
}
/** Max pooling to a fixed length. */
export class AdaptiveMaxPool1d extends Module {
  constructor(readonly outputSize: number) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool1d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${this.outputSize}`;
  }
}
/** Max pooling to a fixed size. */
export class AdaptiveMaxPool2d extends Module {
  constructor(readonly outputSize: OutSize) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool2d(x, this.outputSize);
  }
  override extraRepr(): string {
    return `output_size=${showOut(this.outputSize)}`;
  }
}
