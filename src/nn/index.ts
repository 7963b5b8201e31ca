// fm.nn: modules, layers, losses, initialisers and utilities, as torch.nn.
export * from './module.js';
export * from './parameter.js';
export { PackedSequence } from './packed.js';
export * from './containers.js';
export * from './layers/linear.js';
export * from './layers/conv.js';
export * from './layers/pooling.js';
export * from './layers/norm.js';
export * from './layers/activation.js';
export * from './layers/misc.js';
export * from './layers/loss.js';
export * from './layers/rnn.js';
export * from './layers/transformer.js';
export * as functional from './functional.js';
export * as F from './functional.js';
export * as init from './init.js';
export * as utils from './utils.js';
