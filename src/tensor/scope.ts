// Deterministic release: scope(fn) disposes the tensors created inside fn that it does not
// return (what `tf.tidy` does), so device memory is freed without waiting for the collector.
// The open scope lives in an AsyncLocalStorage context, so concurrent async scopes stay apart.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Tensor } from './tensor.js';

interface Scope {
  readonly created: Set<Tensor>;
  readonly parent: Scope | undefined;
}

const context = new AsyncLocalStorage<Scope>();
/** How many live graph nodes saved each tensor for backward. */
const savedCount = new WeakMap<Tensor, number>();
/** Tensors a scope would have disposed but a graph still needed: disposed when the graph lets go. */
const pending = new WeakSet<Tensor>();

/** Marks `t` as saved by a graph node (a scope will not dispose it while saved). */
export function retainSaved(t: Tensor): void {
  savedCount.set(t, (savedCount.get(t) ?? 0) + 1);
}
/** A graph node let go of `t`; disposes it if a scope has already ended without it. */
export function releaseSaved(t: Tensor): void {
  const n = (savedCount.get(t) ?? 1) - 1;
  savedCount.set(t, n);
  if (n <= 0 && pending.has(t)) {
    pending.delete(t);
    t.dispose();
  }
}

export function trackInScope(t: Tensor): void {
  context.getStore()?.created.add(t);
}

function collect(value: unknown, into: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('storage' in value && 'shape' in value && 'strides' in value) {
    into.add(value as Tensor);
    return;
  }
  for (const v of value instanceof Map ? value.values() : Object.values(value)) collect(v, into, seen);
}

function close(scope: Scope, result: unknown): void {
  const kept = new Set<Tensor>();
  collect(result, kept);
  // A kept view needs its base, and so does a view a graph saved: their memory is the base's.
  for (const t of scope.created) if ((savedCount.get(t) ?? 0) > 0 && t.base) kept.add(t.base);
  for (const t of [...kept]) if (t.base) kept.add(t.base);
  for (const t of scope.created) {
    if (kept.has(t)) scope.parent?.created.add(t);
    else if ((savedCount.get(t) ?? 0) > 0) pending.add(t);
    else t.dispose();
  }
}

/**
 * Runs `fn` and disposes every tensor it created except those in its result (a tensor, or
 * arrays/objects of them) and those a live autograd graph still needs. Works with async fns.
 * Example: `const loss = fm.scope(() => model(x).sub(y).square().mean())`.
 */
export function scope<T>(fn: () => T): T {
  const s: Scope = { created: new Set(), parent: context.getStore() };
  let result: T;
  try {
    result = context.run(s, fn);
  } catch (e) {
    close(s, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => {
        close(s, r);
        return r;
      },
      (e) => {
        close(s, undefined);
        throw e;
      },
    ) as T;
  }
  close(s, result);
  return result;
}

/** Exempts `t` (and the base it views) from the enclosing scopes' disposal. Example: `fm.keep(runningMean)`. */
export function keep<T extends Tensor>(t: T): T {
  for (let s = context.getStore(); s; s = s.parent) {
    s.created.delete(t);
    if (t.base) s.created.delete(t.base);
  }
  return t;
}
