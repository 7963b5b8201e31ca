// fm.nn.parallel (as torch.nn.parallel): DataParallel and its pieces (one process), DistributedDataParallel (several).
export { DataParallel, dataParallel, type DataParallelOptions } from './data_parallel.js';
export { replicate, parallelApply, type ReplicateOptions } from './replicate.js';
export { scatter, gather, type ParallelDevice } from './scatter_gather.js';
export { DistributedDataParallel, type DistributedDataParallelOptions } from './distributed.js';
