// Loss modules: each holds its options and calls the function of the same name.
import { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';
import * as L from '../losses.js';

/** A loss as a module: its options and forward(input, target). */
export interface LossModule<O> extends Module {
  readonly opts: O;
  forward(input: Tensor, target: Tensor): Tensor;
}
/** A loss of three tensors as a module. */
export interface LossModule3<O> extends Module {
  readonly opts: O;
  forward(a: Tensor, b: Tensor, c: Tensor): Tensor;
}

/** Tensor options kept as buffers under PyTorch's names (so that state dicts match and `to()` moves them). */
const BUFFERS: Record<string, string> = { weight: 'weight', posWeight: 'pos_weight' };

/** Registers the tensor options of a loss module as buffers. */
function registerOptionBuffers(m: Module, opts: object): void {
  for (const [k, b] of Object.entries(BUFFERS)) {
    const t = (opts as Record<string, unknown>)[k];
    if (t instanceof Tensor) m.registerBuffer(b, t);
  }
}
/** The options with tensor options read back from the buffers (which `to()` or loadStateDict may have replaced). */
function currentOptions<O extends object>(m: Module, opts: O): O {
  const out = { ...opts } as Record<string, unknown>;
  const fields = m as unknown as Record<string, unknown>;
  for (const [k, b] of Object.entries(BUFFERS)) if (out[k] instanceof Tensor) out[k] = fields[b];
  return out as O;
}

/** A loss module class around a two-argument loss function with options O. */
function lossModule<O extends object>(name: string, fn: (input: Tensor, target: Tensor, opts: O) => Tensor): new (opts?: O) => LossModule<O> {
  const cls = class extends Module {
    constructor(readonly opts: O = {} as O) {
      super();
      registerOptionBuffers(this, opts);
    }
    override forward(input: Tensor, target: Tensor): Tensor {
      return fn(input, target, currentOptions(this, this.opts));
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** Example: `const loss = new nn.CrossEntropyLoss({ labelSmoothing: 0.1 })(logits, labels)`. */
export const CrossEntropyLoss = lossModule('CrossEntropyLoss', L.crossEntropy);
export const NLLLoss = lossModule('NLLLoss', L.nllLoss);
export const MSELoss = lossModule('MSELoss', L.mseLoss);
export const L1Loss = lossModule('L1Loss', L.l1Loss);
export const SmoothL1Loss = lossModule('SmoothL1Loss', L.smoothL1Loss);
export const HuberLoss = lossModule('HuberLoss', L.huberLoss);
export const BCELoss = lossModule('BCELoss', L.binaryCrossEntropy);
export const BCEWithLogitsLoss = lossModule('BCEWithLogitsLoss', L.binaryCrossEntropyWithLogits);
export const KLDivLoss = lossModule('KLDivLoss', L.klDiv);

/** A loss module around a three-argument loss (x1, x2, y). */
function lossModule3<O extends object>(name: string, fn: (a: Tensor, b: Tensor, c: Tensor, opts: O) => Tensor): new (opts?: O) => LossModule3<O> {
  const cls = class extends Module {
    constructor(readonly opts: O = {} as O) {
      super();
    }
    override forward(a: Tensor, b: Tensor, c: Tensor): Tensor {
      return fn(a, b, c, this.opts);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}
export const MarginRankingLoss = lossModule3('MarginRankingLoss', L.marginRankingLoss);
export const CosineEmbeddingLoss = lossModule3('CosineEmbeddingLoss', L.cosineEmbeddingLoss);
export const TripletMarginLoss = lossModule3('TripletMarginLoss', L.tripletMarginLoss);

/** The CTC loss as a module: forward(logProbs, targets, inputLengths, targetLengths). */
export class CTCLoss extends Module {
  constructor(readonly opts: { blank?: number; reduction?: L.Reduction; zeroInfinity?: boolean } = {}) {
    super();
  }
  override forward(logProbs: Tensor, targets: Tensor, inputLengths: number[] | Tensor, targetLengths: number[] | Tensor): Tensor {
    return L.ctcLoss(logProbs, targets, inputLengths, targetLengths, this.opts);
  }
  override extraRepr(): string {
    return '';
  }
}
