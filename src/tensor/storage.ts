// A backend's memory as the framework sees it: which backend and device own it, the version
// counter that in-place ops bump (shared by every view), and a reference count for dispose().
import type { Backend, StorageHandle } from '../backend/interface.js';
import type { Device } from '../device.js';
import type { DType } from '../dtype.js';

export class Storage {
  /** Bumped by every in-place change; autograd compares it with the version a tensor was saved at. */
  version = 0;
  /** Live tensors viewing this storage; the memory goes back to the backend when it reaches 0 by dispose(). */
  refs = 0;
  freed = false;
  constructor(
    readonly handle: StorageHandle,
    readonly backend: Backend,
    readonly device: Device,
  ) {}
  get dtype(): DType {
    return this.handle.dtype;
  }
  release(): void {
    if (--this.refs <= 0 && !this.freed) {
      this.freed = true;
      this.backend.free(this.handle);
    }
  }
}
