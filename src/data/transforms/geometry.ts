// Geometric transforms of [..., H, W] tensors, as torchvision's: crops (random and centred),
// horizontal flips and resizing (bilinear or nearest, without antialiasing).
import { Tensor } from '../../tensor/tensor.js';
import { ShapeError, ValueError } from '../../errors.js';
import { isFloating } from '../../dtype.js';
import { full, tensor } from '../../functional/creation.js';
import { defaultGenerator, rand, randint, type Generator } from '../../functional/random.js';
import { fmtShape } from '../../tensor/shape.js';
import { BuiltinTransform } from './transform.js';

/**
 * How padding fills the border: a constant, the edge pixel, or the image mirrored without the
 * edge (reflect) or with it (symmetric). Example: [1, 2, 3] padded by 2 with 'reflect' is [3, 2, 1, 2, 3, 2, 1].
 */
export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';

/** [height, width] from an int or a one- or two-element array. */
function hw(op: string, size: number | readonly number[]): [number, number] {
  const s = typeof size === 'number' ? [size, size] : size.length === 1 ? [size[0]!, size[0]!] : [...size];
  if (s.length !== 2 || !s.every((n) => Number.isInteger(n) && n > 0)) throw new ValueError(op, `size must be a positive integer or [height, width], got ${JSON.stringify(size)}`);
  return s as [number, number];
}

/** [left, top, right, bottom] from torchvision's padding forms: all sides, [left/right, top/bottom], or all four. */
function ltrb(op: string, padding: number | readonly number[]): [number, number, number, number] {
  const p = typeof padding === 'number' ? [padding, padding, padding, padding] : padding.length === 2 ? [padding[0]!, padding[1]!, padding[0]!, padding[1]!] : [...padding];
  if (p.length !== 4 || !p.every((n) => Number.isInteger(n) && n >= 0)) throw new ValueError(op, `padding must be a non-negative integer or an array of 2 or 4 of them, got ${JSON.stringify(padding)}`);
  return p as [number, number, number, number];
}

function checkImage(op: string, img: unknown): asserts img is Tensor {
  if (!(img instanceof Tensor)) throw new ValueError(op, 'expected a tensor image (apply ToTensor first)');
  if (img.ndim < 2) throw new ShapeError(op, `expected a tensor image of size [..., H, W], got shape ${fmtShape(img.shape)}`);
}

const height = (t: Tensor) => t.shape[t.ndim - 2]!;
const width = (t: Tensor) => t.shape[t.ndim - 1]!;

/** Source index of each padded position along a dim of n, for the non-constant modes. */
function padIndex(op: string, mode: Exclude<PaddingMode, 'constant'>, n: number, before: number, after: number): Tensor {
  const limit = mode === 'reflect' ? n - 1 : n;
  if (mode !== 'edge' && (before > limit || after > limit)) throw new ValueError(op, `${mode} padding of ${Math.max(before, after)} needs a dim larger than ${mode === 'reflect' ? 'it' : 'or equal to it'}, got ${n}`);
  const idx = Array.from({ length: n + before + after }, (_, k) => {
    const i = k - before;
    if (i >= 0 && i < n) return i;
    if (mode === 'edge') return i < 0 ? 0 : n - 1;
    if (mode === 'reflect') return i < 0 ? -i : 2 * (n - 1) - i;
    return i < 0 ? -i - 1 : 2 * n - 1 - i;
  });
  return tensor(idx, { dtype: 'int64' });
}

/** Pads the last two dims by [left, top, right, bottom]. */
function pad(op: string, img: Tensor, [l, t, r, b]: readonly number[], fill: number, mode: PaddingMode): Tensor {
  if (l === 0 && t === 0 && r === 0 && b === 0) return img;
  const h = height(img);
  const w = width(img);
  if (mode === 'constant') {
    const out = full([...img.shape.slice(0, -2), h + t! + b!, w + l! + r!], fill, { dtype: img.dtype, device: img.device });
    out.narrow(-2, t!, h).narrow(-1, l!, w).copy_(img);
    return out;
  }
  const rows = padIndex(op, mode, h, t!, b!).to(img.device);
  const cols = padIndex(op, mode, w, l!, r!).to(img.device);
  return img.indexSelect(-2, rows).indexSelect(-1, cols);
}

/** A [th, tw] window at (top, left): a view. */
function crop(img: Tensor, top: number, left: number, th: number, tw: number): Tensor {
  return img.narrow(-2, top, th).narrow(-1, left, tw);
}

