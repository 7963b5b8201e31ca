// Which DataLoader worker this code runs in (PyTorch's get_worker_info), for datasets that shard.

/** What a dataset can learn about the worker it runs in. Example: `fm.data.getWorkerInfo()?.id`. */
export interface WorkerInfo {
  /** This worker's number, 0..numWorkers-1. */
  readonly id: number;
  readonly numWorkers: number;
  /** The seed of this worker's default generator (the loader's base seed + id). */
  readonly seed: number;
  /** This worker's copy of the dataset. */
  readonly dataset: unknown;
}

let info: WorkerInfo | null = null;

/**
 * In a DataLoader worker, who it is; null on the main thread. An IterableDataset uses it to
 * split its stream so that workers do not repeat each other.
 * Example:
 * ```ts
 * *[Symbol.iterator]() {
 *   const w = fm.data.getWorkerInfo();
 *   for (let i = w?.id ?? 0; i < 100; i += w?.numWorkers ?? 1) yield i;
 * }
 * ```
 */
export function getWorkerInfo(): WorkerInfo | null {
  return info;
}

/** Set once by the worker's entry script. */
export function setWorkerInfo(i: WorkerInfo): void {
  info = i;
}
