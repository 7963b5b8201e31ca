// Deterministic release: scope(fn) disposes the tensors created inside fn that it does not
// return (what `tf.tidy` does), so device memory is freed without waiting for the collector.
// The open scope lives in an AsyncLocalStorage context, so concurrent async scopes stay apart.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Tensor } from './tensor.js';

interface Scope {
  readonly created: Set<Tensor>;
  /** Tensors kept only while their holder holds them (keepWhileHeld): disposed at close otherwise. */
  readonly held: [Tensor, () => boolean][];
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
  // A leaf's gradient that the leaf let go of inside the scope (`p.grad = null`, zeroGrad) is a
  // tensor the scope made and does not return: disposed, so its memory is reused at once rather
  // than left to the collector (an MLP step dropped 1 MB of gradients a step, and the collector's
  // full collections for that external memory cost 2-8 ms every 30 steps). Still held: the outer
  // scope decides; with none, the holder's letting go later (letGo) does. One the scope returns
  // (itself, or a view of the base it views) or that keep() exempted is the caller's.
  for (const [t, holds] of scope.held) {
    if (isExempt(t)) continue;
    const returned = kept.has(t) || (t.base !== null && kept.has(t.base));
    if (holds()) {
      if (scope.parent) scope.parent.held.push([t, holds]);
      else if (!returned) markOutlived(t);
    } else if (!returned) disposeHeld(t, kept);
  }
  // Returned now, a gradient an earlier scope left to letGo is the caller's too.
  for (const t of kept) {
    outlived.delete(t);
    const viewed = t.base && outlivedViewOf.get(t.base);
    if (viewed) outlived.delete(viewed);
  }
}

/** Disposes a held tensor the scopes no longer keep; one a graph saved goes when the graph lets go. */
function disposeHeld(t: Tensor, kept: ReadonlySet<Tensor>): void {
  if (t.isDisposed) return;
  if ((savedCount.get(t) ?? 0) > 0) {
    pending.add(t);
    return;
  }
  t.dispose();
  // A gradient that is a view (a transposed weight's) goes with the base the scope made for it.
  const base = t.base;
  if (base && !kept.has(base) && !exempt.has(base) && (savedCount.get(base) ?? 0) === 0 && heldBases.has(base)) base.dispose();
}

/** keep() exempted t, or the tensor t views (keeping a view keeps the memory it reads). */
function isExempt(t: Tensor): boolean {
  return exempt.has(t) || (t.base !== null && exempt.has(t.base));
}

/** Held tensors that outlived the outermost scope that made them only because their holder still held them. */
const outlived = new WeakSet<Tensor>();
/** For such a tensor that is a view of a base the scope made for it: the base, to the view. */
const outlivedViewOf = new WeakMap<Tensor, Tensor>();
/** Tensors keep() exempted: never disposed by a scope, nor by letGo. */
const exempt = new WeakSet<Tensor>();

function markOutlived(t: Tensor): void {
  outlived.add(t);
  if (t.base && heldBases.has(t.base)) outlivedViewOf.set(t.base, t);
}

/**
 * The holder of `t` let go of it after the scope that made it had closed (`zeroGrad()` at the top
 * of the next step, PyTorch's idiom): disposed now, as that scope would have disposed it had the
 * holder let go before it closed, so the next backward reuses its memory at once. Left to the
 * collector instead, each step's gradients were fresh memory: an MLP step with zeroGrad first ran
 * at 1.76-1.99 ms, against 1.07-1.54 with zeroGrad last. Not affected: tensors made outside any
 * scope, those the outermost scope that made them returned (or a later scope returned), and those
 * keep() exempted (or a view of them). Backward calls it too, on a gradient a sum replaces when it
 * cannot add in place (create_graph). One a graph saved goes when the graph lets go of it. NOTE: a
 * graph that saved a view of it (not it) is not seen here; and a gradient made by a scope nested
 * in one still open stays in that outer scope's care until it closes (not freed here).
 */
export function letGo(t: Tensor | null): void {
  if (t === null || !outlived.has(t)) return;
  outlived.delete(t);
  if (!isExempt(t)) disposeHeld(t, nothingKept);
}
const nothingKept: ReadonlySet<Tensor> = new Set();

/** `p.grad = null`, then letGo of the old gradient (what zeroGrad does to each parameter). */
export function dropGrad(p: Tensor): void {
  const old = p.grad;
  p.grad = null;
  letGo(old);
}

/**
 * Runs `fn` and disposes every tensor it created except those in its result (a tensor, or
 * arrays/objects of them) and those a live autograd graph still needs. Works with async fns.
 * Example: `const loss = fm.scope(() => model(x).sub(y).square().mean())`.
 */
export function scope<T>(fn: () => T): T {
  const s: Scope = { created: new Set(), held: [], parent: context.getStore() };
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
  untrack(t);
  exempt.add(t);
  if (t.base) exempt.add(t.base);
  return t;
}

/** Takes `t` (and the base it views) out of the enclosing scopes' created tensors. */
function untrack(t: Tensor): void {
  for (let s = context.getStore(); s; s = s.parent) {
    s.created.delete(t);
    if (t.base) s.created.delete(t.base);
  }
}

/**
 * Keeps `t` from the enclosing scopes' disposal while `holds()` is true when a scope closes (the
 * engine's leaf gradients: kept while the leaf's `.grad` is this tensor). A tensor the scope
 * made, let go of by its holder and not returned, is disposed at the close like any other.
 */
export function keepWhileHeld<T extends Tensor>(t: T, holds: () => boolean): T {
  const scope = context.getStore();
  const created = scope?.created.has(t) ?? false;
  if (created && t.base && scope!.created.has(t.base)) heldBases.add(t.base);
  untrack(t);
  if (created) scope!.held.push([t, holds]);
  return t;
}
/** Bases that a scope made for a gradient view it keeps while held (disposed with the view). */
const heldBases = new WeakSet<Tensor>();
