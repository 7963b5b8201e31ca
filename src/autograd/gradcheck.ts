// Gradient checks: analytic gradients (autograd) against central finite differences, for
// first and second derivatives. Use float64 inputs.
import type { Tensor } from '../tensor/tensor.js';
import { AutogradError } from '../errors.js';
import { enableGrad, noGrad } from './grad_mode.js';
import { grad } from './api.js';
import { randn } from '../functional/random.js';

/** Tolerances of gradcheck. */
export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Throw on failure (default) instead of returning false. */
  raiseException?: boolean;
}

function outputsOf(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[]): Tensor[] {
  const r = fn(...inputs);
  return Array.isArray(r) ? r : [r];
}

/** Sets element i of a contiguous float64 tensor without touching its version. */
function poke(t: Tensor, i: number, v: number): void {
  t.storage.backend.write(t.storage.handle, Float64Array.of(v), t.offset + i);
}

/**
 * Checks the gradients of `fn` at `inputs` (contiguous float64 tensors; those that require grad
 * are checked) against central differences. Returns true, or throws naming the worst element.
 * Example: `fm.gradcheck((x) => x.sin().sum(), [fm.randn([3], { dtype: 'float64', requiresGrad: true })])`.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[], opts?: GradcheckOptions): boolean {
  const eps = opts?.eps ?? 1e-6;
  const atol = opts?.atol ?? 1e-5;
  const rtol = opts?.rtol ?? 1e-3;
  const checked = inputs.filter((t) => t.requiresGrad);
  for (const t of checked) {
    if (t.dtype !== 'float64') throw new AutogradError('gradcheck', `inputs should be float64 for accurate differences, got ${t.dtype}`);
    if (!t.isContiguous()) throw new AutogradError('gradcheck', 'inputs must be contiguous (build views inside fn)');
  }
  const outs = outputsOf(fn, inputs).filter((o) => o.dtype === 'float64' || o.dtype === 'float32');
  for (let o = 0; o < outs.length; o++) {
    const out = outs[o]!;
    const m = out.numel();
    for (let k = 0; k < m; k++) {
      // Analytic: one row of the Jacobian, by backward from a one-hot output gradient.
      const gOut = noGrad(() => out.newZeros([m]));
      noGrad(() => gOut.index(k).fill_(1));
      const analytic = out.requiresGrad
        ? grad(out, checked, { gradOutputs: gOut.reshape(out.shape), retainGraph: true, allowUnused: true })
        : checked.map(() => null);
      for (let xi = 0; xi < checked.length; xi++) {
        const x = checked[xi]!;
        const a = analytic[xi] ? analytic[xi]!.contiguous().data() : new Float64Array(x.numel());
        const n = x.numel();
        for (let i = 0; i < n; i++) {
          const orig = Number(x.data()[i]);
          poke(x, i, orig + eps);
          const plus = noGrad(() => Number(outputsOf(fn, inputs)[o]!.reshape([-1]).data()[k]));
          poke(x, i, orig - eps);
          const minus = noGrad(() => Number(outputsOf(fn, inputs)[o]!.reshape([-1]).data()[k]));
          poke(x, i, orig);
          const numeric = (plus - minus) / (2 * eps);
          const an = Number(a[i]);
          const ok = Math.abs(an - numeric) <= atol + rtol * Math.abs(numeric) || (Number.isNaN(an) && Number.isNaN(numeric));
          if (!ok) {
            if (opts?.raiseException === false) return false;
            throw new AutogradError('gradcheck', `Jacobian mismatch for output ${o} element ${k} with respect to input ${inputs.indexOf(x)} element ${i}: analytic ${an}, numerical ${numeric}`);
          }
        }
      }
    }
  }
  return true;
}

/**
 * Checks second derivatives: gradcheck of the function (inputs, gradOutputs) -> gradients of
 * fn, built with createGraph. Example: `fm.gradgradcheck((x) => x.pow(3), [x])`.
 */
export function gradgradcheck(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[], opts?: GradcheckOptions & { gradOutputs?: Tensor[] }): boolean {
  const outs = outputsOf(fn, inputs);
  const gOuts = opts?.gradOutputs ?? outs.map((o) => randn(o.shape, { dtype: 'float64', requiresGrad: true }));
  const n = inputs.length;
  // Recorded even inside gradcheck's no-grad evaluations: this function is itself a backward.
  const first = (...all: Tensor[]): Tensor[] => enableGrad(() => {
    const xs = all.slice(0, n);
    const gs = all.slice(n);
    const ys = outputsOf(fn, xs);
    const wanted = xs.filter((t) => t.requiresGrad);
    return grad(ys, wanted, { gradOutputs: gs, createGraph: true, allowUnused: true }).map((g, i) => g ?? wanted[i]!.mul(0));
  });
  return gradcheck(first, [...inputs, ...gOuts], opts);
}
