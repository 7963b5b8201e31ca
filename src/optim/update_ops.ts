// The in-place updates optimizers are made of, each with one temporary: Tensor.add_ with alpha
// and addcmul_/addcdiv_ compute out of place and copy back, while add_ of a fresh tensor runs one
// kernel into self. The arithmetic (self + alpha * x, self + (a * b) * value) is the same.
import type { Tensor } from '../tensor/tensor.js';

/** self += alpha * x, in place. Example: `addScaled_(p, grad, -lr)`. */
export function addScaled_(self: Tensor, x: Tensor, alpha: number): Tensor {
  return self.add_(alpha === 1 ? x : x.mul(alpha));
}

/** self += value * a * b, in place (PyTorch's addcmul_). Example: `addcmul_(v, g, g, 1 - beta2)`. */
export function addcmul_(self: Tensor, a: Tensor, b: Tensor, value = 1): Tensor {
  const t = a.mul(b);
  return self.add_(value === 1 ? t : t.mul_(value));
}

/** self += value * a / b, in place (PyTorch's addcdiv_). Example: `addcdiv_(p, m, denom, -stepSize)`. */
export function addcdiv_(self: Tensor, a: Tensor, b: Tensor, value = 1): Tensor {
  const t = a.div(b);
  return self.add_(value === 1 ? t : t.mul_(value));
}

/** grad + weightDecay * p as a new tensor (the L2 penalty's gradient added). Example: `withWeightDecay(g, p, 1e-2)`. */
export function withWeightDecay(grad: Tensor, p: Tensor, weightDecay: number): Tensor {
  return p.mul(weightDecay).add_(grad);
}
