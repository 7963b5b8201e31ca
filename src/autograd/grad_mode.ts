// Whether ops record the graph, and whether backward checks for NaN/Inf (anomaly mode).
// The modes live in an AsyncLocalStorage context: noGrad(async () => ...) keeps grad off across
// its own awaits without turning it off for the caller's code that runs meanwhile.
import { AsyncLocalStorage } from 'node:async_hooks';

interface Modes {
  grad: boolean;
  anomaly: boolean;
}

const context = new AsyncLocalStorage<Modes>();
const outside: Modes = { grad: true, anomaly: false };

function current(): Modes {
  return context.getStore() ?? outside;
}

/** Runs fn (sync or async) in a context with the given modes changed. */
function withModes<T>(patch: Partial<Modes>, fn: () => T): T {
  return context.run({ ...current(), ...patch }, fn);
}

/** True when ops record the autograd graph. */
export function isGradEnabled(): boolean {
  return current().grad;
}

/** Turns graph recording on or off (in the current context). Example: `setGradEnabled(false)`. */
export function setGradEnabled(mode: boolean): void {
  current().grad = mode;
}

/** Runs `fn` without recording the graph (PyTorch's `torch.no_grad()`); works with async fns. Example: `noGrad(() => w.sub_(g.mul(lr)))`. */
export function noGrad<T>(fn: () => T): T {
  return withModes({ grad: false }, fn);
}

/** Runs `fn` recording the graph, even inside `noGrad`. Example: `enableGrad(() => x.mul(2))`. */
export function enableGrad<T>(fn: () => T): T {
  return withModes({ grad: true }, fn);
}

/** True inside `detectAnomaly`. */
export function isAnomalyEnabled(): boolean {
  return current().anomaly;
}

/**
 * Runs `fn` with anomaly detection: ops remember where they ran, and a backward that produces
 * NaN or Inf raises an `AnomalyError` naming the forward op and its stack.
 * Example: `detectAnomaly(() => loss.backward())`.
 */
export function detectAnomaly<T>(fn: () => T): T {
  return withModes({ anomaly: true }, fn);
}
