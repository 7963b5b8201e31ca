// The Tensor: a thin handle (storage, shape, strides, offset) plus autograd fields. Ops are
// attached as methods by ../ops and ../functional; this file holds what every tensor is.
import { inspect } from 'node:util';
import type { View } from '../backend/interface.js';
import type { Device } from '../device.js';
import { isFloating, isReducedFloat, type DType, type TypedArray } from '../dtype.js';
import { fromReducedBits, reducedBitsToFloat } from '../half.js';
import { AutogradError, ValueError } from '../errors.js';
import { formatTensor } from '../format.js';
import { AccumulateGrad, type Node } from '../autograd/node.js';
import { Storage } from './storage.js';
import { contiguousStrides, fmtShape, isContiguous, normDim, numelOf } from './shape.js';
import { keep, keepWhileHeld, trackInScope } from './scope.js';

/** A tensor gradient hook: may return a replacement gradient. */
export type GradHook = (grad: Tensor) => Tensor | void;

/**
 * An n-dimensional array on a device, recording the ops that made it for autograd.
 * Example: `const x = fm.tensor([[1, 2], [3, 4]], { requiresGrad: true }); x.mul(x).sum().backward(); x.grad`.
 */
export class Tensor {
  /** True when gradients should be computed for this tensor. */
  requiresGrad = false;
  private gradValue: Tensor | null = null;
  /** The graph node of the op that made this tensor; null for leaves. */
  gradFn: Node | null = null;
  /** Which output of `gradFn` this tensor is. */
  outputNr = 0;
  private acc: AccumulateGrad | null = null;
  private retains = false;
  /** The hook retainGrad() put on gradFn, moved when an in-place op rebases this tensor's history. */
  private retainHook: GradHook | null = null;
  /** For a view with a graph node: the storage version it was made at (see staleViewError). */
  viewVersion = 0;
  private disposed = false;

  /** The accumulated gradient of a leaf (or of a tensor that called retainGrad()). */
  get grad(): Tensor | null {
    return this.gradValue;
  }
  /**
   * Sets the gradient (backward does; so may you, as `p.grad = p.grad.div(k)`). A gradient made in
   * a scope is kept past it for as long as this tensor holds it, as backward's are; let go of
   * inside the scope, it is disposed with the scope's other temporaries.
   */
  set grad(g: Tensor | null) {
    this.gradValue = g;
    if (g !== null) keepWhileHeld(g, () => this.gradValue === g);
  }

  constructor(
    /** The memory this tensor views. */
    readonly storage: Storage,
    /** Size of each dim. */
    readonly shape: readonly number[],
    /** Elements to step in storage per index of each dim. */
    readonly strides: readonly number[],
    /** Element offset of index (0, 0, ...) in storage. */
    readonly offset: number,
    /**
     * The tensor whose storage this one views, or null when it owns its storage. Owners hold
     * the memory; views borrow it, so a view made inside an op never keeps memory alive.
     */
    readonly base: Tensor | null = null,
  ) {
    if (base === null) storage.refs++;
    trackInScope(this);
  }

  /** A new contiguous tensor of `shape` backed by fresh storage from `device`'s backend. */
  static fromStorage(storage: Storage, shape: readonly number[]): Tensor {
    return new Tensor(storage, shape, contiguousStrides(shape), 0);
  }

