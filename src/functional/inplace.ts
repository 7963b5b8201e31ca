// In-place ops (add_, mul_, copy_, fill_, ...): the result is computed out of place, then
// written into the tensor's storage, bumping its version so autograd notices stale saved tensors.
import { Tensor } from '../tensor/tensor.js';
import { AutogradError, DTypeError, ShapeError } from '../errors.js';
import { isFloating, isIntegral, type DType } from '../dtype.js';
import { isGradEnabled, noGrad } from '../autograd/grad_mode.js';
import { broadcastShapes, broadcastStrides, fmtShape, sameShape } from '../tensor/shape.js';
import { applyOp, broadcastView } from '../ops/dispatch.js';
import { unaryOps, binaryOps, type UnaryOpName, type BinaryOpName } from '../ops/elementwise.js';
import { resultType } from '../dtype.js';
import { scalarTensor } from './creation.js';
import { full } from './creation.js';
import type { TensorLike } from './math.js';

/** PyTorch's can_cast: no float into an integer tensor, no number into a bool tensor. */
function canCast(from: DType, to: DType): boolean {
  if (isFloating(from) && !isFloating(to)) return false;
  if (isIntegral(from) && to === 'bool') return false;
  return true;
}

/**
 * Runs `compute(self)` and writes the result into `self`. When autograd records the op, `self`
 * is read through a snapshot (so the op's saved tensors are not the ones overwritten) and
 * `self` takes the result's graph node.
 */
export function inPlace(op: string, self: Tensor, args: readonly TensorLike[], compute: (src: Tensor) => Tensor, strictCast = true): Tensor {
  self.assertLive();
  const recording = isGradEnabled() && (self.requiresGrad || args.some((a) => a instanceof Tensor && a.requiresGrad));
  if (recording) {
    if (self.isLeaf && self.requiresGrad) {
      throw new AutogradError(op, 'a leaf tensor that requires grad is being used in an in-place operation; wrap the update in fm.noGrad(() => ...) or work on a clone()');
    }
    if (self.base !== null) {
      throw new AutogradError(op, `in-place change of a view (shape ${fmtShape(self.shape)}) inside a recorded graph is not supported; use the out-of-place op and cat/where/indexPut to build the new tensor`);
    }
  }
  const src = recording ? applyOp('clone', [self], null) : self;
  let result = compute(src);
  // A new value that does not depend on the old one (copy_, fill_, uniform_) is still recorded,
  // as 0 * old + new, so the old history gets a zero gradient rather than a stale one.
  if (recording && !result.requiresGrad) result = src.mul(0).add(result);
  write(op, self, result, strictCast);
  if (recording) self.rebaseHistory(result.gradFn!, result.outputNr);
  return self;
}

/** Writes `value`'s elements into `self` (broadcast and cast), bumping its version. */
function write(op: string, self: Tensor, value: Tensor, strictCast: boolean): void {
  if (strictCast && !canCast(value.dtype, self.dtype)) {
    throw new DTypeError(op, `result type ${value.dtype} can't be cast to the desired output type ${self.dtype}`);
  }
  if (!sameShape(value.shape, self.shape)) {
    const b = broadcastShapes(op, self.shape, value.shape);
    if (!sameShape(b, self.shape)) throw new ShapeError(op, `output with shape ${fmtShape(self.shape)} doesn't match the broadcast shape ${fmtShape(b)}`);
    value = noGrad(() => value.expand(self.shape));
  }
  self.storage.backend.copy(self.view_(), value.view_());
  self.storage.version++;
}

/** Copies src's values into self (broadcast, cast). Example: `w.copy_(pretrained)`. */
export function copy_(self: Tensor, source: Tensor): Tensor {
  const src = source.device === self.device ? source : source.to(self.device);
  // copy_ casts freely (float into int truncates), unlike arithmetic in-place ops. Recorded, the
  // new value is 0 * old + src: the old history gets zeros and src the gradient.
  const recorded = isGradEnabled() && (self.requiresGrad || src.requiresGrad);
  return inPlace('copy_', self, [src], (s) => (recorded ? s.mul(0).add(src.to(self.dtype)) : src), false);
}

/** Sets every element to value. Example: `t.fill_(0.5)`. */
export function fill_(self: Tensor, value: number | boolean): Tensor {
  self.assertLive();
  // Recorded (a tensor of the graph): through inPlace, for its checks and the zero gradient.
  if (isGradEnabled() && self.requiresGrad) return inPlace('fill_', self, [], () => full(self.shape, value, { dtype: self.dtype, device: self.device }));
  self.storage.backend.fill(self.view_(), Number(value));
  self.storage.version++;
  return self;
}
/** Sets every element to 0. Example: `p.grad.zero_()`. */
export function zero_(self: Tensor): Tensor {
  return fill_(self, 0);
}

/**
 * The fast path of an elementwise in-place op outside autograd: the kernel writes straight into
 * self (one pass, no temporary), as optimizers need. Returns false when it does not apply (a
 * recorded op, dtypes that would need a cast, an operand sharing self's memory, broadcasting
 * that grows self): the general path then handles the op, or raises its error.
 */
export function elementwiseInPlace(self: Tensor, op: UnaryOpName | BinaryOpName, other?: TensorLike): boolean {
  if (isGradEnabled() && (self.requiresGrad || (other instanceof Tensor && other.requiresGrad))) return false;
  self.assertLive();
  const be = self.storage.backend;
  if (other === undefined) {
    const def = unaryOps[op as UnaryOpName];
    if (def === undefined || def.dtype === 'bool' || (def.dtype === 'float' && !isFloating(self.dtype))) return false;
    be.unary(op as UnaryOpName, self.view_(), self.view_(), noParams);
  } else {
    const def = binaryOps[op as BinaryOpName];
    if (def === undefined || def.dtype === 'bool' || (def.dtype === 'float' && !isFloating(self.dtype))) return false;
    if (other instanceof Tensor && (other.storage === self.storage || other.device !== self.device)) return false;
    if (resultType([self, other]) !== self.dtype) return false;
    const o = other instanceof Tensor ? (other.dtype === self.dtype ? other : other.to(self.dtype)) : scalarTensor(other, self.dtype, self.device);
    if (!sameShape(broadcastShapes(op, self.shape, o.shape), self.shape)) return false;
    const ov = sameShape(o.shape, self.shape) ? o.view_() : broadcastView(o, self.shape, broadcastStrides(o.shape, o.strides, self.shape));
    be.binary(op as BinaryOpName, self.view_(), self.view_(), ov);
  }
  self.storage.version++;
  return true;
}
const noParams: readonly number[] = [];

/**
 * Marks tensors that a kernel outside the op registry wrote in place (a collective, a fused
 * optimizer step), as in-place ops do: autograd then sees that a saved tensor changed.
 */
export function markWritten(...tensors: (Tensor | null)[]): void {
  for (const t of tensors) if (t) t.storage.version++;
}