/** Options of RandomCrop. Example: `{ padding: 4, paddingMode: 'reflect' }`. */
export interface RandomCropOptions {
  /** Padding added first: all sides, [left/right, top/bottom], or [left, top, right, bottom]. */
  padding?: number | readonly number[];
  /** Pad an image smaller than the crop up to its size (default false). */
  padIfNeeded?: boolean;
  /** The value of constant padding (default 0). */
  fill?: number;
  /** Default 'constant'. */
  paddingMode?: PaddingMode;
  /**
   * The random stream (default: the global one). In DataLoader workers the transform is rebuilt
   * without it and draws from the worker's seeded default generator.
   */
  generator?: Generator;
}

/**
 * A window of `size` at a random place (after optional padding), as torchvision's RandomCrop.
 * Example: `new fm.data.transforms.RandomCrop(28, { padding: 4 })` on a [1, 28, 28] image.
 */
export class RandomCrop extends BuiltinTransform {
  readonly size: [number, number];
  readonly padding: [number, number, number, number];
  constructor(
    size: number | readonly number[],
    readonly opts: RandomCropOptions = {},
  ) {
    super();
    this.size = hw('RandomCrop', size);
    this.padding = ltrb('RandomCrop', opts.padding ?? 0);
    const mode = opts.paddingMode ?? 'constant';
    if (!['constant', 'edge', 'reflect', 'symmetric'].includes(mode)) throw new ValueError('RandomCrop', `paddingMode must be constant, edge, reflect or symmetric, got '${mode}'`);
  }
  forward(img: Tensor): Tensor {
    checkImage('RandomCrop', img);
    const mode = this.opts.paddingMode ?? 'constant';
    const fill = this.opts.fill ?? 0;
    const [th, tw] = this.size;
    let x = pad('RandomCrop', img, this.padding, fill, mode);
    if (this.opts.padIfNeeded) {
      const dh = Math.max(0, th - height(x));
      const dw = Math.max(0, tw - width(x));
      x = pad('RandomCrop', x, [dw, dh, dw, dh], fill, mode);
    }
    const h = height(x);
    const w = width(x);
    if (h < th || w < tw) throw new ValueError('RandomCrop', `required crop size (${th}, ${tw}) is larger than the input image size (${h}, ${w})`);
    if (h === th && w === tw) return x;
    const generator = this.opts.generator ?? defaultGenerator;
    const top = randint(0, h - th + 1, [1], { generator }).item();
    const left = randint(0, w - tw + 1, [1], { generator }).item();
    return crop(x, top, left, th, tw);
  }
  protected specArgs(): unknown[] {
    const { generator: _, ...rest } = this.opts;
    return [this.size, rest];
  }
}

/**
 * Mirrors the image left to right with probability `p` (a view), as torchvision's RandomHorizontalFlip.
 * Example: `new fm.data.transforms.RandomHorizontalFlip(0.5, { generator })`.
 */
export class RandomHorizontalFlip extends BuiltinTransform {
  constructor(
    readonly p = 0.5,
    /** The random stream (default: the global one; in workers, the worker's, as for RandomCrop). */
    readonly opts: { generator?: Generator } = {},
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError('RandomHorizontalFlip', `p must be a probability in [0, 1], got ${p}`);
  }
  forward(img: Tensor): Tensor {
    checkImage('RandomHorizontalFlip', img);
    const u = rand([1], { dtype: 'float64', generator: this.opts.generator ?? defaultGenerator }).item();
    return u < this.p ? img.flip([-1]) : img;
  }
  protected specArgs(): unknown[] {
    return [this.p];
  }
}

/** Python's round (halves to even), which torchvision's CenterCrop uses. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The central window of `size` (padded with zeros when the image is smaller), as torchvision's CenterCrop.
 * Example: `new fm.data.transforms.CenterCrop(24).forward(img)` on [3, 32, 32] gives [3, 24, 24].
 */
export class CenterCrop extends BuiltinTransform {
  readonly size: [number, number];
  constructor(size: number | readonly number[]) {
    super();
    this.size = hw('CenterCrop', size);
  }
  forward(img: Tensor): Tensor {
    checkImage('CenterCrop', img);
    const [th, tw] = this.size;
    const dh = Math.max(0, th - height(img));
    const dw = Math.max(0, tw - width(img));
    const x = pad('CenterCrop', img, [dw >> 1, dh >> 1, (dw + 1) >> 1, (dh + 1) >> 1], 0, 'constant');
    return crop(x, roundHalfEven((height(x) - th) / 2), roundHalfEven((width(x) - tw) / 2), th, tw);
  }
  protected specArgs(): unknown[] {
    return [this.size];
  }
}

