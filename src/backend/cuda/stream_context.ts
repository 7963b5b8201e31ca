// Which CUDA stream each device's work goes to: the legacy default stream (0) unless code runs
// inside fm.cuda.stream(s, fn). An AsyncLocalStorage, as grad mode and autocast, so that an
// async fn keeps its stream across its own awaits only.
import { AsyncLocalStorage } from 'node:async_hooks';

/** A stream as the context holds it: the Stream object itself, so that it stays alive (and its
    driver stream undestroyed) while an async fn that runs on it is pending. */
interface StreamRef {
  readonly handle: number;
}
const context = new AsyncLocalStorage<ReadonlyMap<number, StreamRef>>();

/** The stream handle that work for device `index` goes to now (0: the legacy default stream). */
export function currentStreamHandle(index: number): number {
  return currentStreamRef(index)?.handle ?? 0;
}

/** The Stream object work for device `index` goes to now (undefined: the legacy default stream), for holders that must keep it alive. */
export function currentStreamRef(index: number): StreamRef | undefined {
  return context.getStore()?.get(index);
}

/** Runs `fn` with device `index`'s work going to `stream`. */
export function withStream<T>(index: number, stream: StreamRef, fn: () => T): T {
  const next = new Map(context.getStore() ?? []);
  next.set(index, stream);
  return context.run(next, fn);
}
