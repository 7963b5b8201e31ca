// What one primitive op is: its forward (shape/dtype rule and a backend call) and its backward
// in Tensor ops, with the context that carries saved tensors from one to the other.
import type { Tensor } from '../tensor/tensor.js';
import { Node, SavedTensor, type Edge, type InputMeta } from '../autograd/node.js';

/** Carries what forward saved to backward, and which inputs need a gradient. */
export class Ctx {
  private saved: (SavedTensor | null)[] = [];
  constructor(
    readonly op: string,
    /** needsGrad[i]: input i requires grad (backward may skip the others). */
    readonly needsGrad: readonly boolean[],
    private readonly shapes: readonly (readonly number[])[],
  ) {}
  /** The shape input i had. */
  inputShape(i: number): readonly number[] {
    return this.shapes[i]!;
  }
  /** Keeps tensors for backward (call from forward, in order). */
  save(...tensors: (Tensor | null)[]): void {
    for (const t of tensors) this.saved.push(t === null ? null : new SavedTensor(t, this.op));
  }
  /** The i-th saved tensor; raises if it changed in place since it was saved. */
  get(i: number): Tensor {
    return this.saved[i]!.unpack();
  }
  release(): void {
    for (const s of this.saved) s?.release();
    this.saved = [];
  }
}

class NoSaveCtx extends Ctx {
  override save(): void {}
}
/** A context that saves nothing, used when no input requires grad. */
export const noGradCtx: Ctx = new NoSaveCtx('', [], []);

/**
 * One primitive. `forward` computes the output with backend calls (no graph is recorded inside
 * it); `backward` returns one gradient per input (null where none), written in Tensor ops so
 * that it runs on every device and can itself be differentiated.
 */
export interface OpDef<A> {
  readonly forward: (ctx: Ctx, inputs: readonly Tensor[], attrs: A) => Tensor;
  readonly backward?: (ctx: Ctx, grad: Tensor, attrs: A) => readonly (Tensor | null)[];
}

/** The graph node of a registry op. */
export class OpNode<A> extends Node {
  constructor(
    name: string,
    next: readonly (Edge | null)[],
    inputMeta: readonly (InputMeta | null)[],
    private readonly def: OpDef<A>,
    private ctx: Ctx,
    private readonly attrs: A,
  ) {
    super(name, next, inputMeta);
  }
  apply(grads: readonly Tensor[]): (Tensor | null)[] {
    return [...this.def.backward!(this.ctx, grads[0]!, this.attrs)];
  }
  override release(): void {
    super.release();
    this.ctx.release();
  }
}
