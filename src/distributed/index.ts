// fm.distributed: process groups on real collective engines (MPI for cpu tensors, NCCL for GPU
// tensors), the collectives, and the launcher's environment, as torch.distributed.
export { initProcessGroup, destroyProcessGroup, newGroup, type InitOptions } from './init.js';
export { isInitialized, getRank, getWorldSize } from './state.js';
export { getLocalRank, launchEnv, type LaunchEnv } from './env.js';
export { ReduceOp, type ReduceOpName, type ProcessGroup, type Work, type BackendName } from './process_group.js';
export * from './collectives.js';
export { TCPStore } from './store.js';
