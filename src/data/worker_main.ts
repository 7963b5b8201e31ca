// The entry script of a DataLoader worker thread: rebuilds the dataset from its spec, then answers
// the main thread's requests in order with batches whose buffers are transferred.
import { workerData, parentPort } from 'node:worker_threads';
import type { Reply, Request, WireError, WorkerConfig } from './workers.js';
import type { MapDataset } from './dataset.js';

const cfg = workerData as WorkerConfig;

function post(reply: Reply, transfer: ArrayBuffer[] = []): void {
  cfg.port.postMessage(reply, transfer);
  Atomics.add(cfg.signal, 0, 1);
  Atomics.notify(cfg.signal, 0);
}

function wireError(e: unknown): WireError {
  const err = e instanceof Error ? e : new Error(String(e));
  const op = (err as { op?: unknown }).op;
  const reason = (err as { reason?: unknown }).reason;
  return typeof op === 'string' && typeof reason === 'string' ? { name: err.name, op, reason, stack: err.stack } : { name: err.name, op: undefined, reason: err.message, stack: err.stack };
}

/** An error no request caused (loading, building the dataset, an uncaught one): the epoch is lost. */
const fatal = (e: unknown) => post({ type: 'error', worker: cfg.id, epoch: -1, id: -1, error: wireError(e) });
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

// NOTE: Fiamma is imported dynamically so that a failure to load it is reported through the port:
// a main thread blocked in Atomics.wait (for...of) cannot see a worker's 'error' event.
async function start() {
  const [{ setNumThreads }, { manualSeed }, { buildFromSpec }, { setWorkerInfo }, { collateSamples }, { encode }, { isMapDataset }, { ValueError }] = await Promise.all([
    import('../backend/registry.js'),
    import('../functional/random.js'),
    import('./spec.js'),
    import('./worker_info.js'),
    import('./collate.js'),
    import('./transfer.js'),
    import('./dataset.js'),
    import('../errors.js'),
    import('../index.js'),
  ]);
  // As PyTorch's workers: one kernel thread each (the workers are the parallelism), a seeded generator.
  setNumThreads(1);
  manualSeed(cfg.seed);
  const dataset = await buildFromSpec(cfg.spec, 'DataLoader');
  setWorkerInfo({ id: cfg.id, numWorkers: cfg.numWorkers, seed: cfg.seed, dataset });
  const length = (dataset as { length?: unknown }).length;
  post({ type: 'ready', worker: cfg.id, length: typeof length === 'number' ? length : null });

  let epoch = -1;
  let stream: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  let exhausted = false;

  /** Up to batchSize samples of the worker's stream (fewer at its end). */
  const nextSamples = async (batchSize: number): Promise<unknown[]> => {
    const d = dataset as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
    stream ??= d[Symbol.asyncIterator]?.() ?? d[Symbol.iterator]!();
    const out: unknown[] = [];
    while (out.length < batchSize && !exhausted) {
      const r = await stream.next();
      if (r.done) exhausted = true;
      else out.push(r.value);
    }
    return out;
  };

  return async (req: Request): Promise<void> => {
    if (req.epoch !== epoch) {
      epoch = req.epoch;
      stream = undefined;
      exhausted = false;
    }
    let samples: unknown[];
    let indices: number[] | null = null;
    if (req.type === 'fetch') {
      if (!isMapDataset(dataset)) throw new ValueError('DataLoader', 'the worker spec built an iterable dataset, but the loader samples indices');
      indices = req.indices;
      samples = await Promise.all(indices.map((i) => (dataset as MapDataset<unknown>).get(i)));
    } else {
      const it = cfg.iterable!;
      samples = await nextSamples(it.batchSize);
      if (samples.length === 0 || (it.dropLast && samples.length < it.batchSize)) {
        post({ type: 'done', worker: cfg.id, epoch: req.epoch, id: req.id });
        return;
      }
    }
    const transfer: ArrayBuffer[] = [];
    // A batch collated here is fresh: its storage may travel as is. Raw samples may share the
    // dataset's memory, so their values are copied out.
    const batch = cfg.collate ? encode(collateSamples(samples, indices ?? undefined), transfer, true) : encode(samples, transfer, false);
    post({ type: 'batch', worker: cfg.id, epoch: req.epoch, id: req.id, batch, indices }, transfer);
  };
}

const serve = start();
serve.catch(fatal);
// Requests run one at a time, in order: a stream's state must not interleave. A request's error
// is its own; a failed start was reported once already.
let queue: Promise<void> = Promise.resolve();
parentPort!.on('message', (req: Request) => {
  queue = queue.then(async () => {
    let handler: (req: Request) => Promise<void>;
    try {
      handler = await serve;
    } catch {
      return;
    }
    await handler(req).catch((e: unknown) => post({ type: 'error', worker: cfg.id, epoch: req.epoch, id: req.id, error: wireError(e) }));
  });
});
