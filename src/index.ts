// Fiamma's public entry: `import * as fm from 'fiamma'`.
import './tensor/methods.js';

export { Tensor, type NestedArray, type GradHook } from './tensor/tensor.js';
export { Device, type DeviceLike, type DeviceType } from './device.js';
export { type DType, dtypes, promoteTypes, resultType, getDefaultDtype, setDefaultDtype, isFloating } from './dtype.js';
export * from './errors.js';
export { scope, keep } from './tensor/scope.js';
export { setPrintOptions, getPrintOptions, type PrintOptions } from './format.js';
export { noGrad, enableGrad, setGradEnabled, isGradEnabled } from './autograd/grad_mode.js';
export { gradcheck, gradgradcheck, type GradcheckOptions } from './autograd/gradcheck.js';
export * as autograd from './autograd/index.js';
export { registerBackend, isBackendAvailable, setNumThreads, getNumThreads, cpuKernelsInUse, setFloat32MatmulPrecision, getFloat32MatmulPrecision } from './backend/registry.js';
export * as cuda from './cuda.js';
export type { Backend, View, StorageHandle } from './backend/interface.js';
export * from './functional/creation.js';
export * from './functional/random.js';
export * from './functional/math.js';
export * from './functional/reduction.js';
export { variance as var } from './functional/reduction.js';
export * from './functional/shape.js';
export * from './functional/indexing.js';
export * from './functional/linalg.js';
export * from './functional/conv.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * from './io/index.js';
export * as utils from './utils/index.js';
