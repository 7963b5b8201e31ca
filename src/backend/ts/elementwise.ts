// Elementwise kernels of the ts backend (copy, fill, unary, binary, where), each compiled once
// per op and dtype combination from the expression table.
import type { DType } from '../../dtype.js';
import { unaryOps, binaryOps, type UnaryOpName, type BinaryOpName } from '../../ops/elementwise.js';
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { coalesce, compileLoop, isContiguous, loadExpr, storeStmt, type Loop } from './loops.js';

// Compiled loops by op and dtypes, in nested maps: no key string is built per call (tiny ops
// spend most of their time outside the loop itself).
type Tree = Map<string, Tree | Loop>;
const cache: Tree = new Map();
function cached(k: number, body: () => string, ...key: string[]): Loop {
  let node = cache;
  for (let i = 0; i < key.length - 1; i++) {
    let next = node.get(key[i]!) as Tree | undefined;
    if (!next) node.set(key[i]!, (next = new Map()));
    node = next;
  }
  const last = key[key.length - 1]!;
  let loop = node.get(last) as Loop | undefined;
  if (!loop) node.set(last, (loop = compileLoop(k, body())));
  return loop;
}

const unitStrides = [1, 2, 3, 4].map((k) => Array.from({ length: k }, () => [1]));

/** Runs `loop` over views that share one shape: one flat loop when all are contiguous, else coalesced dims. */
function run(loop: Loop, views: readonly View<TsStorage>[], params: readonly number[] = []): void {
  const shape = views[0]!.shape;
  let n = 1;
  for (const s of shape) n *= s;
  if (n === 0) return;
  const k = views.length;
  const arrays = new Array<unknown>(k);
  const offsets = new Array<number>(k);
  let contiguous = true;
  for (let i = 0; i < k; i++) {
    const v = views[i]!;
    arrays[i] = v.storage.data;
    offsets[i] = v.offset;
    if (contiguous && !isContiguous(v)) contiguous = false;
  }
  if (contiguous) {
    loop([n], arrays, offsets, unitStrides[k - 1]!, params);
    return;
  }
  const c = coalesce(shape, views.map((v) => v.strides));
  loop(c.shape, arrays, offsets, c.strides, params);
}

export function copy(out: View<TsStorage>, x: View<TsStorage>): void {
  // Same dtype copies elements as they are (int64 stays bigint, no trip through Number).
  const direct = out.dtype === x.dtype;
  const body = () => (direct ? 'A0[i0] = A1[i1];' : storeStmt(out.dtype, 'A0[i0]', loadExpr(x.dtype, 'A1[i1]')));
  run(cached(2, body, 'copy', out.dtype, x.dtype), [out, x]);
}

export function fill(out: View<TsStorage>, value: number): void {
  run(cached(1, () => storeStmt(out.dtype, 'A0[i0]', 'p0'), 'fill', out.dtype), [out], [value]);
}

function exprBody(expr: string, out: DType, inputs: readonly DType[]): string {
  const names = ['x', 'y', 'z'];
  const loads = inputs.map((d, k) => `const ${names[k]} = ${loadExpr(d, `A${k + 1}[i${k + 1}]`)};`).join(' ');
  return `${loads} ${storeStmt(out, 'A0[i0]', `(${expr})`)}`;
}

export function unary(op: UnaryOpName, out: View<TsStorage>, x: View<TsStorage>, params: readonly number[]): void {
  const loop = cached(2, () => exprBody(unaryOps[op].expr, out.dtype, [x.dtype]), 'u', op, out.dtype, x.dtype);
  run(loop, [out, x], params);
}

export function binary(op: BinaryOpName, out: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const loop = cached(3, () => exprBody(binaryOps[op].expr, out.dtype, [a.dtype, b.dtype]), 'b', op, out.dtype, a.dtype, b.dtype);
  run(loop, [out, a, b]);
}

export function where(out: View<TsStorage>, cond: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const direct = out.dtype === a.dtype && out.dtype === b.dtype;
  const loop = cached(4, () =>
    direct ? 'A0[i0] = A1[i1] ? A2[i2] : A3[i3];' : storeStmt(out.dtype, 'A0[i0]', `A1[i1] ? ${loadExpr(a.dtype, 'A2[i2]')} : ${loadExpr(b.dtype, 'A3[i3]')}`),
    'where', out.dtype, a.dtype, b.dtype,
  );
  run(loop, [out, cond, a, b]);
}
