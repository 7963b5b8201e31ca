// Parameters: tensors a Module owns and an optimizer updates. A parameter is an ordinary leaf
// tensor that requires grad, marked in a WeakSet (so Tensor needs no extra field).
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad_mode.js';

const parameters = new WeakSet<Tensor>();

/**
 * Marks `t` as a module parameter: a leaf that requires grad (a detached view of `t` when `t`
 * has history). Assigning it to a Module field registers it.
 * Example: `this.weight = nn.Parameter(fm.randn([3, 4]))`.
 */
export function Parameter(t: Tensor, requiresGrad = true): Tensor {
  const p = t.gradFn !== null ? noGrad(() => t.detach()) : t;
  p.requiresGrad_(requiresGrad);
  parameters.add(p);
  return p;
}

/** True for tensors made by Parameter(). */
export function isParameter(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && parameters.has(x as Tensor);
}
