// fm.data.transforms: sample transforms in the manner of torchvision.transforms.
export { type Transform, applyTransform, BuiltinTransform, Compose } from './transform.js';
export { type Image, ToTensor, Normalize } from './tensor.js';
export { type PaddingMode, type RandomCropOptions, RandomCrop, RandomHorizontalFlip, CenterCrop, Resize } from './geometry.js';
