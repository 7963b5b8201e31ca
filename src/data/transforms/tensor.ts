// Transforms from images to tensors and on tensor values: ToTensor and Normalize.
import { Tensor } from '../../tensor/tensor.js';
import { DTypeError, ShapeError, ValueError } from '../../errors.js';
import { isFloating } from '../../dtype.js';
import { fromValues, tensor } from '../../functional/creation.js';
import { Device } from '../../device.js';
import { fmtShape } from '../../tensor/shape.js';
import { BuiltinTransform } from './transform.js';

/**
 * A decoded image: `height * width * channels` values in HWC order (row by row, each pixel's
 * channels together, as image decoders give them), bytes 0..255 or floats.
 * Example: `{ data: new Uint8Array(4 * 4 * 3), height: 4, width: 4, channels: 3 }`.
 */
export interface Image {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
}

/**
 * An image to a CHW tensor, as torchvision's ToTensor: an `Image` of bytes becomes float32 in
 * [0, 1] (divided by 255), one of floats keeps its values; an HWC tensor (or HW, for one channel)
 * is permuted to CHW, divided by 255 when uint8.
 * Example: `new fm.data.transforms.ToTensor().forward({ data, height: 28, width: 28, channels: 1 })` is `[1, 28, 28]`.
 */
export class ToTensor extends BuiltinTransform<Image | Tensor, Tensor> {
  forward(pic: Image | Tensor): Tensor {
    if (pic instanceof Tensor) {
      if (pic.ndim !== 2 && pic.ndim !== 3) throw new ShapeError('ToTensor', `expected an HWC or HW tensor, got shape ${fmtShape(pic.shape)}`);
      const chw = pic.ndim === 2 ? pic.unsqueeze(0) : pic.permute([2, 0, 1]);
      return pic.dtype === 'uint8' ? chw.float().div(255) : chw.contiguous();
    }
    const { data, height: h, width: w, channels: c } = (pic ?? {}) as Partial<Image>;
    if (!(data instanceof Uint8Array || data instanceof Float32Array)) {
      throw new ValueError('ToTensor', 'pic should be an Image ({ data: Uint8Array | Float32Array, height, width, channels }) or an HWC tensor');
    }
    if (![h, w, c].every((n) => Number.isInteger(n) && n! > 0)) throw new ValueError('ToTensor', `height, width and channels must be positive integers, got ${h}, ${w}, ${c}`);
    const hw = h! * w!;
    if (data.length !== hw * c!) throw new ShapeError('ToTensor', `an image of ${h}x${w}x${c} needs ${hw * c!} values, got ${data.length}`);
    const out = new Float32Array(data.length);
    const scale = data instanceof Uint8Array ? 1 / 255 : 1;
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c!; ch++) out[ch * hw + p] = data[p * c! + ch]! * scale;
    return fromValues(out, [c!, h!, w!], 'float32', Device.of('cpu'));
  }
  protected specArgs(): unknown[] {
    return [];
  }
}

/**
 * (x - mean[c]) / std[c] for each channel c of a float [..., C, H, W] tensor, as torchvision's
 * Normalize. A single number serves every channel.
 * Example: `new fm.data.transforms.Normalize([0.1307], [0.3081]).forward(img)`.
 */
export class Normalize extends BuiltinTransform {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly inplace: boolean;
  constructor(mean: number | readonly number[], std: number | readonly number[], opts: { inplace?: boolean } = {}) {
    super();
    this.mean = typeof mean === 'number' ? [mean] : [...mean];
    this.std = typeof std === 'number' ? [std] : [...std];
    this.inplace = opts.inplace ?? false;
    if (this.mean.length === 0 || this.std.length === 0) throw new ValueError('Normalize', 'mean and std must not be empty');
    if (this.std.some((s) => s === 0)) throw new ValueError('Normalize', `std evaluated to zero, leading to division by zero (std = [${this.std.join(', ')}])`);
    if (![...this.mean, ...this.std].every(Number.isFinite)) throw new ValueError('Normalize', 'mean and std must be finite numbers');
  }
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw new ValueError('Normalize', 'expected a tensor (apply ToTensor first)');
    if (!isFloating(x.dtype)) throw new DTypeError('Normalize', `input tensor should be a float tensor, got ${x.dtype}`);
    if (x.ndim < 3) throw new ShapeError('Normalize', `expected a tensor image of size [..., C, H, W], got shape ${fmtShape(x.shape)}`);
    const c = x.shape[x.ndim - 3]!;
    for (const [name, v] of [['mean', this.mean], ['std', this.std]] as const) {
      if (v.length !== 1 && v.length !== c) throw new ShapeError('Normalize', `${name} has ${v.length} values for an image of ${c} channels`);
    }
    const mean = tensor(this.mean as number[], { dtype: x.dtype, device: x.device }).view([-1, 1, 1]);
    const std = tensor(this.std as number[], { dtype: x.dtype, device: x.device }).view([-1, 1, 1]);
    return this.inplace ? x.sub_(mean).div_(std) : x.sub(mean).div(std);
  }
  protected specArgs(): unknown[] {
    return [this.mean, this.std, { inplace: this.inplace }];
  }
}
