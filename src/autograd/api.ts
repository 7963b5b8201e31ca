// The user-facing autograd calls: tensor.backward(), autograd.grad(), and custom ops through
// autograd.Function.
import { Tensor } from '../tensor/tensor.js';
import { AutogradError, ValueError } from '../errors.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { gradientEdge, nonScalarError, runBackward } from './engine.js';
import { Node, SavedTensor, type Edge, type InputMeta } from './node.js';
import { isGradEnabled, noGrad } from './grad_mode.js';
import { onesLike, zeros } from '../functional/creation.js';
import { isFloating } from '../dtype.js';

/** Options of backward and autograd.grad. */
export interface BackwardOptions {
  /** Keep the graph's saved tensors so that backward can run through it again. */
  retainGraph?: boolean;
  /** Record the backward itself, for higher-order gradients. */
  createGraph?: boolean;
}

function seedGradient(op: string, t: Tensor, gradient: Tensor | undefined): Tensor {
  if (gradient === undefined) {
    if (t.numel() !== 1) throw nonScalarError(op, t.shape);
    return onesLike(t);
  }
  if (!sameShape(gradient.shape, t.shape)) {
    throw new AutogradError(op, `gradient of shape ${fmtShape(gradient.shape)} does not match the output's shape ${fmtShape(t.shape)}`);
  }
  return gradient;
}

function rootEdge(op: string, t: Tensor, i = 0): Edge {
  const e = gradientEdge(t);
  if (e === null) throw new AutogradError(op, `element ${i} of tensors does not require grad and does not have a gradFn`);
  return e;
}

/**
 * Computes gradients of `t` (a scalar, or any shape with `gradient`) with respect to the leaves
 * of its graph, adding them into their `.grad`. Example: `loss.backward()`.
 */
export function backward(t: Tensor, gradient?: Tensor, opts?: BackwardOptions): void {
  const createGraph = opts?.createGraph ?? false;
  runBackward([rootEdge('backward', t)], [seedGradient('backward', t, gradient)], { retainGraph: opts?.retainGraph ?? createGraph, createGraph });
}

/**
 * The gradients of `outputs` with respect to `inputs`, returned instead of stored in `.grad`.
 * Example: `const [dx] = fm.autograd.grad(y, [x], { createGraph: true })`.
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  opts?: BackwardOptions & { gradOutputs?: Tensor | readonly (Tensor | undefined)[]; allowUnused?: boolean },
): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const ins = inputs instanceof Tensor ? [inputs] : inputs;
  const gos = opts?.gradOutputs === undefined ? [] : opts.gradOutputs instanceof Tensor ? [opts.gradOutputs] : opts.gradOutputs;
  const captures = ins.map((t, i) => {
    if (!t.requiresGrad) throw new AutogradError('grad', `input ${i} (shape ${fmtShape(t.shape)}) does not require grad`);
    return gradientEdge(t)!;
  });
  const createGraph = opts?.createGraph ?? false;
  const results = runBackward(
    outs.map((t, i) => rootEdge('grad', t, i)),
    outs.map((t, i) => seedGradient('grad', t, gos[i])),
    { retainGraph: opts?.retainGraph ?? createGraph, createGraph },
    captures,
  );
  results.forEach((r, i) => {
    if (r === null && !opts?.allowUnused) {
      throw new AutogradError('grad', `input ${i} (shape ${fmtShape(ins[i]!.shape)}) was not used in the graph of the outputs; pass { allowUnused: true } to get null for it`);
    }
  });
  return results;
}

/** The context of a custom Function: save tensors in forward, read them in backward. */
export class FunctionCtx {
  private saved: SavedTensor[] = [];
  /** needsInputGrad[i]: forward's argument i is a tensor that requires grad. */
  needsInputGrad: boolean[] = [];
  /** Any other values forward wants to pass to backward. */
  [key: string]: unknown;
  constructor(private readonly op: string) {}
  /** Keeps tensors for backward (checked against later in-place changes). */
  saveForBackward(...tensors: Tensor[]): void {
    this.saved = tensors.map((t) => new SavedTensor(t, this.op));
  }
  /** The tensors saved by saveForBackward. */
  get savedTensors(): Tensor[] {
    return this.saved.map((s) => s.unpack());
  }
  release(): void {
    for (const s of this.saved) s.release();
  }
}

