// What a transform is (a function, or an object with forward), the base class of the built-in
// ones (which workers can rebuild from a spec), and Compose.
import { ValueError } from '../../errors.js';
import { buildFromSpec, specsOf, type WorkerSpec } from '../spec.js';
import type { Tensor } from '../../tensor/tensor.js';

/**
 * A sample transform: a function, or an object with `forward` (the built-in transforms; an
 * nn.Module-like object works too). Example: `const t: Transform<Tensor, Tensor> = (x) => x.mul(2);`
 */
export type Transform<I, O> = ((x: I) => O) | { forward(x: I): O };

/** Applies a transform of either form. Example: `applyTransform(new Normalize([0.5], [0.5]), x)`. */
export function applyTransform<I, O>(t: Transform<I, O>, x: I): O {
  if (typeof t === 'function') return t(x);
  if (typeof (t as { forward?: unknown } | null)?.forward === 'function') return t.forward(x);
  throw new ValueError('transform', 'a transform must be a function or an object with a forward method');
}

/** Where the built-in transforms are exported from: workers import it to rebuild them. */
const transformsModule = new URL('./index.js', import.meta.url).href;

/**
 * Base of the built-in transforms: `forward`, and the constructor arguments that rebuild the
 * transform in a DataLoader worker. Example: `class Double extends BuiltinTransform { ... }` (in
 * Fiamma only: a user's subclass needs its own module in workerSpec).
 */
export abstract class BuiltinTransform<I = Tensor, O = Tensor> {
  /** Transforms one sample. */
  abstract forward(x: I): O;
  /** The constructor arguments, as structured-cloneable values. */
  protected abstract specArgs(): unknown[];
  /** Rebuilds this transform in a worker (see DataLoader's numWorkers). */
  workerSpec(): WorkerSpec | undefined {
    return { module: transformsModule, exportName: this.constructor.name, args: this.specArgs() };
  }
  /** Makes the transform a spec describes. */
  static fromSpec(this: new (...args: never[]) => unknown, args: unknown): unknown {
    return new this(...(args as never[]));
  }
}

/**
 * Transforms applied one after the other (types are not checked along the chain).
 * Example: `new fm.data.transforms.Compose([new ToTensor(), new Normalize([0.1307], [0.3081])])`.
 */
export class Compose<I = Tensor, O = Tensor> extends BuiltinTransform<I, O> {
  readonly transforms: readonly Transform<never, unknown>[];
  constructor(transforms: readonly Transform<never, unknown>[]) {
    super();
    if (!Array.isArray(transforms)) throw new ValueError('Compose', 'expected an array of transforms');
    transforms.forEach((t, i) => {
      if (typeof t !== 'function' && typeof (t as { forward?: unknown } | null)?.forward !== 'function') {
        throw new ValueError('Compose', `transform ${i} is neither a function nor an object with a forward method`);
      }
    });
    this.transforms = [...transforms];
  }
  forward(x: I): O {
    let y: unknown = x;
    for (const t of this.transforms) y = applyTransform(t as Transform<unknown, unknown>, y);
    return y as O;
  }
  protected specArgs(): unknown[] {
    return [];
  }
  /** Defined when every transform in the chain has a spec (plain functions have none). */
  override workerSpec(): WorkerSpec | undefined {
    const specs = specsOf(this.transforms);
    return specs && { ...super.workerSpec()!, args: specs };
  }
  static override async fromSpec(args: unknown): Promise<Compose<unknown, unknown>> {
    return new Compose(await Promise.all((args as WorkerSpec[]).map((s) => buildFromSpec(s) as Promise<Transform<never, unknown>>)));
  }
}
