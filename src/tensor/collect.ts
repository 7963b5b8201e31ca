// Forcing a garbage collection when device memory fills with tensors nobody disposed: their
// storages are freed by a FinalizationRegistry (storage.ts), whose callbacks run once the
// collector has found them unreachable and the current job has yielded (an await, such as the
// DataLoader's async iterator). Node exposes gc() only behind a flag, which V8 lets a running
// program set for contexts made after it.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let gcFn: (() => void) | null | undefined;

/** Runs a full collection if one can be forced; returns whether it ran. */
export function forceCollection(): boolean {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  if (!gcFn) return false;
  gcFn();
  return true;
}

/**
 * When to collect: once the bytes held have grown past twice what was held after the last
 * collection (and past a floor), as V8 itself sizes its heap. Returns the new threshold, or
 * undefined when no collection is due.
 */
export class CollectionPolicy {
  private threshold: number;
  constructor(private readonly floor = 512 * 2 ** 20) {
    this.threshold = floor;
  }
  /** Called with the bytes held now; collects when due. */
  check(held: number, collect: () => boolean = forceCollection): boolean {
    if (held < this.threshold) return false;
    collect();
    this.threshold = Math.max(this.floor, 2 * held);
    return true;
  }
}
