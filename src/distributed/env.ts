// Where this process sits in the job, as its launcher said: torchrun's variables (set by
// `fiamma run`), or Open MPI's when mpirun started it.

/** The launch's view of this process; fields a launcher did not set are undefined. */
export interface LaunchEnv {
  rank?: number;
  worldSize?: number;
  localRank?: number;
  localWorldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** True when mpirun (or another MPI launcher) started the process. */
  underMpi: boolean;
}

function int(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) ? n : undefined;
}

/** Reads RANK, WORLD_SIZE, LOCAL_RANK, ... and falls back on Open MPI's OMPI_COMM_WORLD_* and PMI's PMI_*. */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv {
  const mpiRank = int(env['OMPI_COMM_WORLD_RANK']) ?? int(env['PMI_RANK']);
  const mpiSize = int(env['OMPI_COMM_WORLD_SIZE']) ?? int(env['PMI_SIZE']);
  return {
    rank: int(env['RANK']) ?? mpiRank,
    worldSize: int(env['WORLD_SIZE']) ?? mpiSize,
    localRank: int(env['LOCAL_RANK']) ?? int(env['OMPI_COMM_WORLD_LOCAL_RANK']),
    localWorldSize: int(env['LOCAL_WORLD_SIZE']) ?? int(env['OMPI_COMM_WORLD_LOCAL_SIZE']),
    masterAddr: env['MASTER_ADDR'] || undefined,
    masterPort: int(env['MASTER_PORT']),
    underMpi: mpiSize !== undefined,
  };
}

/** This process's rank on its node (LOCAL_RANK), 0 when no launcher said: the GPU a rank usually takes. */
export function getLocalRank(): number {
  return launchEnv().localRank ?? 0;
}
