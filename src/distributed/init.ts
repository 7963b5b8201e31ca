// initProcessGroup / destroyProcessGroup / newGroup: building the default group on the chosen
// engine from the launcher's environment, and subgroups of it.
import { DistributedError, ValueError } from '../errors.js';
import { launchEnv } from './env.js';
import { MpiGroup } from './mpi.js';
import { createNcclGroup } from './nccl_group.js';
import { completedWork, type BackendName, type ProcessGroup } from './process_group.js';
import { defaultProcessGroup, isInitialized, setDefaultProcessGroup } from './state.js';
import { TCPStore } from './store.js';

/** Options of initProcessGroup, as torch.distributed.init_process_group's. */
export interface InitOptions {
  /** 'mpi' for cpu tensors (Open MPI), 'nccl' for GPU tensors. */
  backend: BackendName;
  /** 'env://' (default: MASTER_ADDR / MASTER_PORT) or 'tcp://host:port': where rank 0's store listens (nccl). */
  initMethod?: string;
  rank?: number;
  worldSize?: number;
  /** Milliseconds a collective waits for the other ranks before it raises (default 30 minutes for mpi, 10 for nccl, as PyTorch). */
  timeout?: number;
}

/**
 * Joins this process to the job's default process group. The mpi backend takes its ranks from
 * MPI (start the job with `fiamma run --mpi` or `mpirun -np N node script.js`); nccl takes them
 * from the options or the launcher's RANK / WORLD_SIZE and meets the others through a TCP store
 * that rank 0 hosts. Example: `await distributed.initProcessGroup({ backend: 'mpi' })`.
 */
export async function initProcessGroup(opts: InitOptions): Promise<void> {
  if (isInitialized()) throw new DistributedError('initProcessGroup', 'the default process group is already initialized (call destroyProcessGroup() first)');
  const backend = opts?.backend;
  const timeoutMs = opts.timeout ?? (backend === 'nccl' ? 600_000 : 1_800_000);
  if (!(timeoutMs > 0)) throw new ValueError('initProcessGroup', `timeout must be a positive number of milliseconds, got ${opts.timeout}`);
  const env = launchEnv();
  if (backend === 'mpi') {
    if (!env.underMpi && (env.worldSize ?? 1) > 1) {
      throw new DistributedError('initProcessGroup', `the mpi backend needs its ${env.worldSize} processes started by MPI: run \`fiamma run --mpi --nproc-per-node ${env.worldSize} script.js\` or \`mpirun -np ${env.worldSize} node script.js\``);
    }
    const g = MpiGroup.world(timeoutMs);
    if ((opts.rank !== undefined && opts.rank !== g.rank) || (opts.worldSize !== undefined && opts.worldSize !== g.size)) {
      throw new DistributedError('initProcessGroup', `MPI says this is rank ${g.rank} of ${g.size}, but rank ${opts.rank} of ${opts.worldSize} was asked for`);
    }
    setDefaultProcessGroup(g);
    return;
  }
  if (backend !== 'nccl') throw new ValueError('initProcessGroup', `unknown backend '${String(backend)}' (expected 'mpi' or 'nccl')`);
  const rank = opts.rank ?? env.rank ?? 0;
  const worldSize = opts.worldSize ?? env.worldSize ?? 1;
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
    throw new ValueError('initProcessGroup', `rank ${rank} is not in a world of ${worldSize} processes`);
  }
  const store = worldSize > 1 ? await TCPStore.create({ ...storeAddress(opts.initMethod), isServer: rank === 0, timeoutMs, worldSize }) : null;
  try {
    setDefaultProcessGroup(await createNcclGroup(store, rank, worldSize, timeoutMs));
  } finally {
    await store?.close();
  }
}

/** host:port of the rendezvous store from 'tcp://host:port' or the environment ('env://'). */
function storeAddress(initMethod = 'env://'): { host: string; port: number } {
  const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(initMethod);
  if (tcp) return { host: tcp[1]!, port: Number(tcp[2]) };
  if (initMethod !== 'env://') throw new ValueError('initProcessGroup', `initMethod '${initMethod}' is not supported (expected 'env://' or 'tcp://host:port')`);
  const env = launchEnv();
  if (env.masterPort === undefined) {
    throw new DistributedError('initProcessGroup', "initMethod 'env://' needs MASTER_ADDR and MASTER_PORT; start the job with `fiamma run` or set them");
  }
  return { host: env.masterAddr ?? '127.0.0.1', port: env.masterPort };
}

/** Leaves the default group (or `group`) and frees its communicator. */
export function destroyProcessGroup(group?: ProcessGroup): void {
  const g = group ?? defaultProcessGroup('destroyProcessGroup');
  g.destroy();
  if (!group || (isInitialized() && group === defaultProcessGroup('destroyProcessGroup'))) setDefaultProcessGroup(null);
}

/**
 * A group of some of the world's ranks; every rank of the world must call it, with the same
 * ranks. On ranks outside it, the group's collectives do nothing (as PyTorch's) and getRank gives -1.
 * Example: `const pair = distributed.newGroup([0, 1])`.
 */
export function newGroup(ranks?: readonly number[]): ProcessGroup {
  const world = defaultProcessGroup('newGroup');
  const members = ranks ?? world.ranks;
  const seen = new Set<number>();
  for (const r of members) {
    if (!Number.isInteger(r) || r < 0 || r >= world.size || seen.has(r)) {
      throw new ValueError('newGroup', `ranks must be distinct integers in [0, ${world.size}), got [${members.join(', ')}]`);
    }
    seen.add(r);
  }
  return world.subgroup(members) ?? nonMember(world, members);
}

/** The group object a non-member holds: PyTorch's GroupMember.NON_GROUP_MEMBER. */
function nonMember(world: ProcessGroup, ranks: readonly number[]): ProcessGroup {
  const none = () => completedWork;
  return {
    backend: world.backend, rank: -1, size: ranks.length, ranks, timeoutMs: world.timeoutMs,
    allReduce: none, broadcast: none, reduce: none, allGather: none, gather: none, scatter: none, reduceScatter: none,
    allToAll: none, send: none, recv: none, barrier: none, subgroup: () => null, destroy: () => undefined,
  };
}
