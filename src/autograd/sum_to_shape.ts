// The one place broadcasting is undone: a gradient is summed back to its input's shape.
import type { Tensor } from '../tensor/tensor.js';

/**
 * Sums `g` over the leading dims it has beyond `shape` and over dims where `shape` is 1.
 * Example: a gradient of shape [4, 3] for an input of shape [1, 3] becomes sum over dim 0.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < g.ndim; d++) {
    if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) dims.push(d);
  }
  const summed = dims.length > 0 ? g.sum(dims, { keepdim: true }) : g;
  return lead > 0 || dims.length > 0 ? summed.reshape(shape) : summed;
}
