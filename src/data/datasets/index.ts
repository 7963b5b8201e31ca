// fm.data.datasets: ready-made datasets in the manner of torchvision.datasets, and the IDX reader.
export { type VisionDatasetOptions, VisionDataset } from './vision.js';
export { MNIST } from './mnist.js';
export { type FashionMNISTOptions, FASHION_MNIST_DEBIAN_ROOT, FashionMNIST } from './fashion_mnist.js';
export { readIdx, parseIdx } from './idx.js';
