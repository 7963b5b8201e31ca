// nn.utils: gradient clipping, parameters as one vector, and padding of variable-length sequences.
import type { Tensor } from '../tensor/tensor.js';
import * as fm from '../index.js';
import { noGrad } from '../autograd/grad_mode.js';
import { ValueError } from '../errors.js';
import { PackedSequence, packPaddedSequence, padPackedSequence, packSequence } from './packed.js';

/**
 * Scales gradients in place so that their joint norm is at most maxNorm; returns the norm before
 * clipping. Example: `nn.utils.clipGradNorm_(model.parameters(), 1.0)`.
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, opts: { normType?: number; errorIfNonfinite?: boolean } = {}): Tensor {
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  const p = opts.normType ?? 2;
  if (grads.length === 0) return fm.tensor(0);
  // The norm is computed in the grads' (promoted) dtype, as PyTorch: float64 grads give a float64 norm.
  const dtype = grads.map((g) => g.dtype).reduce((a, b) => fm.promoteTypes(a, b));
  const total = noGrad(() => {
    const norms = fm.stack(grads.map((g) => fm.norm(g, p).to(dtype)));
    return p === Infinity ? norms.amax() : fm.norm(norms, p);
  });
  if (opts.errorIfNonfinite && !Number.isFinite(total.item())) {
    throw new ValueError('clipGradNorm_', `the total norm of order ${p} for gradients is non-finite, so it cannot be clipped`);
  }
  noGrad(() => {
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clampMax(1);
    for (const g of grads) g.mul_(coef.to(g.dtype));
  });
  return total;
}

/** Clamps every gradient to [-clipValue, clipValue] in place. */
export function clipGradValue_(params: Iterable<Tensor>, clipValue: number): void {
  noGrad(() => {
    for (const p of params) if (p.grad) p.grad.copy_(p.grad.clamp(-clipValue, clipValue));
  });
}

/** All parameters flattened into one vector. */
export function parametersToVector(params: Iterable<Tensor>): Tensor {
  return fm.cat([...params].map((p) => p.reshape([-1])));
}

/** Copies slices of vec into the parameters, in order. */
export function vectorToParameters(vec: Tensor, params: Iterable<Tensor>): void {
  const ps = [...params];
  const total = ps.reduce((n, p) => n + p.numel(), 0);
  if (vec.ndim !== 1 || total !== vec.numel()) throw new ValueError('vectorToParameters', `expected a 1-D vector of ${total} elements (the parameters' total), got shape ${JSON.stringify(vec.shape)}`);
  let at = 0;
  noGrad(() => {
    for (const p of ps) {
      const n = p.numel();
      p.copy_(vec.narrow(0, at, n).reshape(p.shape));
      at += n;
    }
  });
}

/** Pads sequences of different lengths to one tensor [T, B, *] (or [B, T, *] with batchFirst). */
export function padSequence(sequences: Tensor[], opts: { batchFirst?: boolean; paddingValue?: number } = {}): Tensor {
  if (sequences.length === 0) throw new ValueError('padSequence', 'expected at least one sequence');
  const maxLen = Math.max(...sequences.map((s) => s.shape[0]!));
  const padded = sequences.map((s) => {
    const extra = maxLen - s.shape[0]!;
    if (extra === 0) return s;
    return fm.cat([s, fm.full([extra, ...s.shape.slice(1)], opts.paddingValue ?? 0, { dtype: s.dtype, device: s.device })]);
  });
  return fm.stack(padded, opts.batchFirst ? 0 : 1);
}

/** torch.nn.utils.rnn: padding and packing of variable-length sequences. */
export const rnn = { padSequence, packPaddedSequence, padPackedSequence, packSequence, PackedSequence };

