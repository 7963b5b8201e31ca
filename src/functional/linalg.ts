// Matrix products: matmul with PyTorch's 1-D, 2-D and batched broadcasting rules, bmm, dot,
// outer, and einsum as permutes, reshapes and batched matmuls.
import type { Tensor } from '../tensor/tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import { applyOp, describeInputs } from '../ops/dispatch.js';
import { broadcastShapes, fmtShape } from '../tensor/shape.js';
import { expand, permute, reshape, squeeze, unsqueeze } from './shape.js';
import { sum } from './reduction.js';
import { eye } from './creation.js';
import { autocastLower } from '../amp/autocast.js';

/**
 * Matrix product with PyTorch's rules: 1-D operands gain (and lose) a dim, batch dims
 * broadcast. Example: `fm.matmul(x, w.T)`.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  [a, b] = autocastLower(a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError('matmul', `both arguments need at least 1 dim, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const a2 = a.ndim === 1 ? unsqueeze(a, 0) : a;
  const b2 = b.ndim === 1 ? unsqueeze(b, 1) : b;
  const k = a2.shape[a2.ndim - 1]!;
  if (b2.shape[b2.ndim - 2] !== k) {
    throw new ShapeError('matmul', `shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${k} != ${b2.shape[b2.ndim - 2]}) (inputs: ${describeInputs([a, b])})`);
  }
  let batch: number[];
  try {
    batch = broadcastShapes('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  } catch {
    throw new ShapeError('matmul', `the batch dims of ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be broadcast together (inputs: ${describeInputs([a, b])})`);
  }
  const ae = expand(a2, [...batch, ...a2.shape.slice(-2)]);
  const be = expand(b2, [...batch, ...b2.shape.slice(-2)]);
  let out = applyOp('matmul', [ae, be], null);
  if (a.ndim === 1) out = squeeze(out, -2);
  if (b.ndim === 1) out = squeeze(out, -1);
  return out;
}

/** Batched product of [B, n, m] and [B, m, p] (no broadcasting). Example: `fm.bmm(q, k.mT)`. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 3 || b.ndim !== 3 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError('bmm', `expected 3-D tensors with equal batch sizes, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  return matmul(a, b);
}

/** Inner product of two 1-D tensors. Example: `fm.dot(a, b)`. */
export function dot(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 1 || b.ndim !== 1 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError('dot', `expected two 1-D tensors of the same size, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  return matmul(a, b);
}

/** Outer product of two 1-D tensors. Example: `fm.outer(a, b)`. */
export function outer(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 1 || b.ndim !== 1) throw new ShapeError('outer', `expected two 1-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return unsqueeze(a, 1).mul(unsqueeze(b, 0));
}

/** Parses 'ij,jk->ik' (ellipsis not supported; implicit output = labels seen once, sorted). */
function parseEquation(eq: string, n: number): { inputs: string[][]; output: string[] } {
  const clean = eq.replace(/\s/g, '');
  const [lhs, rhs] = clean.split('->') as [string, string | undefined];
  const inputs = lhs.split(',').map((s) => [...s]);
  if (inputs.length !== n) throw new ValueError('einsum', `equation '${eq}' has ${inputs.length} operands but ${n} tensors were given`);
  for (const term of [...inputs, ...(rhs === undefined ? [] : [[...rhs]])]) {
    for (const c of term) if (!/[a-zA-Z]/.test(c)) throw new ValueError('einsum', `invalid subscript '${c}' in '${eq}' (letters only; '...' is not supported)`);
  }
  const counts = new Map<string, number>();
  for (const t of inputs) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
  const output = rhs === undefined ? [...counts.keys()].filter((c) => counts.get(c) === 1).sort() : [...rhs];
  for (const c of output) if (!counts.has(c)) throw new ValueError('einsum', `output subscript '${c}' does not appear in the inputs of '${eq}'`);
  return { inputs, output };
}

/** Takes the diagonal of repeated labels in one operand ('ii->i'), as a mask-and-sum. */
function dedupe(t: Tensor, labels: string[]): { t: Tensor; labels: string[] } {
  for (let i = 0; i < labels.length; i++) {
    const j = labels.indexOf(labels[i]!, i + 1);
    if (j < 0) continue;
    const n = t.shape[i]!;
    if (t.shape[j] !== n) throw new ShapeError('einsum', `subscript '${labels[i]}' is repeated with sizes ${n} and ${t.shape[j]}`);
    const diag = eye(n, { dtype: t.dtype, device: t.device });
    const shape = t.shape.map(() => 1);
    shape[i] = n;
    shape[j] = n;
    const picked = sum(t.mul(reshape(diag, shape)), j);
    return dedupe(picked, labels.filter((_, k) => k !== j));
  }
  return { t, labels };
}

/**
 * Einstein summation: operands are contracted pairwise with batched matmuls.
 * Example: `fm.einsum('bij,bjk->bik', a, b)`.
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  const { inputs, output } = parseEquation(equation, operands.length);
  const sizes = new Map<string, number>();
  let terms = operands.map((t, i) => {
    if (inputs[i]!.length !== t.ndim) throw new ShapeError('einsum', `operand ${i} has ${t.ndim} dims but subscripts '${inputs[i]!.join('')}' name ${inputs[i]!.length}`);
    const d = dedupe(t, inputs[i]!);
    d.labels.forEach((c, k) => {
      const n = d.t.shape[k]!;
      const prev = sizes.get(c);
      if (prev !== undefined && prev !== n && prev !== 1 && n !== 1) throw new ShapeError('einsum', `subscript '${c}' has size ${n} in operand ${i} but ${prev} before`);
      if (prev === undefined || prev === 1) sizes.set(c, n);
    });
    return d;
  });
  // Labels needed after the operands consumed so far: the output's and those of later operands.
  while (terms.length > 1) {
    const [x, y, ...rest] = terms as [typeof terms[0], typeof terms[0], ...typeof terms];
    const later = new Set([...output, ...rest.flatMap((r) => r.labels)]);
    terms = [contractPair(x, y, later, sizes), ...rest];
  }
  // Sum what the output does not keep, then order the output's labels.
  let { t, labels } = terms[0]!;
  const drop = labels.map((c, k) => (output.includes(c) ? -1 : k)).filter((k) => k >= 0);
  if (drop.length > 0) {
    t = sum(t, drop);
    labels = labels.filter((c) => output.includes(c));
  }
  return labels.length === 0 ? t : permute(t, output.map((c) => labels.indexOf(c)));
}

/** Contracts two labelled operands into one whose labels are batch, x-only, y-only (kept ones). */
function contractPair(x: { t: Tensor; labels: string[] }, y: { t: Tensor; labels: string[] }, later: Set<string>, sizes: Map<string, number>) {
  // Labels only in one operand and not needed later are summed first.
  const pre = (a: typeof x, other: typeof x) => {
    const drop = a.labels.map((c, k) => (!other.labels.includes(c) && !later.has(c) ? k : -1)).filter((k) => k >= 0);
    return drop.length === 0 ? a : { t: sum(a.t, drop), labels: a.labels.filter((_, k) => !drop.includes(k)) };
  };
  const a = pre(x, y);
  const b = pre(y, x);
  const shared = a.labels.filter((c) => b.labels.includes(c));
  const batch = shared.filter((c) => later.has(c));
  const contracted = shared.filter((c) => !later.has(c));
  const aOnly = a.labels.filter((c) => !shared.includes(c));
  const bOnly = b.labels.filter((c) => !shared.includes(c));
  const size = (cs: string[]) => cs.reduce((p, c) => p * sizes.get(c)!, 1);
  const arrange = (s: typeof a, order: string[], shape: number[]) =>
    reshape(expand(permute(s.t, order.map((c) => s.labels.indexOf(c))), order.map((c) => sizes.get(c)!)), shape);
  const am = arrange(a, [...batch, ...aOnly, ...contracted], [size(batch), size(aOnly), size(contracted)]);
  const bm = arrange(b, [...batch, ...contracted, ...bOnly], [size(batch), size(contracted), size(bOnly)]);
  const labels = [...batch, ...aOnly, ...bOnly];
  return { t: reshape(matmul(am, bm), labels.map((c) => sizes.get(c)!)), labels };
}