/** Source rows (or columns) and weights of bilinear resampling from n to m, as PyTorch's (align_corners=False). */
function bilinearTaps(n: number, m: number): { i0: number[]; i1: number[]; w1: number[] } {
  const scale = n / m;
  const i0: number[] = [];
  const i1: number[] = [];
  const w1: number[] = [];
  for (let k = 0; k < m; k++) {
    const src = Math.max((k + 0.5) * scale - 0.5, 0);
    const lo = Math.floor(src);
    i0.push(lo);
    i1.push(lo < n - 1 ? lo + 1 : lo);
    w1.push(src - lo);
  }
  return { i0, i1, w1 };
}

/** Resamples dim `dim` (-2 or -1) of a float tensor from its size to m. */
function resampleDim(x: Tensor, dim: -2 | -1, m: number, mode: 'bilinear' | 'nearest'): Tensor {
  const n = x.shape[x.ndim + dim]!;
  const idx = (v: number[]) => tensor(v, { dtype: 'int64', device: x.device });
  if (mode === 'nearest') {
    // NOTE: PyTorch's nearest takes floor(k * scale) with a float32 scale, not the pixel centre.
    const scale = Math.fround(n / m);
    return x.indexSelect(dim, idx(Array.from({ length: m }, (_, k) => Math.min(Math.floor(Math.fround(k * scale)), n - 1))));
  }
  const { i0, i1, w1 } = bilinearTaps(n, m);
  const shape = dim === -2 ? [m, 1] : [m];
  const w = tensor(w1, { dtype: x.dtype, device: x.device }).view(shape);
  const a = x.indexSelect(dim, idx(i0));
  return a.add(x.indexSelect(dim, idx(i1)).sub(a).mul(w));
}

/**
 * Resizes the last two dims, as torchvision's Resize on tensors with `antialias: false`: `size`
 * [h, w], or an int that the smaller edge becomes (the other keeping the aspect ratio). Bilinear
 * (half-pixel centres, PyTorch's align_corners=False) or nearest; integer images are computed in
 * float32, then rounded back. Antialiasing (torchvision's default since 0.17) is not implemented.
 * Example: `new fm.data.transforms.Resize([32, 32]).forward(img)`.
 */
export class Resize extends BuiltinTransform {
  readonly size: number | [number, number];
  readonly interpolation: 'bilinear' | 'nearest';
  constructor(size: number | readonly number[], opts: { interpolation?: 'bilinear' | 'nearest'; antialias?: boolean } = {}) {
    super();
    this.size = typeof size === 'number' ? hw('Resize', size)[0] : hw('Resize', size);
    this.interpolation = opts.interpolation ?? 'bilinear';
    if (this.interpolation !== 'bilinear' && this.interpolation !== 'nearest') throw new ValueError('Resize', `interpolation must be 'bilinear' or 'nearest', got '${String(this.interpolation)}'`);
    if (opts.antialias) throw new ValueError('Resize', 'antialias: true is not supported (Resize works as torchvision with antialias=False)');
  }
  /** The output [h, w] for an input of [h, w] (torchvision's _compute_resized_output_size). */
  outputSize(h: number, w: number): [number, number] {
    if (typeof this.size !== 'number') return this.size;
    const [short, long] = w <= h ? [w, h] : [h, w];
    const newLong = Math.trunc((this.size * long) / short);
    return w <= h ? [newLong, this.size] : [this.size, newLong];
  }
  forward(img: Tensor): Tensor {
    checkImage('Resize', img);
    const [oh, ow] = this.outputSize(height(img), width(img));
    if (oh === height(img) && ow === width(img)) return img;
    const x = isFloating(img.dtype) ? img : img.float();
    const out = resampleDim(resampleDim(x, -2, oh, this.interpolation), -1, ow, this.interpolation);
    if (x === img) return out;
    return (img.dtype === 'uint8' ? out.round().clamp(0, 255) : out.round()).to(img.dtype);
  }
  protected specArgs(): unknown[] {
    return [this.size, { interpolation: this.interpolation }];
  }
}
