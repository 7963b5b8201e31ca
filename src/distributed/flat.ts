// Lists of tensors as one flat buffer and back: what a collective over many tensors (allGather's
// list, DDP's gradient buckets and its broadcast of the weights) hands to the engine in one call.
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad_mode.js';
import { cat } from '../functional/shape.js';

/** A flat tensor holding the tensors end to end. */
export function flatten(list: readonly Tensor[]): Tensor {
  return noGrad(() => cat(list.map((t) => t.reshape([-1]))));
}

/** Copies the consecutive blocks of `flat` back into the list's tensors. */
export function unflatten(flat: Tensor, list: readonly Tensor[]): void {
  noGrad(() => {
    let at = 0;
    for (const t of list) {
      t.copy_(flat.narrow(0, at, t.numel()).reshape(t.shape));
      at += t.numel();
    }
  });
}