class FunctionNode extends Node {
  constructor(
    name: string,
    next: readonly (Edge | null)[],
    meta: readonly (InputMeta | null)[],
    private readonly outputsMeta: readonly InputMeta[],
    private readonly ctx: FunctionCtx,
    private readonly fn: (ctx: FunctionCtx, ...grads: Tensor[]) => unknown,
    private readonly tensorArgs: readonly number[],
    private readonly nargs: number,
  ) {
    super(name, next, meta, outputsMeta.length);
  }
  apply(grads: readonly Tensor[]): (Tensor | null)[] {
    const r = this.fn(this.ctx, ...grads);
    const list = (Array.isArray(r) ? r : [r]) as (Tensor | null | undefined)[];
    if (list.length !== this.nargs) {
      throw new AutogradError(this.name, `backward returned ${list.length} gradients, but forward took ${this.nargs} arguments (return null for those without one)`);
    }
    return this.tensorArgs.map((i) => list[i] ?? null);
  }
  override zerosForOutput(i: number): Tensor {
    const m = this.outputsMeta[i]!;
    return zeros(m.shape, { dtype: m.dtype, device: m.device });
  }
  override release(): void {
    super.release();
    this.ctx.release();
  }
}

/**
 * A custom differentiable op, as PyTorch's torch.autograd.Function: subclass it with static
 * `forward(ctx, ...args)` and `backward(ctx, ...grads)` (one gradient per forward argument),
 * then call `MyOp.apply(...args)`.
 * Example:
 * ```ts
 * class Cube extends fm.autograd.Function {
 *   static forward(ctx: FunctionCtx, x: Tensor) { ctx.saveForBackward(x); return x.pow(3); }
 *   static backward(ctx: FunctionCtx, g: Tensor) { const [x] = ctx.savedTensors; return g.mul(x.square()).mul(3); }
 * }
 * const y = Cube.apply(x);
 * ```
 */
export class Function {
  /** Computes the outputs (no graph is recorded inside). */
  static forward(_ctx: FunctionCtx, ..._args: never[]): Tensor | Tensor[] {
    throw new ValueError('Function', 'subclasses of autograd.Function must define a static forward(ctx, ...args)');
  }
  /** Returns one gradient per forward argument (null for non-tensors or where none flows). */
  static backward(_ctx: FunctionCtx, ..._grads: never[]): Tensor | null | (Tensor | null)[] {
    throw new ValueError('Function', 'subclasses of autograd.Function must define a static backward(ctx, ...grads)');
  }
  /** Runs forward and records the op for backward. */
  static apply<F extends { forward(ctx: FunctionCtx, ...args: never[]): unknown }>(this: F, ...args: Parameters<F['forward']> extends [FunctionCtx, ...infer A] ? A : never): ReturnType<F['forward']> {
    const cls = this as unknown as typeof Function;
    const name = (this as unknown as { name: string }).name;
    const ctx = new FunctionCtx(name);
    const tensorArgs = (args as unknown[]).map((a, i) => (a instanceof Tensor ? i : -1)).filter((i) => i >= 0);
    const inputs = tensorArgs.map((i) => args[i] as Tensor);
    ctx.needsInputGrad = (args as unknown[]).map((a) => a instanceof Tensor && a.requiresGrad);
    const result = noGrad(() => (cls.forward as (...a: unknown[]) => Tensor | Tensor[])(ctx, ...args));
    const record = isGradEnabled() && inputs.some((t) => t.requiresGrad);
    if (!record) return result as ReturnType<F['forward']>;
    const outs = (Array.isArray(result) ? result : [result]).map((o) => (inputs.includes(o) ? o.detach() : o));
    const node = new FunctionNode(
      name,
      inputs.map((t) => (t.requiresGrad ? gradientEdge(t) : null)),
      inputs.map((t) => (t.requiresGrad ? { shape: t.shape, dtype: t.dtype, device: t.device } : null)),
      outs.map((o) => ({ shape: o.shape, dtype: o.dtype, device: o.device })),
      ctx,
      cls.backward as (ctx: FunctionCtx, ...g: Tensor[]) => unknown,
      tensorArgs,
      args.length,
    );
    outs.forEach((o, i) => {
      if (!isFloating(o.dtype)) return;
      o.gradFn = node;
      o.outputNr = i;
      o.requiresGrad = true;
    });
    return (Array.isArray(result) ? outs : outs[0]) as ReturnType<F['forward']>;
  }
}
