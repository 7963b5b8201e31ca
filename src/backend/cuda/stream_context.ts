// Which CUDA stream each device's work goes to: the legacy default stream (0) unless code runs
// inside fm.cuda.stream(s, fn). An AsyncLocalStorage, as grad mode and autocast, so that an
// async fn keeps its stream across its own awaits only.
import { AsyncLocalStorage } from 'node:async_hooks';

const context = new AsyncLocalStorage<ReadonlyMap<number, number>>();

/** The stream handle that work for device `index` goes to now (0: the legacy default stream). */
export function currentStreamHandle(index: number): number {
  return context.getStore()?.get(index) ?? 0;
}

/** Runs `fn` with device `index`'s work going to stream `handle`. */
export function withStreamHandle<T>(index: number, handle: number, fn: () => T): T {
  const next = new Map(context.getStore() ?? []);
  next.set(index, handle);
  return context.run(next, fn);
}
