// Reductions and scans of the ts backend. Kept dims and reduced dims are coalesced separately;
// the reduced block is walked by one stride when it is flat, by an offset table otherwise.
import type { ReduceOpName, ScanOpName, View } from '../interface.js';
import type { TsStorage } from './storage.js';
import { coalesce, compileFunction, forEachOffset, loadExpr, storeStmt } from './loops.js';

// Each reduction: accumulator init, the update for value v at reduced position r, and the result.
const reducers: Record<ReduceOpName, { init: string; step: string; result: string }> = {
  sum: { init: 'acc = 0', step: 'acc += v', result: 'acc' },
  prod: { init: 'acc = 1', step: 'acc *= v', result: 'acc' },
  // NOTE: once acc is NaN no comparison replaces it, so NaN propagates as in PyTorch.
  max: { init: 'acc = -Infinity', step: 'if (v > acc || v !== v) acc = v', result: 'acc' },
  min: { init: 'acc = Infinity', step: 'if (v < acc || v !== v) acc = v', result: 'acc' },
  // The first maximum wins; NaN counts as the maximum (PyTorch).
  argmax: { init: 'acc = -Infinity, arg = 0', step: 'if ((v > acc || v !== v) && acc === acc) { acc = v; arg = r; }', result: 'arg' },
  argmin: { init: 'acc = Infinity, arg = 0', step: 'if ((v < acc || v !== v) && acc === acc) { acc = v; arg = r; }', result: 'arg' },
  all: { init: 'acc = 1', step: 'if (v == 0) acc = 0', result: 'acc' },
  any: { init: 'acc = 0', step: 'if (v != 0) acc = 1', result: 'acc' },
};

const exactSum = { init: 'acc = 0n', step: 'acc = BigInt.asIntN(64, acc + v)', result: 'acc' };
const exactProd = { init: 'acc = 1n', step: 'acc = BigInt.asIntN(64, acc * v)', result: 'acc' };

type ReduceKernel = (X: unknown, O: unknown, outerOffsets: Float64Array, outOffsets: Float64Array, R: Float64Array | null, rn: number, rs: number) => void;
const kernels = new Map<string, ReduceKernel>();

function kernelFor(op: ReduceOpName, out: View<TsStorage>, x: View<TsStorage>): ReduceKernel {
  const key = `${op}|${out.dtype}|${x.dtype}`;
  let k = kernels.get(key);
  if (!k) {
    // Integer sums and products accumulate exactly in 64-bit two's complement (as PyTorch's).
    const exact = (op === 'sum' || op === 'prod') && out.dtype === 'int64';
    const { init, step, result } = exact ? (op === 'sum' ? exactSum : exactProd) : reducers[op];
    const body = `
      for (let e = 0; e < outerOffsets.length; e++) {
        const base = outerOffsets[e];
        let ${init};
        if (R === null) {
          for (let r = 0, i = base; r < rn; r++, i += rs) { const v = ${exact ? 'BigInt(X[i])' : loadExpr(x.dtype, 'X[i]')}; ${step}; }
        } else {
          for (let r = 0; r < rn; r++) { const v = ${exact ? 'BigInt(X[base + R[r]])' : loadExpr(x.dtype, 'X[base + R[r]]')}; ${step}; }
        }
        ${exact ? `O[outOffsets[e]] = ${result};` : storeStmt(out.dtype, 'O[outOffsets[e]]', result)}
      }`;
    k = compileFunction<ReduceKernel>(['X', 'O', 'outerOffsets', 'outOffsets', 'R', 'rn', 'rs'], body);
    kernels.set(key, k);
  }
  return k;
}

/** Element offsets of every position of a (coalesced) block, in odometer order. */
function offsetsOf(shape: readonly number[], strides: readonly (readonly number[])[], bases: readonly number[]): Float64Array[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const outs = bases.map(() => new Float64Array(n));
  let e = 0;
  forEachOffset(shape, bases, strides, (pos) => {
    for (let k = 0; k < pos.length; k++) outs[k]![e] = pos[k]!;
    e++;
  });
  return outs;
}

export function reduce(op: ReduceOpName, out: View<TsStorage>, x: View<TsStorage>, dims: readonly number[]): void {
  const nd = x.shape.length;
  const reduced = new Set(dims);
  const kept = [...Array(nd).keys()].filter((d) => !reduced.has(d));
  if (out.shape.some((n) => n === 0)) return;
  const keptC = coalesce(kept.map((d) => x.shape[d]!), [kept.map((d) => x.strides[d]!), kept.map((d) => out.strides[d]!)]);
  const [outer, outOffs] = offsetsOf(keptC.shape, keptC.strides, [x.offset, out.offset]) as [Float64Array, Float64Array];
  const red = coalesce(dims.map((d) => x.shape[d]!), [dims.map((d) => x.strides[d]!)]);
  const rn = dims.reduce((a, d) => a * x.shape[d]!, 1);
  const flat = red.shape.length <= 1;
  const R = flat ? null : offsetsOf(red.shape, red.strides, [0])[0]!;
  const rs = flat && red.shape.length === 1 ? red.strides[0]![0]! : 0;
  kernelFor(op, out, x)(x.storage.data, out.storage.data, outer, outOffs, R, rn, rs);
}

export function scan(op: ScanOpName, out: View<TsStorage>, x: View<TsStorage>, dim: number): void {
  const others = [...x.shape.keys()].filter((d) => d !== dim);
  const n = x.shape[dim]!;
  if (x.shape.some((s) => s === 0)) return;
  const xs = x.strides[dim]!;
  const os = out.strides[dim]!;
  const X = x.storage.data;
  const O = out.storage.data;
  const big = out.dtype === 'int64';
  const xBig = x.dtype === 'int64';
  const c = coalesce(others.map((d) => x.shape[d]!), [others.map((d) => x.strides[d]!), others.map((d) => out.strides[d]!)]);
  forEachOffset(c.shape, [x.offset, out.offset], c.strides, ([xi, oi]) => {
    if (big) {
      // Integer scans run exactly in 64-bit two's complement, as PyTorch's.
      let acc = op === 'cumsum' ? 0n : 1n;
      for (let j = 0; j < n; j++) {
        const v = BigInt(X[xi! + j * xs]!);
        acc = BigInt.asIntN(64, op === 'cumsum' ? acc + v : acc * v);
        (O as BigInt64Array)[oi! + j * os] = acc;
      }
      return;
    }
    let acc = op === 'cumsum' ? 0 : 1;
    for (let j = 0; j < n; j++) {
      const v = xBig ? Number(X[xi! + j * xs]) : (X[xi! + j * xs] as number);
      acc = op === 'cumsum' ? acc + v : acc * v;
      (O as Float64Array)[oi! + j * os] = acc;
    }
  });
}
