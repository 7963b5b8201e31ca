// The fused optimizer steps: one backend call per parameter (Backend.adamStep / sgdStep) where the
// backend has them and every tensor is a dense float view on one device; otherwise the per-op
// updates run. Both give the same numbers (the kernels round after each operation as the ops do).
// FIAMMA_OPTIM_FUSED=0 forces the per-op path.
import type { Tensor } from '../tensor/tensor.js';
import type { AdamHyper, Backend, SgdHyper } from '../backend/interface.js';
import { markWritten } from '../functional/inplace.js';

function enabled(): boolean {
  return process.env['FIAMMA_OPTIM_FUSED'] !== '0';
}

/** The backend that can run a fused step over these tensors, or null. */
function fusedBackend(tensors: readonly Tensor[], has: (b: Backend) => boolean): Backend | null {
  if (!enabled()) return null;
  const p = tensors[0]!;
  const be = p.storage.backend;
  // 16-bit parameters take the per-op path: it rounds each operation's result to their dtype, as
  // PyTorch does; the fused kernel would run in float32 stand-ins (backend/reduced_float.ts) and
  // round once, giving other numbers.
  if (!has(be) || (p.dtype !== 'float32' && p.dtype !== 'float64')) return null;
  for (const t of tensors) {
    if (t.dtype !== p.dtype || t.storage.device !== p.storage.device || !t.isContiguous() || (t !== p && t.storage === p.storage)) return null;
  }
  return be;
}


/** One Adam/AdamW step of p through the fused kernel; false when it cannot run (the caller does the per-op step). */
export function fusedAdamStep(p: Tensor, grad: Tensor, m: Tensor, v: Tensor, vmax: Tensor | null, h: AdamHyper): boolean {
  const be = fusedBackend(vmax ? [p, grad, m, v, vmax] : [p, grad, m, v], (b) => b.adamStep !== undefined);
  if (!be) return false;
  be.adamStep!(p.view_(), grad.view_(), m.view_(), v.view_(), vmax?.view_() ?? null, h);
  markWritten(p, m, v, vmax);
  return true;
}

/** One SGD step of p (and its momentum buffer) through the fused kernel; false when it cannot run. */
export function fusedSgdStep(p: Tensor, grad: Tensor, buf: Tensor | null, h: SgdHyper): boolean {
  const be = fusedBackend(buf ? [p, grad, buf] : [p, grad], (b) => b.sgdStep !== undefined);
  if (!be) return false;
  be.sgdStep!(p.view_(), grad.view_(), buf?.view_() ?? null, h);
  markWritten(p, buf);
  return true;
}
