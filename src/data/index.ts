// fm.data: datasets, samplers and the DataLoader, as torch.utils.data; transforms and datasets
// as torchvision's (fm.data.transforms, fm.data.datasets).
export { type MapDataset, Dataset, IterableDataset, TensorDataset, ConcatDataset, Subset, randomSplit } from './dataset.js';
export { type Sized, type RandomSamplerOptions, Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler, BatchSampler } from './sampler.js';
export { type Collated, type TypedArrayLike, defaultCollate } from './collate.js';
export { type DataLoaderOptions, DataLoader } from './dataloader.js';
export { type DistributedSamplerOptions, DistributedSampler } from './distributed_sampler.js';
export { type WorkerSpec, type HasWorkerSpec, buildFromSpec } from './spec.js';
export { type WorkerInfo, getWorkerInfo } from './worker_info.js';
export * as transforms from './transforms/index.js';
export * as datasets from './datasets/index.js';