  get dtype(): DType {
    return this.storage.handle.dtype;
  }
  get device(): Device {
    return this.storage.device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** The number of dims (PyTorch's `dim()`). */
  dim(): number {
    return this.shape.length;
  }
  /** Total number of elements. Example: `fm.zeros([2, 3]).numel() === 6`. */
  numel(): number {
    return numelOf(this.shape);
  }
  /** The shape, or the size of one dim (negative dims count from the end). Example: `x.size(-1)`. */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): number | readonly number[] {
    return dim === undefined ? this.shape : this.shape[normDim('size', dim, this.ndim)]!;
  }
  /** True for tensors not made by a recorded op (user-created, or made without grad). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  /** True when `retainGrad()` asked this non-leaf to keep its gradient. */
  get retainsGrad(): boolean {
    return this.retains;
  }

  /** The strided window kernels take. */
  view_(): View {
    this.assertLive();
    return { storage: this.storage.handle, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** Raises if dispose() released this tensor. */
  assertLive(): void {
    if (this.disposed || this.storage.freed) throw new ValueError('tensor', `this ${fmtShape(this.shape)} ${this.dtype} tensor was disposed and cannot be used`);
  }

  /** True when elements are laid out row-major without gaps. Example: `x.T.isContiguous() === false`. */
  isContiguous(): boolean {
    return isContiguous(this);
  }

  /** The leaf accumulator node (created once per leaf that requires grad). */
  accumulator(): AccumulateGrad {
    return (this.acc ??= new AccumulateGrad(this));
  }

  /**
   * Makes this tensor use `source`'s memory, shape and strides (PyTorch's set_): its identity,
   * requiresGrad and hooks stay, so a parameter an optimizer holds can move device or dtype.
   * Only leaves may do this. Example: `p.set_(p.detach().to('float64'))`.
   */
  set_(source: Tensor): this {
    this.assertLive();
    source.assertLive();
    if (this.gradFn !== null) throw new AutogradError('set_', 'only leaf tensors can be set to other memory; use detach() first');
    const self = this as unknown as { storage: Storage; shape: readonly number[]; strides: readonly number[]; offset: number; base: Tensor | null };
    const old = this.base === null ? this.storage : null;
    // Co-own an owner's storage; borrow a view's from its base.
    self.base = source.base;
    if (source.base === null) source.storage.refs++;
    self.storage = source.storage;
    self.shape = source.shape;
    self.strides = source.strides;
    self.offset = source.offset;
    old?.release();
    this.storage.version++;
    return this;
  }

  /** Sets requiresGrad on a leaf (in place, returns this). Example: `w.requiresGrad_()`. */
  requiresGrad_(requiresGrad = true): this {
    if (!this.isLeaf && !requiresGrad) {
      throw new AutogradError('requiresGrad_', 'you can only change requiresGrad of leaf tensors; use detach() to get a tensor without grad');
    }
    if (requiresGrad && !isFloating(this.dtype)) {
      throw new AutogradError('requiresGrad_', `only floating point tensors can require gradients, got ${this.dtype}`);
    }
    this.requiresGrad = requiresGrad;
    return this;
  }

  /** Keeps `.grad` for this non-leaf tensor after backward. Example: `h.retainGrad()`. */
  retainGrad(): void {
    if (!this.requiresGrad) throw new AutogradError('retainGrad', "can't retainGrad on a tensor that has requiresGrad=false");
    if (this.isLeaf || this.retains) return;
    this.retains = true;
    this.retainHook = (g) => {
      // A copy: g keeps flowing through backward and may be a view of another gradient.
      this.grad = keep(this.grad === null ? g.detach().clone() : this.grad.add(g).detach().clone());
    };
    this.gradFn!.addTensorHook(this.outputNr, this.retainHook);
  }

  /** Points this tensor at a new graph node after an in-place op (moving retainGrad's hook along). */
  rebaseHistory(node: Node, outputNr: number): void {
    if (this.retainHook && this.gradFn) {
      const list = this.gradFn.tensorHooks?.[this.outputNr];
      list?.splice(list.indexOf(this.retainHook), 1);
      node.addTensorHook(outputNr, this.retainHook);
    }
    this.gradFn = node;
    this.outputNr = outputNr;
    this.requiresGrad = true;
  }

  /**
   * Calls `hook(grad)` whenever the gradient of this tensor is computed; a returned tensor
   * replaces the gradient. Returns a handle whose `remove()` unregisters it.
   * Example: `x.registerHook((g) => g.mul(2))`.
   */
  registerHook(hook: GradHook): { remove(): void } {
    if (!this.requiresGrad) throw new AutogradError('registerHook', "cannot register a hook on a tensor that doesn't require gradient");
    const node: Node = this.gradFn ?? this.accumulator();
    const slot = this.gradFn ? this.outputNr : 0;
    node.addTensorHook(slot, hook);
    return {
      remove: () => {
        const list = node.tensorHooks?.[slot];
        const i = list?.indexOf(hook) ?? -1;
        if (i >= 0) list!.splice(i, 1);
      },
    };
  }

  /**
   * Calls `hook(this)` after backward has accumulated a gradient into this leaf's `.grad`
   * (PyTorch's register_post_accumulate_grad_hook): where DDP starts all-reducing a bucket and a
   * fused optimizer can step a parameter early. Returns a handle whose `remove()` unregisters it.
   * Example: `w.registerPostAccumulateGradHook((p) => console.log(p.grad))`.
   */
  registerPostAccumulateGradHook(hook: (leaf: Tensor) => void): { remove(): void } {
    if (!this.requiresGrad) throw new AutogradError('registerPostAccumulateGradHook', "cannot register a hook on a tensor that doesn't require gradient");
    if (!this.isLeaf) throw new AutogradError('registerPostAccumulateGradHook', 'post accumulate grad hooks can only be registered on leaf tensors');
    const hooks = this.accumulator().postHooks;
    hooks.push(hook);
    return {
      remove: () => {
        const i = hooks.indexOf(hook);
        if (i >= 0) hooks.splice(i, 1);
      },
    };
  }

  /**
   * Disposes this tensor: using it afterwards raises. An owner returns its memory to the device
   * now (unless another owner shares it, as after detach()); its views become unusable with it.
   * A view's memory belongs to its base and goes when the base is disposed or collected.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.base === null) this.storage.release();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** True after dispose(). */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Values in row-major order, as a new typed array (BigInt64Array for int64; Float32Array for
   * float16 and bfloat16, whose every value is a float32). Example: `x.data()`.
   */
  data(): TypedArray {
    const values = this.storedData();
    return isReducedFloat(this.dtype) ? fromReducedBits(values as Uint16Array, this.dtype) : values;
  }

  /**
   * The elements as storage holds them, in row-major order, as a new typed array: data(), but the
   * bits of float16 and bfloat16 (Uint16Array). For files and messages that carry the dtype.
   */
  storedData(): TypedArray {
    this.assertLive();
    if (this.isContiguous()) return this.storage.backend.read(this.storage.handle, this.offset, this.numel());
    const c = this.contiguous();
    const v = c.storage.backend.read(c.storage.handle, c.offset, c.numel());
    c.dispose();
    return v;
  }

  /** The value of a one-element tensor as a JS number (1 or 0 for bool). Example: `loss.item()`. */
  item(): number {
    const n = this.numel();
    if (n !== 1) throw new ValueError('item', `a tensor with ${n} elements (shape ${fmtShape(this.shape)}) cannot be converted to a number; item() needs exactly one element`);
    const v = this.storage.backend.read(this.storage.handle, this.offset, 1)[0]!;
    return isReducedFloat(this.dtype) ? reducedBitsToFloat(Number(v), this.dtype) : Number(v);
  }

  /**
   * The values as nested JS arrays (numbers; booleans for bool; int64 as numbers, exact up to 2^53).
   * A 0-dim tensor gives a plain number. Example: `fm.eye(2).toArray()` is `[[1, 0], [0, 1]]`.
   */
  toArray(): NestedArray {
    const flat = this.data();
    const isBool = this.dtype === 'bool';
    const conv = (v: number | bigint): number | boolean => (isBool ? v !== 0 : Number(v));
    if (this.ndim === 0) return conv(flat[0]!);
    let i = 0;
    const build = (d: number): NestedArray[] => {
      const n = this.shape[d]!;
      const out: NestedArray[] = new Array(n);
      for (let k = 0; k < n; k++) out[k] = d === this.ndim - 1 ? conv(flat[i++]!) : build(d + 1);
      return out;
    };
    return build(0);
  }

  /** PyTorch's text form. Example: `String(fm.tensor([1.5]))` is `'tensor([1.5000])'`. */
  toString(): string {
    this.assertLive();
    return formatTensor({
      values: this.data(),
      shape: this.shape,
      dtype: this.dtype,
      device: String(this.device),
      requiresGrad: this.requiresGrad,
      gradFn: this.gradFn ? `${this.gradFn.name[0]!.toUpperCase()}${this.gradFn.name.slice(1)}Backward` : undefined,
    });
  }
  [inspect.custom](): string {
    return this.disposed ? `tensor(<disposed>, shape=${fmtShape(this.shape)})` : this.toString();
  }
}

/** What `toArray()` returns: a number (or boolean) or nested arrays of them. */
export type NestedArray = number | boolean | NestedArray[];
