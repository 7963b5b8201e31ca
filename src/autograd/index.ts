// The `fm.autograd` namespace.
export { backward, grad, Function, FunctionCtx, type BackwardOptions } from './api.js';
export { detectAnomaly, isAnomalyEnabled } from './grad_mode.js';
export { gradcheck, gradgradcheck } from './gradcheck.js';
export { queueCallback } from './engine.js';
