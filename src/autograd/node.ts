// Graph nodes: what backward runs for one op, the edges to its inputs' nodes, and the tensors
// it saved (checked against in-place changes when unpacked).
import type { Tensor } from '../tensor/tensor.js';
import type { DType } from '../dtype.js';
import type { Device } from '../device.js';
import { AutogradError, trimInternalFrames } from '../errors.js';
import { isAnomalyEnabled, isGradEnabled } from './grad_mode.js';
import { letGo, releaseSaved, retainSaved } from '../tensor/scope.js';
import { sameShape } from '../tensor/shape.js';

/** Where a gradient flows: an output slot of a node. */
export interface Edge {
  readonly node: Node;
  readonly outputNr: number;
}

/** What backward needs to know of an input without keeping it: to shape and type its gradient. */
export interface InputMeta {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
}

/** A tensor kept for backward, with the version it had when saved. */
export class SavedTensor {
  private tensor: Tensor | null;
  private readonly version: number;
  constructor(
    tensor: Tensor,
    private readonly op: string,
  ) {
    this.tensor = tensor;
    this.version = tensor.storage.version;
    retainSaved(tensor);
  }
  /** The saved tensor; raises if it was changed in place since, or freed by an earlier backward. */
  unpack(): Tensor {
    const t = this.tensor;
    if (t === null) throw releasedError(this.op);
    if (t.storage.version !== this.version) {
      throw new AutogradError(
        this.op,
        `a tensor saved for backward (shape [${t.shape.join(', ')}], ${t.dtype}) was modified by an in-place operation: ` +
          `it is at version ${t.storage.version}, expected version ${this.version}. Use an out-of-place op (or clone() the tensor) before changing it.`,
      );
    }
    return t;
  }
  release(): void {
    const t = this.tensor;
    this.tensor = null;
    if (t) releaseSaved(t);
  }
}

export function releasedError(op: string): AutogradError {
  return new AutogradError(
    op,
    'trying to backward through the graph a second time (its saved tensors were freed by the first backward). ' +
      'Pass { retainGraph: true } to the first backward() if you need to backward twice.',
  );
}

let sequence = 0;

/** One recorded op. `apply` turns output gradients into input gradients. */
export abstract class Node {
  /** Creation order: later nodes run first when several are ready. */
  readonly seq = sequence++;
  /** The forward stack, recorded under detectAnomaly. */
  readonly stack: string | undefined;
  /** Hooks of non-leaf tensors made by this node, by output slot (registerHook, retainGrad). */
  tensorHooks: ((g: Tensor) => Tensor | void)[][] | null = null;
  released = false;
  constructor(
    readonly name: string,
    readonly next: readonly (Edge | null)[],
    readonly inputMeta: readonly (InputMeta | null)[],
    readonly numOutputs = 1,
  ) {
    this.stack = isAnomalyEnabled() ? trimInternalFrames(new Error().stack) : undefined;
  }
  /** Gradients of the inputs (null where none flows) from the gradients of the outputs. */
  abstract apply(grads: readonly Tensor[]): (Tensor | null)[];
  /** The gradient of an output that received none, for nodes with several outputs. */
  zerosForOutput(i: number): Tensor {
    throw new AutogradError(this.name, `no gradient arrived for output ${i}`);
  }
  /** Frees what backward saved, once it has run without retainGraph. */
  release(): void {
    this.released = true;
  }
  addTensorHook(outputNr: number, hook: (g: Tensor) => Tensor | void): void {
    this.tensorHooks ??= Array.from({ length: this.numOutputs }, () => []);
    this.tensorHooks[outputNr]!.push(hook);
  }
}

/** True when `old` (a leaf's .grad) can take `g` added in place: same shape, dtype and device, dense, no graph of its own. */
function inPlaceTarget(old: Tensor, g: Tensor): boolean {
  return !old.isDisposed && !old.requiresGrad && old.dtype === g.dtype && old.device === g.device &&
    sameShape(old.shape, g.shape) && old.isContiguous();
}

/** The node at a leaf that requires grad: adds the incoming gradient to `leaf.grad`. */
export class AccumulateGrad extends Node {
  /** registerPostAccumulateGradHook's hooks: called with the leaf once its `.grad` is updated. */
  postHooks: ((leaf: Tensor) => void)[] = [];
  constructor(readonly leaf: Tensor) {
    super('AccumulateGrad', [], []);
  }
  apply(grads: readonly Tensor[]): (Tensor | null)[] {
    const leaf = this.leaf;
    const g = grads[0]!;
    const old = leaf.grad;
    if (old === null) {
      // The gradient belongs to the leaf, which outlives any scope the backward ran in: kept while
      // the leaf holds it (Tensor.grad's setter; a scope in which the leaf lets go of it disposes
      // it, as PyTorch frees a gradient set to None).
      leaf.grad = g;
    } else if (!isGradEnabled() && inPlaceTarget(old, g)) {
      // As PyTorch without create_graph: added in place, so the leaf keeps the same tensor (and
      // anyone holding it sees the sum); nothing allocated or left to the collector.
      old.add_(g);
    } else {
      // A graph of the sum is wanted (create_graph), or the old gradient cannot take it in place:
      // the sum replaces it, and the old one, if a closed scope left it to the leaf, goes now.
      leaf.grad = old.add(g);
      letGo(old);
    }
    for (const hook of this.postHooks) hook(leaf);
    return [];
  }
  override release(): void {
    // A leaf's accumulator is reused by every backward: nothing to free.
  }
}
