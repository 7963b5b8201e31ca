// Mixed precision (PyTorch's torch.amp): autocast and GradScaler.
export { autocast, isAutocastEnabled, getAutocastDtype, type AutocastOptions, type AutocastDtype } from './autocast.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad_scaler.js';
