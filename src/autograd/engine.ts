// The backward engine: counts each node's dependants, then runs nodes once all their gradients
// have arrived, summing gradients that meet, undoing broadcasting, and freeing what ran.
import type { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../tensor/storage.js';
import { AnomalyError, AutogradError } from '../errors.js';
import { AccumulateGrad, releasedError, type Edge, type Node } from './node.js';
import { isAnomalyEnabled, isGradEnabled, setGradEnabled } from './grad_mode.js';
import { withoutAutocast } from '../amp/autocast.js';
import { sumToShape } from './sum_to_shape.js';
import { fmtShape, sameShape } from '../tensor/shape.js';

export interface EngineOptions {
  retainGraph: boolean;
  createGraph: boolean;
}

/** The edge a tensor's gradient enters the graph through (its leaf accumulator for leaves). */
export function gradientEdge(t: Tensor): Edge | null {
  if (t.gradFn !== null) return { node: t.gradFn, outputNr: t.outputNr };
  if (t.requiresGrad) return { node: t.accumulator(), outputNr: 0 };
  return null;
}

/**
 * Runs backward from `roots` seeded with `grads`. With `captures` (autograd.grad), returns the
 * gradients arriving at those edges and leaves `.grad` untouched; otherwise accumulates into leaves.
 */
export function runBackward(roots: readonly Edge[], grads: readonly Tensor[], opts: EngineOptions, captures?: readonly Edge[]): (Tensor | null)[] {
  const callbacks: (() => void)[] = [];
  running.push(callbacks);
  try {
    const results = runGraph(roots, grads, opts, captures);
    // Callbacks may queue more callbacks (each runs once).
    for (let i = 0; i < callbacks.length; i++) callbacks[i]!();
    return results;
  } finally {
    running.pop();
  }
}

/** Callbacks queued by each backward in progress (innermost last: a hook may call backward). */
const running: (() => void)[][] = [];

/**
 * Runs `callback` once the backward in progress has finished (PyTorch's
 * `Variable._execution_engine.queue_callback`): DDP waits there for its last all-reduces.
 * Raises outside a backward. Example (inside a hook): `autograd.queueCallback(() => flush())`.
 */
export function queueCallback(callback: () => void): void {
  const list = running[running.length - 1];
  if (!list) throw new AutogradError('queueCallback', 'a callback can only be queued while backward runs (from a hook)');
  list.push(callback);
}

function runGraph(roots: readonly Edge[], grads: readonly Tensor[], opts: EngineOptions, captures?: readonly Edge[]): (Tensor | null)[] {
  // Dependants of each node reachable from the roots.
  const deps = new Map<Node, number>();
  const stack: Node[] = [];
  for (const r of roots) {
    if (!deps.has(r.node)) {
      deps.set(r.node, 0);
      stack.push(r.node);
    }
  }
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (const e of node.next) {
      if (e === null) continue;
      const d = deps.get(e.node);
      if (d === undefined) {
        deps.set(e.node, 1);
        stack.push(e.node);
      } else deps.set(e.node, d + 1);
    }
  }

  // With captures, only nodes that lead to a captured edge need to run.
  const captured = new Map<Node, Map<number, number>>();
  captures?.forEach((c, i) => {
    let slots = captured.get(c.node);
    if (!slots) captured.set(c.node, (slots = new Map()));
    slots.set(c.outputNr, i);
  });
  const needed = captures ? neededNodes(deps, captured) : null;
  const results: (Tensor | null)[] = captures ? captures.map(() => null) : [];

  const buffers = new Map<Node, (Tensor | null)[]>();
  const addGrad = (e: Edge, g: Tensor) => {
    let buf = buffers.get(e.node);
    if (!buf) buffers.set(e.node, (buf = new Array<Tensor | null>(e.node.numOutputs).fill(null)));
    const prev = buf[e.outputNr]!;
    buf[e.outputNr] = prev === null ? g : prev.add(g);
  };
  roots.forEach((r, i) => addGrad(r, grads[i]!));
  // Storage already handed out (to a leaf, or the caller's own gradients): a leaf gets its own copy
  // of such a gradient (add's backward returns [g, g]; reshape's returns a view of g), so that
  // changing one .grad in place never changes another tensor. Broadcast views are copied too.
  const handedOut = new Set<Storage>(grads.map((g) => g.storage));

  const ready = new NodeHeap();
  for (const [node, d] of deps) if (d === 0) ready.push(node);
  const prevMode = isGradEnabled();
  setGradEnabled(opts.createGraph);
  try {
    // Backward is never autocast (as in PyTorch): each gradient runs in the dtypes its forward recorded.
    withoutAutocast(() => drain());
  } finally {
    setGradEnabled(prevMode);
  }
  return results;

  function drain(): void {
    while (ready.size > 0) {
      const node = ready.pop();
      const buf = buffers.get(node);
      buffers.delete(node);
      const outGrads = runNode(node, buf ?? null, opts, captured, results, handedOut, needed);
      for (let i = 0; i < node.next.length; i++) {
        const e = node.next[i]!;
        if (e === null) continue;
        const g = outGrads[i];
        if (g) addGrad(e, g);
        const d = deps.get(e.node)! - 1;
        deps.set(e.node, d);
        if (d === 0) ready.push(e.node);
      }
    }
  }
}

