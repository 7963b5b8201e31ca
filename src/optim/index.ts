// fm.optim: PyTorch's torch.optim in camelCase: the Optimizer base, the optimizers, and the
// learning-rate schedulers under fm.optim.lrScheduler.
export { Optimizer, type OptimizerOptions, type ParamGroup, type ParamGroupInput, type Params, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions, type SGDState } from './sgd.js';
export { Adam, type AdamOptions, type AdamState } from './adam.js';
export { AdamW } from './adamw.js';
export { Adamax, type AdamaxOptions, type AdamaxState } from './adamax.js';
export { NAdam, type NAdamOptions, type NAdamState } from './nadam.js';
export { RAdam, type RAdamOptions, type RAdamState } from './radam.js';
export { RMSprop, type RMSpropOptions, type RMSpropState } from './rmsprop.js';
export { Adagrad, type AdagradOptions, type AdagradState } from './adagrad.js';
export { Adadelta, type AdadeltaOptions, type AdadeltaState } from './adadelta.js';
export { LBFGS, type LBFGSOptions, type LBFGSState } from './lbfgs.js';
export * as lrScheduler from './lr_scheduler/index.js';
