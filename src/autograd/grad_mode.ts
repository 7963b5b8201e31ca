// Whether ops record the graph, and whether backward checks for NaN/Inf (anomaly mode).
// NOTE: a plain module flag, like PyTorch's thread-local: JS runs one job at a time, so it is
// exact for synchronous code; async callbacks of noGrad keep the mode across their awaits.

let enabled = true;
let anomaly = false;

/** True when ops record the autograd graph. */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Turns graph recording on or off. Example: `setGradEnabled(false)`. */
export function setGradEnabled(mode: boolean): void {
  enabled = mode;
}

/** Runs fn with a flag set, restoring it after (after the promise settles for an async fn). */
function withFlag<T>(set: (v: boolean) => void, prev: boolean, value: boolean, fn: () => T): T {
  set(value);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    set(prev);
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => set(prev)) as T;
  set(prev);
  return result;
}

function withMode<T>(mode: boolean, fn: () => T): T {
  return withFlag((v) => (enabled = v), enabled, mode, fn);
}

/** Runs `fn` without recording the graph (PyTorch's `torch.no_grad()`). Example: `noGrad(() => w.sub_(g.mul(lr)))`. */
export function noGrad<T>(fn: () => T): T {
  return withMode(false, fn);
}

/** Runs `fn` recording the graph, even inside `noGrad`. Example: `enableGrad(() => x.mul(2))`. */
export function enableGrad<T>(fn: () => T): T {
  return withMode(true, fn);
}

/** True inside `detectAnomaly`. */
export function isAnomalyEnabled(): boolean {
  return anomaly;
}

/**
 * Runs `fn` with anomaly detection: ops remember where they ran, and a backward that produces
 * NaN or Inf raises an `AnomalyError` naming the forward op and its stack.
 * Example: `detectAnomaly(() => loss.backward())`.
 */
export function detectAnomaly<T>(fn: () => T): T {
  return withFlag((v) => (anomaly = v), anomaly, true, fn);
}
