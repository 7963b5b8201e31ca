// The default process group of this process: set by initProcessGroup, read by everything that
// needs this process's rank and the world's size (samplers, DDP, collectives).
import { DistributedError } from '../errors.js';
import type { ProcessGroup } from './process_group.js';

let defaultGroup: ProcessGroup | null = null;

/** True once `initProcessGroup` has run (and `destroyProcessGroup` has not). */
export function isInitialized(): boolean {
  return defaultGroup !== null;
}

/** The default group, or the error PyTorch raises when there is none. */
export function defaultProcessGroup(op: string): ProcessGroup {
  if (defaultGroup === null) {
    throw new DistributedError(op, 'the default process group has not been initialized: call `await distributed.initProcessGroup({ backend })` first');
  }
  return defaultGroup;
}

/** Installs (or clears, with null) the default group. */
export function setDefaultProcessGroup(g: ProcessGroup | null): void {
  defaultGroup = g;
}

/** This process's rank in `group` (default: the whole world). Example: `if (distributed.getRank() === 0) save(...)`. */
export function getRank(group?: ProcessGroup): number {
  return (group ?? defaultProcessGroup('getRank')).rank;
}

/** The number of processes in `group` (default: the whole world). */
export function getWorldSize(group?: ProcessGroup): number {
  return (group ?? defaultProcessGroup('getWorldSize')).size;
}
