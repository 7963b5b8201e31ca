// fm.optim.lrScheduler: PyTorch's torch.optim.lr_scheduler, in camelCase.
export { LRScheduler, type SchedulerStateDict } from './scheduler.js';
export { StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR } from './decay.js';
export { LambdaLR, MultiplicativeLR, type LrLambda } from './lambda.js';
export { CosineAnnealingLR, CosineAnnealingWarmRestarts } from './cosine.js';
export { OneCycleLR, CyclicLR, type OneCycleLROptions, type CyclicLROptions } from './cyclic.js';
export { ReduceLROnPlateau, type ReduceLROnPlateauOptions } from './plateau.js';
export { SequentialLR, ChainedScheduler } from './compose.js';
