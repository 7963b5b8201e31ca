// Saving and loading: safetensors files and buffers (PyTorch-compatible) and whole checkpoints.
export { save, load, saveBytes, loadBytes, loadMetadata, type SaveOptions, type LoadOptions } from './safetensors.js';
export { saveCheckpoint, loadCheckpoint, type CheckpointValue } from './checkpoint.js';
export { SafetensorsError, FileError } from './errors.js';
