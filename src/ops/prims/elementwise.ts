// Registry entries of the elementwise primitives (one per row of ../elementwise.ts), where,
// and the copies: cast, clone, toDevice.
import type { Tensor } from '../../tensor/tensor.js';
import { resultType, toFloating, type DType } from '../../dtype.js';
import { hostArray } from '../../backend/ts/storage.js';
import type { Device } from '../../device.js';
import { DTypeError } from '../../errors.js';
import { broadcastShapes, broadcastStrides, sameShape } from '../../tensor/shape.js';
import { unaryOps, binaryOps, type UnaryOpName, type BinaryOpName, type BinaryGrad } from '../elementwise.js';
import { backendOf, broadcastView, emptyTensor } from '../dispatch.js';
import { noGradCtx, type OpDef } from '../op_def.js';

/** A copy of `t` as `dtype`, outside autograd (forwards use it to bring inputs to the compute dtype). */
export function castRaw(t: Tensor, dtype: DType): Tensor {
  return t.dtype === dtype ? t : copyAs(t, dtype);
}

/** A new contiguous tensor holding t's values as `dtype` (the strided copy-and-cast kernel). */
function copyAs(t: Tensor, dtype: DType): Tensor {
  const out = emptyTensor(t.shape, dtype, t.device);
  backendOf(t).copy(out.view_(), t.view_());
  return out;
}

function unaryDef(name: UnaryOpName): OpDef<readonly number[]> {
  const def: (typeof unaryOps)[UnaryOpName] = unaryOps[name];
  const grad = 'grad' in def ? def.grad : undefined;
  const saves = 'saves' in def ? def.saves : undefined;
  const savesX = grad !== undefined && (saves === 'xy' || (saves === undefined && grad.length >= 2));
  const savesY = saves === 'y' || saves === 'xy';
  return {
    forward(ctx, [x], params) {
      const inType = def.dtype === 'float' ? toFloating(x!.dtype) : x!.dtype;
      const out = emptyTensor(x!.shape, def.dtype === 'bool' ? 'bool' : inType, x!.device);
      backendOf(x!).unary(name, out.view_(), castRaw(x!, inType).view_(), params);
      if (savesX) ctx.save(x!);
      if (savesY) ctx.save(out);
      return out;
    },
    backward: grad && ((ctx, g, params) => {
      const x = savesX ? ctx.get(0) : (undefined as unknown as Tensor);
      const y = savesY ? ctx.get(savesX ? 1 : 0) : (undefined as unknown as Tensor);
      return [grad(g, x, y, params)];
    }),
  };
}

/** Whether a needed gradient reads the inputs (declares them as parameters). */
function usesInputs(needs: readonly boolean[], grad: readonly [BinaryGrad, BinaryGrad]): boolean {
  return (needs[0]! && grad[0].length >= 2) || (needs[1]! && grad[1].length >= 2);
}

function binaryDef(name: BinaryOpName): OpDef<null> {
  const def: (typeof binaryOps)[BinaryOpName] = binaryOps[name];
  const grad = 'grad' in def ? (def.grad as readonly [BinaryGrad, BinaryGrad]) : undefined;
  const savesOut = 'savesOutput' in def && def.savesOutput === true;
  return {
    forward(ctx, [a, b]) {
      const shape = broadcastShapes(name, a!.shape, b!.shape);
      const promoted = resultType([a!, b!]);
      const inType = def.dtype === 'float' ? toFloating(promoted) : promoted;
      const out = emptyTensor(shape, def.dtype === 'bool' ? 'bool' : inType, a!.device);
      const ac = castRaw(a!, inType);
      const bc = castRaw(b!, inType);
      const av = sameShape(ac.shape, shape) ? ac.view_() : broadcastView(ac, shape, broadcastStrides(ac.shape, ac.strides, shape));
      const bv = sameShape(bc.shape, shape) ? bc.view_() : broadcastView(bc, shape, broadcastStrides(bc.shape, bc.strides, shape));
      backendOf(a!).binary(name, out.view_(), av, bv);
      if (grad && ctx !== noGradCtx && usesInputs(ctx.needsGrad, grad)) ctx.save(a!, b!);
      if (savesOut) ctx.save(out);
      return out;
    },
    backward: grad && ((ctx, g) => {
      const inputs = usesInputs(ctx.needsGrad, grad);
      const a = inputs ? ctx.get(0) : (undefined as unknown as Tensor);
      const b = inputs ? ctx.get(1) : (undefined as unknown as Tensor);
      const out = savesOut ? ctx.get(inputs ? 2 : 0) : (undefined as unknown as Tensor);
      return ctx.needsGrad.map((n, i) => (n ? grad[i]!(g, a, b, out) : null));
    }),
  };
}

function mapNames<N extends string, V>(names: readonly N[], f: (n: N) => V): Record<N, V> {
  return Object.fromEntries(names.map((n) => [n, f(n)])) as Record<N, V>;
}

export const unaryDefs = mapNames(Object.keys(unaryOps) as UnaryOpName[], unaryDef);
export const binaryDefs = mapNames(Object.keys(binaryOps) as BinaryOpName[], binaryDef);

export const copyDefs = {
  // where(cond, a, b): the gradient goes to a where cond holds, to b elsewhere.
  where: {
    forward(ctx, [cond, a, b]) {
      if (cond!.dtype !== 'bool') throw new DTypeError('where', `condition must be a bool tensor, got ${cond!.dtype}`);
      const shape = broadcastShapes('where', cond!.shape, a!.shape, b!.shape);
      const dtype = resultType([a!, b!]);
      const out = emptyTensor(shape, dtype, a!.device);
      const v = (t: Tensor) => broadcastView(t, shape, broadcastStrides(t.shape, t.strides, shape));
      backendOf(a!).where(out.view_(), v(cond!), v(castRaw(a!, dtype)), v(castRaw(b!, dtype)));
      ctx.save(cond!);
      return out;
    },
    backward(ctx, g) {
      const cond = ctx.get(0);
      const [, na, nb] = ctx.needsGrad;
      return [null, na ? g.where(cond, 0) : null, nb ? g.where(cond.logicalNot(), 0) : null];
    },
  } satisfies OpDef<null>,
  cast: {
    forward: (_ctx, [x], dtype) => copyAs(x!, dtype),
    backward: (_ctx, g) => [g], // the engine casts the gradient back to the input's dtype
  } satisfies OpDef<DType>,
  clone: {
    forward: (_ctx, [x]) => copyAs(x!, x!.dtype),
    backward: (_ctx, g) => [g],
  } satisfies OpDef<null>,
  toDevice: {
    // Between backends the values travel through the host: a cpu source is handed over as it is
    // (the write copies it, or, from pinned memory with nonBlocking, queues the copy), any other
    // is read to the host first.
    forward: (_ctx, [x], { to, nonBlocking }) => {
      const src = x!.isContiguous() ? x! : copyAs(x!, x!.dtype);
      const out = emptyTensor(x!.shape, x!.dtype, to);
      const dst = backendOf(out);
      const n = src.numel();
      const host = hostArray(src.storage.handle);
      const values = host ? host.subarray(src.offset, src.offset + n) : backendOf(src).read(src.storage.handle, src.offset, n);
      if (!(nonBlocking && host && dst.writeNonBlocking?.(out.storage.handle, values, 0))) dst.write(out.storage.handle, values, 0);
      return out;
    },
    backward: (_ctx, g, { from }) => [g.to(from)],
  } satisfies OpDef<{ from: Device; to: Device; nonBlocking?: boolean }>,
};
