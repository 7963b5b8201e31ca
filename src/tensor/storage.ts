// A backend's memory as the framework sees it: which backend and device own it, the version
// counter that in-place ops bump (shared by every view), and a reference count for dispose().
import type { Backend, StorageHandle } from '../backend/interface.js';
import type { Device } from '../device.js';
import type { DType } from '../dtype.js';

/**
 * Device memory of storages nobody disposed goes back when the garbage collector finds them
 * unreachable (DESIGN.md, Memory). Host memory needs no help: the collector owns it.
 */
const unreachable = new FinalizationRegistry<{ backend: Backend; handle: StorageHandle }>(({ backend, handle }) => backend.free(handle));

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
  ) {
    if (backend.needsRelease) unreachable.register(this, { backend, handle }, this);
  }
  get dtype(): DType {
    return this.handle.dtype;
  }
  release(): void {
    if (--this.refs <= 0 && !this.freed) {
      this.freed = true;
      if (this.backend.needsRelease) unreachable.unregister(this);
      this.backend.free(this.handle);
    }
  }
}
