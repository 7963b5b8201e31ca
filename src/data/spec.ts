// Worker specs: how a DataLoader worker thread rebuilds a dataset or a transform it cannot be
// sent (functions and class instances do not cross threads): a module, an export and its arguments.
import { ValueError } from '../errors.js';

/**
 * What a worker needs to build its own copy of a value: `(await import(module))[exportName]` is
 * either a class with a static `fromSpec(args)` or a factory function `(args) => value` (either
 * may return a promise); `args` must survive structured cloning (no functions).
 * Example: `{ module: new URL('./my_data.js', import.meta.url).href, exportName: 'makeDataset', args: { train: true } }`.
 */
export interface WorkerSpec {
  /** A module specifier a worker can import: a file URL, an absolute path or a package name. */
  module: string;
  /** The export to call; default `'default'`. */
  exportName?: string;
  /** Arguments passed to `fromSpec` or the factory. */
  args?: unknown;
}

/**
 * A value that can describe itself to a worker (built-in datasets and transforms do).
 * Example: `workerSpec() { return { module: import.meta.url, exportName: 'MyDataset', args: { n: this.n } }; }`
 */
export interface HasWorkerSpec {
  /** The spec that rebuilds this value in a worker, or undefined when it cannot be rebuilt. */
  workerSpec(): WorkerSpec | undefined;
}

/** The worker spec of `x`, or undefined when `x` has none. Example: `specOf(new fm.data.TensorDataset(x))`. */
export function specOf(x: unknown): WorkerSpec | undefined {
  const f = (x as Partial<HasWorkerSpec> | null | undefined)?.workerSpec;
  return typeof f === 'function' ? f.call(x) : undefined;
}

/** Specs of every item, or undefined when one has none. */
export function specsOf(xs: readonly unknown[]): WorkerSpec[] | undefined {
  const specs = xs.map(specOf);
  return specs.every((s) => s !== undefined) ? (specs as WorkerSpec[]) : undefined;
}

type Factory = ((args: unknown) => unknown) & { fromSpec?: (args: unknown) => unknown };

/**
 * Builds the value a spec describes (in a worker, or anywhere).
 * Example: `const ds = await buildFromSpec(new fm.data.TensorDataset(x).workerSpec()!)`.
 */
export async function buildFromSpec(spec: WorkerSpec, op = 'buildFromSpec'): Promise<unknown> {
  const name = spec.exportName ?? 'default';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec.module)) as Record<string, unknown>;
  } catch (e) {
    throw new ValueError(op, `cannot import worker module '${spec.module}': ${(e as Error).message}`);
  }
  const f = mod[name] as Factory | undefined;
  if (typeof f !== 'function') throw new ValueError(op, `module '${spec.module}' has no function or class export '${name}'`);
  if (typeof f.fromSpec === 'function') return await f.fromSpec(spec.args);
  if (/^class\b/.test(Function.prototype.toString.call(f))) {
    throw new ValueError(op, `class '${name}' of '${spec.module}' has no static fromSpec(args); export a factory function instead`);
  }
  return await f(spec.args);
}
