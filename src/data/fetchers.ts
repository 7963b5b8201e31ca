// One epoch's batches for the DataLoader: read on this thread (when asked, or one batch ahead for
// for-await), or requested from worker threads and waited for (blocking or not).
import { ValueError } from '../errors.js';
import type { MapDataset } from './dataset.js';
import { decode } from './transfer.js';
import type { BatchReply, WorkerFetcher } from './workers.js';

/** One epoch's source of batches, for both loops. */
export interface Fetcher<B> {
  nextSync(): IteratorResult<B, undefined>;
  next(): Promise<IteratorResult<B, undefined>>;
  close(): void;
}

/** Makes a batch from samples (and their dataset indices, for collate's messages). */
export type Finish<T, B> = (samples: Awaited<T>[], indices?: readonly number[]) => B;

const DONE = { done: true, value: undefined } as const;
/** Lets timers and I/O run: for-await readers start each batch after a turn of the event loop. */
const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const isThenable = (x: unknown) => typeof (x as { then?: unknown } | null)?.then === 'function';

/** Batches of a map-style dataset at the index batches given. */
export function mapBatches<T, B>(dataset: MapDataset<T>, batches: Iterator<number[]>, finish: Finish<T, B>): Fetcher<B> {
  return {
    nextSync: () => {
      const r = batches.next();
      if (r.done) return DONE;
      const samples = r.value.map((i) => {
        const s = dataset.get(i);
        if (isThenable(s)) throw new ValueError('DataLoader', `dataset.get(${i}) returned a promise; iterate this loader with for await`);
        return s as Awaited<T>;
      });
      return { done: false, value: finish(samples, r.value) };
    },
    next: async () => {
      const r = batches.next();
      if (r.done) return DONE;
      await immediate();
      const samples = await Promise.all(r.value.map((i) => dataset.get(i)));
      return { done: false, value: finish(samples, r.value) };
    },
    close: () => {},
  };
}

/** Batches of `batchSize` consecutive samples of an iterable dataset (async ones only for `next`). */
export function streamBatches<T, B>(dataset: Iterable<T> | AsyncIterable<T>, sync: boolean, batchSize: number, dropLast: boolean, finish: Finish<T, B>): Fetcher<B> {
  const ds = dataset as Partial<Iterable<T> & AsyncIterable<T>>;
  if (sync && typeof ds[Symbol.iterator] !== 'function') throw new ValueError('DataLoader', 'this IterableDataset only has an async iterator; iterate the loader with for await');
  const stream: Iterator<T> | AsyncIterator<T> = sync ? ds[Symbol.iterator]!() : (ds[Symbol.asyncIterator]?.() ?? ds[Symbol.iterator]!());
  let ended = false;
  const result = (samples: Awaited<T>[]): IteratorResult<B, undefined> =>
    samples.length === 0 || (dropLast && samples.length < batchSize) ? DONE : { done: false, value: finish(samples) };
  return {
    nextSync: () => {
      const samples: Awaited<T>[] = [];
      while (!ended && samples.length < batchSize) {
        const r = (stream as Iterator<T>).next();
        if (r.done) ended = true;
        else samples.push(r.value as Awaited<T>);
      }
      return result(samples);
    },
    next: async () => {
      await immediate();
      const samples: Awaited<T>[] = [];
      while (!ended && samples.length < batchSize) {
        const r = await stream.next();
        if (r.done) ended = true;
        else samples.push((await r.value) as Awaited<T>);
      }
      return result(samples);
    },
    close: () => void stream.return?.(),
  };
}

/** Batches from worker threads; `toBatch` finishes a decoded reply (a custom collateFn runs there). */
export function workerBatches<B>(fetcher: WorkerFetcher, toBatch: (decoded: unknown) => B, close: () => void): Fetcher<B> {
  const finish = (r: BatchReply): IteratorResult<B, undefined> => (r.done ? DONE : { done: false, value: toBatch(decode(r.value.batch)) });
  return {
    nextSync: () => finish(fetcher.nextSync()),
    next: async () => finish(await fetcher.next()),
    close,
  };
}
