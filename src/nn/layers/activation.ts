// Activation layers: each a Module around the function of the same name.
import type { Tensor } from '../../tensor/tensor.js';
import * as fm from '../../index.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import * as F from '../functional.js';
import { pyFloat } from './repr.js';
import type { FactoryOptions } from './linear.js';

/** A module with no parameters whose forward is fn (the class name is what print shows). */
/** A parameter-free activation module. */
export interface ActivationModule extends Module {
  forward(x: Tensor): Tensor;
}
function activation(name: string, fn: (x: Tensor) => Tensor): new () => ActivationModule {
  const cls = class extends Module {
    override forward(x: Tensor): Tensor {
      return fn(x);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

/** max(x, 0). Example: `new nn.ReLU()`. */
export const ReLU = activation('ReLU', F.relu);
/** min(max(x, 0), 6). */
export const ReLU6 = activation('ReLU6', F.relu6);
/** 1 / (1 + e^-x). */
export const Sigmoid = activation('Sigmoid', F.sigmoid);
/** tanh(x). */
export const Tanh = activation('Tanh', F.tanh);
/** x sigmoid(x). */
export const SiLU = activation('SiLU', F.silu);
/** x tanh(softplus(x)). */
export const Mish = activation('Mish', F.mish);
/** Scaled ELU with PyTorch's constants. */
export const SELU = activation('SELU', F.selu);
/** log(sigmoid(x)). */
export const LogSigmoid = activation('LogSigmoid', F.logSigmoid);

/** x Phi(x), exact or with the tanh approximation. */
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/** x for x > 0, negativeSlope x otherwise. */
export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
  override extraRepr(): string {
    return `negative_slope=${pyFloat(this.negativeSlope)}`;
  }
}

/** x for x > 0, alpha (e^x - 1) otherwise. */
export class ELU extends Module {
  constructor(readonly alpha = 1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.elu(x, this.alpha);
  }
  override extraRepr(): string {
    return `alpha=${pyFloat(this.alpha)}`;
  }
}

/** log(1 + e^(beta x)) / beta, linear above threshold. */
export class Softplus extends Module {
  constructor(readonly beta = 1, readonly threshold = 20) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.softplus(x, { beta: this.beta, threshold: this.threshold });
  }
  /** NOTE: printed as Python floats (beta=1.0, threshold=20.0); torch 1.13 prints its int defaults as beta=1, threshold=20. */
  override extraRepr(): string {
    return `beta=${pyFloat(this.beta)}, threshold=${pyFloat(this.threshold)}`;
  }
}

/** Clamps to [minVal, maxVal]. */
export class Hardtanh extends Module {
  constructor(readonly minVal = -1, readonly maxVal = 1) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return F.hardtanh(x, this.minVal, this.maxVal);
  }
  override extraRepr(): string {
    return `min_val=${pyFloat(this.minVal)}, max_val=${pyFloat(this.maxVal)}`;
  }
}

/** Softmax along dim. Example: `new nn.Softmax(1)`. */
export class Softmax extends Module {
  constructor(readonly dim: number) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.softmax(this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

/** log(softmax) along dim, computed stably. */
export class LogSoftmax extends Module {
  constructor(readonly dim: number) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return x.logSoftmax(this.dim);
  }
  override extraRepr(): string {
    return `dim=${this.dim}`;
  }
}

/** ReLU with a learned slope for negatives (one, or one per channel), initialised to `init`. */
export class PReLU extends Module {
  weight: Tensor;
  constructor(readonly numParameters = 1, init = 0.25, opts: FactoryOptions = {}) {
    super();
    this.weight = Parameter(fm.full([numParameters], init, opts));
  }
  override forward(x: Tensor): Tensor {
    return F.prelu(x, this.weight);
  }
  override extraRepr(): string {
    return `num_parameters=${this.numParameters}`;
  }
}