/** Ready nodes, latest-created first (as PyTorch runs them), so long chains free memory early. */
class NodeHeap {
  private items: Node[] = [];
  get size(): number {
    return this.items.length;
  }
  push(n: Node): void {
    const a = this.items;
    a.push(n);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]!.seq >= a[i]!.seq) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Node {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.seq > a[m]!.seq) m = l;
        if (r < a.length && a[r]!.seq > a[m]!.seq) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** The nodes from which a captured node can be reached (walked backwards, without recursion). */
function neededNodes(deps: Map<Node, number>, captured: Map<Node, Map<number, number>>): Set<Node> {
  const users = new Map<Node, Node[]>();
  for (const n of deps.keys()) {
    for (const e of n.next) {
      if (!e) continue;
      let list = users.get(e.node);
      if (!list) users.set(e.node, (list = []));
      list.push(n);
    }
  }
  const needed = new Set<Node>();
  const stack = [...captured.keys()].filter((n) => deps.has(n));
  for (const n of stack) needed.add(n);
  while (stack.length > 0) {
    for (const u of users.get(stack.pop()!) ?? []) {
      if (!needed.has(u)) {
        needed.add(u);
        stack.push(u);
      }
    }
  }
  return needed;
}

function runNode(
  node: Node,
  buf: (Tensor | null)[] | null,
  opts: EngineOptions,
  captured: Map<Node, Map<number, number>>,
  results: (Tensor | null)[],
  handedOut: Set<Storage>,
  needed: Set<Node> | null,
): (Tensor | null)[] {
  if (buf === null || buf.every((g) => g === null) || (needed !== null && !needed.has(node))) return [];
  // Tensor hooks may replace a gradient (of the same shape); retainGrad's hook stores it.
  if (node.tensorHooks) {
    node.tensorHooks.forEach((hooks, slot) => {
      for (const hook of hooks) {
        const g = buf[slot];
        if (!g) continue;
        const r = hook(g);
        if (!r) continue;
        if (!sameShape(r.shape, g.shape)) {
          throw new AutogradError('registerHook', `a hook changed the gradient's shape from ${fmtShape(g.shape)} to ${fmtShape(r.shape)}`);
        }
        buf[slot] = r;
      }
    });
  }
  const slots = captured.get(node);
  if (slots) for (const [slot, i] of slots) results[i] = buf[slot] ?? null;
  if (node instanceof AccumulateGrad) {
    if (needed !== null) return []; // autograd.grad leaves .grad alone
    let g = buf[0]!;
    // A leaf's .grad never shares memory with another gradient or the caller's tensors, and is
    // dense: those cases are copied. A contiguous view of a temporary is kept as it is (the .grad
    // setter also keeps its base alive past any scope); the transposed-weight gradient of a linear
    // layer arrives that way.
    if (handedOut.has(g.storage) || !g.isContiguous()) g = g.clone();
    handedOut.add(g.storage);
    node.apply([g]);
    return [];
  }
  if (node.released) throw releasedError(node.name);
  // Missing output gradients of multi-output nodes are zeros.
  const full = buf.map((g, i) => g ?? node.zerosForOutput(i));
  const grads = node.apply(full);
  if (!opts.retainGraph) node.release();
  const out: (Tensor | null)[] = [];
  for (let i = 0; i < node.next.length; i++) {
    let g = grads[i] ?? null;
    const meta = node.inputMeta[i];
    if (g !== null && meta) {
      if (!sameShape(g.shape, meta.shape)) {
        if (g.ndim >= meta.shape.length) g = sumToShape(g, meta.shape);
        if (!sameShape(g.shape, meta.shape)) {
          throw new AutogradError(node.name, `backward returned a gradient of shape ${fmtShape(g.shape)} for input ${i} of shape ${fmtShape(meta.shape)}`);
        }
      }
      if (g.dtype !== meta.dtype) g = g.to(meta.dtype);
      if (isAnomalyEnabled()) checkFinite(node, g, i);
    }
    out.push(node.next[i] ? g : null);
  }
  return out;
}

function checkFinite(node: Node, g: Tensor, input: number): void {
  if (g.isfinite().all().item()) return;
  const where = node.stack ? `\nThe forward op ran at:\n${node.stack.split('\n').slice(1).join('\n')}` : '';
  throw new AnomalyError(node.name, `backward returned NaN or Inf in the gradient of input ${input}.${where}`);
}

export function nonScalarError(op: string, shape: readonly number[]): AutogradError {
  return new AutogradError(op, `grad can be created implicitly only for scalar outputs, got shape [${shape.join(', ')}]; pass a gradient of that shape`);
}
