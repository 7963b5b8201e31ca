// Elementwise kernels of the ts backend (copy, fill, unary, binary, where), each compiled once
// per op and dtype combination from the expression table.
import type { DType } from '../../dtype.js';
import { unaryOps, binaryOps, type UnaryOpName, type BinaryOpName } from '../../ops/elementwise.js';
import type { View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { coalesce, compileLoop, loadExpr, storeStmt, type Loop } from './loops.js';

const cache = new Map<string, Loop>();
function cached(key: string, k: number, body: () => string): Loop {
  let loop = cache.get(key);
  if (!loop) {
    loop = compileLoop(k, body());
    cache.set(key, loop);
  }
  return loop;
}

/** Runs `loop` over views that share one shape, coalescing their dims first. */
function run(loop: Loop, views: readonly View<TsStorage>[], params: readonly number[] = []): void {
  const shape = views[0]!.shape;
  for (const n of shape) if (n === 0) return;
  const c = coalesce(shape, views.map((v) => v.strides));
  loop(c.shape, views.map((v) => v.storage.data), views.map((v) => v.offset), c.strides, params);
}

export function copy(out: View<TsStorage>, x: View<TsStorage>): void {
  const key = `copy|${out.dtype}|${x.dtype}`;
  // Same dtype copies elements as they are (int64 stays bigint, no trip through Number).
  const direct = out.dtype === x.dtype;
  run(cached(key, 2, () => (direct ? 'A0[i0] = A1[i1];' : storeStmt(out.dtype, 'A0[i0]', loadExpr(x.dtype, 'A1[i1]')))), [out, x]);
}

export function fill(out: View<TsStorage>, value: number): void {
  run(cached(`fill|${out.dtype}`, 1, () => storeStmt(out.dtype, 'A0[i0]', 'p0')), [out], [value]);
}

function exprBody(expr: string, out: DType, inputs: readonly DType[]): string {
  const names = ['x', 'y', 'z'];
  const loads = inputs.map((d, k) => `const ${names[k]} = ${loadExpr(d, `A${k + 1}[i${k + 1}]`)};`).join(' ');
  return `${loads} ${storeStmt(out, 'A0[i0]', `(${expr})`)}`;
}

export function unary(op: UnaryOpName, out: View<TsStorage>, x: View<TsStorage>, params: readonly number[]): void {
  const loop = cached(`u|${op}|${out.dtype}|${x.dtype}`, 2, () => exprBody(unaryOps[op].expr, out.dtype, [x.dtype]));
  run(loop, [out, x], params);
}

export function binary(op: BinaryOpName, out: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const loop = cached(`b|${op}|${out.dtype}|${a.dtype}|${b.dtype}`, 3, () => exprBody(binaryOps[op].expr, out.dtype, [a.dtype, b.dtype]));
  run(loop, [out, a, b]);
}

export function where(out: View<TsStorage>, cond: View<TsStorage>, a: View<TsStorage>, b: View<TsStorage>): void {
  const direct = out.dtype === a.dtype && out.dtype === b.dtype;
  const key = `where|${out.dtype}|${a.dtype}|${b.dtype}`;
  const loop = cached(key, 4, () =>
    direct ? 'A0[i0] = A1[i1] ? A2[i2] : A3[i3];' : storeStmt(out.dtype, 'A0[i0]', `A1[i1] ? ${loadExpr(a.dtype, 'A2[i2]')} : ${loadExpr(b.dtype, 'A3[i3]')}`),
  );
  run(loop, [out, cond, a, b]);
}
