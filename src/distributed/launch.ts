// The launcher behind `fiamma run`, as PyTorch's torchrun: starts one process per local rank with
// torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...), or hands the job to Open MPI's mpirun,
// and stops the whole job as soon as one process fails.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DistributedError, ValueError } from '../errors.js';

const OP = 'fiamma run';

/** The one-line synopsis of `fiamma run`, shown with every argument error. */
export const LAUNCH_USAGE =
  'usage: fiamma run [--nproc-per-node N] [--nnodes M] [--node-rank K] [--master-addr A] [--master-port P] [--mpi] script.js [args...]';

/** The full help of `fiamma run`. */
export const LAUNCH_HELP = `${LAUNCH_USAGE}

Starts N copies of \`node script.js args...\` on this node, as PyTorch's torchrun, each with
RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT and
FIAMMA_LAUNCHED=1 set; rank 0 hosts the rendezvous store at MASTER_ADDR:MASTER_PORT inside
initProcessGroup. If one process fails, the others are stopped and fiamma exits with its code.

options (torchrun's spellings --nproc_per_node, --node_rank, ... and --opt=value also work):
  --nproc-per-node N   processes on this node (default 1)
  --nnodes M           nodes in the job (default 1); run fiamma once on each
  --node-rank K        this node's index in [0, M) (default 0)
  --master-addr A      address of the node of rank 0 (default 127.0.0.1)
  --master-port P      port of the rendezvous store there (default 29500)
  --mpi                start the processes with Open MPI's mpirun instead (one node; for
                       several, call mpirun yourself with a hostfile)
  -h, --help           show this help`;

/** What `launch` starts: the options of `fiamma run`. */
export interface LaunchOptions {
  /** Processes on this node (torchrun's `--nproc-per-node`). */
  nprocPerNode: number;
  /** Nodes in the job; fiamma runs once on each. */
  nnodes: number;
  /** This node's index in [0, nnodes). */
  nodeRank: number;
  /** The address of the node that runs rank 0 (and the rendezvous store). */
  masterAddr: string;
  /** The port of the rendezvous store. */
  masterPort: number;
  /** Start the processes with `mpirun` instead of spawning them here. */
  mpi: boolean;
  /** The script each process runs with `node`. */
  script: string;
  /** Arguments passed to every copy of the script. */
  args: string[];
  /** Milliseconds between SIGTERM and SIGKILL when the job is stopped (default 5000). */
  graceMs?: number;
  /** The environment the processes start from (default `process.env`); PATH in it is searched for mpirun. */
  env?: NodeJS.ProcessEnv;
}

const DEFAULTS = { nprocPerNode: 1, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, mpi: false };

/** Each option's field; torchrun's underscore spellings are folded into these dashed ones. */
const FLAGS: Record<string, keyof typeof DEFAULTS> = {
  '--nproc-per-node': 'nprocPerNode',
  '--nnodes': 'nnodes',
  '--node-rank': 'nodeRank',
  '--master-addr': 'masterAddr',
  '--master-port': 'masterPort',
  '--mpi': 'mpi',
};

function usageError(message: string): ValueError {
  return new ValueError(OP, `${message}\n${LAUNCH_USAGE}`);
}

/**
 * Parses the arguments after `fiamma run` (options, then the script and its own arguments); returns
 * null when they ask for help. Bad arguments raise a ValueError whose message ends with the usage.
 * @example parseLaunchArgs(['--nproc-per-node=2', 'train.js', '--lr', '0.1']) // { nprocPerNode: 2, script: 'train.js', args: ['--lr', '0.1'], ... }
 */
export function parseLaunchArgs(argv: readonly string[]): LaunchOptions | null {
  const o: Record<string, number | string | boolean> = { ...DEFAULTS };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg === '-h' || arg === '--help') return null;
    if (!arg.startsWith('-') || arg === '-') break; // the script: everything from here on is its own
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg : arg.slice(0, eq)).replace(/_/g, '-');
    const field = FLAGS[name];
    if (field === undefined) throw usageError(`unknown option '${arg}'`);
    if (field === 'mpi') {
      if (eq >= 0) throw usageError(`--mpi takes no value, got '${arg}'`);
      o.mpi = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw usageError(`${name} needs a value`);
    if (field === 'masterAddr') {
      o.masterAddr = value;
    } else {
      if (!/^\d+$/.test(value)) throw usageError(`${name} expects a whole number, got '${value}'`);
      o[field] = Number(value);
    }
  }
  const script = argv[i];
  if (script === undefined) throw usageError('no script given: say which script each process runs');
  return checkLaunchOptions({ ...(o as typeof DEFAULTS), script, args: argv.slice(i + 1) });
}

/** Validates options (from the command line or a caller) and fills in the defaults. */
function checkLaunchOptions(options: Partial<LaunchOptions> & Pick<LaunchOptions, 'script'>): LaunchOptions {
  const o: LaunchOptions = { ...DEFAULTS, args: [], ...options };
  const count = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw usageError(`${name} must be at least 1, got ${v}`);
  };
  count('--nproc-per-node', o.nprocPerNode);
  count('--nnodes', o.nnodes);
  if (!Number.isInteger(o.nodeRank) || o.nodeRank < 0 || o.nodeRank >= o.nnodes) {
    throw usageError(`--node-rank must be in [0, ${o.nnodes - 1}] for --nnodes ${o.nnodes}, got ${o.nodeRank}`);
  }
  if (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535) {
    throw usageError(`--master-port must be in [1, 65535], got ${o.masterPort}`);
  }
  if (o.masterAddr === '') throw usageError('--master-addr must not be empty');
  if (o.script === '') throw usageError('no script given: say which script each process runs');
  if (o.mpi && o.nnodes > 1) {
    throw usageError(
      `--mpi starts processes on this node only, but --nnodes is ${o.nnodes}: for several nodes call mpirun yourself ` +
        `with a hostfile, e.g. \`mpirun -np ${o.nnodes * o.nprocPerNode} --hostfile hosts -x MASTER_ADDR -x MASTER_PORT node ${o.script}\``,
    );
  }
  return o;
}

/** The environment torchrun gives local rank `localRank`. */
function rankEnv(o: LaunchOptions, localRank: number): Record<string, string> {
  return {
    RANK: String(o.nodeRank * o.nprocPerNode + localRank),
    LOCAL_RANK: String(localRank),
    WORLD_SIZE: String(o.nnodes * o.nprocPerNode),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
    FIAMMA_LAUNCHED: '1',
  };
}

/** The first executable `name` on PATH, or null. */
function findOnPath(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * OMP_NUM_THREADS for each process when the user did not set it: an equal share of the node's
 * cores, so that N processes do not each start a thread per core (torchrun sets 1; a share keeps
 * the cpu kernels' threading useful when there are fewer processes than cores).
 */
function threadsEnv(env: NodeJS.ProcessEnv, nproc: number): { OMP_NUM_THREADS?: string } {
  if (env.OMP_NUM_THREADS) return {};
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  return { OMP_NUM_THREADS: String(Math.max(1, Math.floor(cores / nproc))) };
}

/** A launched process and how to name it when it fails. */
interface Member {
  name: string;
  proc: ChildProcess;
  done: boolean;
}

/** 128 + the signal's number, the shell's exit code for a process killed by it. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (os.constants.signals[signal] ?? 0);
}

/**
 * Waits for every member. When one fails (non-zero code or a signal) or the launcher itself gets
 * SIGINT/SIGTERM, the rest are signalled, then killed after `graceMs`. Resolves to the exit code:
 * the failed member's, 128 + the launcher's signal, or 0.
 */
function supervise(members: Member[], graceMs: number): Promise<number> {
  return new Promise((resolve) => {
    let result = 0;
    let stopping = false;
    let killTimer: NodeJS.Timeout | undefined;
    const alive = (): Member[] => members.filter((m) => !m.done);
    const stop = (signal: NodeJS.Signals): void => {
      for (const m of alive()) m.proc.kill(signal);
      if (stopping) return;
      stopping = true;
      killTimer = setTimeout(() => alive().forEach((m) => m.proc.kill('SIGKILL')), graceMs);
    };
    // The launcher forwards these rather than dying, so that no child is orphaned.
    const onSignal = (signal: NodeJS.Signals): void => {
      if (!stopping) result = signalExitCode(signal);
      stop(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const finished = (m: Member, code: number | null, signal: NodeJS.Signals | null): void => {
      if (m.done) return;
      m.done = true;
      if ((code !== 0 || signal !== null) && !stopping) {
        result = signal !== null ? signalExitCode(signal) : (code ?? 1);
        const how = signal !== null ? `was killed by signal ${signal} (exit code ${result})` : `exited with code ${code}`;
        const rest = alive().length;
        console.error(`${OP}: ${m.name} ${how}${rest > 0 ? `; stopping the other ${rest} process${rest === 1 ? '' : 'es'}` : ''}`);
        stop('SIGTERM');
      }
      if (alive().length > 0) return;
      clearTimeout(killTimer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(result);
    };
    for (const m of members) {
      m.proc.on('exit', (code, signal) => finished(m, code, signal));
      // A process that could not start at all (no 'exit' follows): count it as failed with 127, the shell's code.
      m.proc.on('error', (e) => {
        if (m.proc.pid !== undefined) return;
        console.error(`${OP}: could not start ${m.name}: ${e.message}`);
        finished(m, 127, null);
      });
    }
  });
}

/**
 * Runs a distributed job on this node as `fiamma run` does and resolves to its exit code: 0 when every
 * process succeeds, else the code of the first that failed (128 + signal number for a signal).
 * @example process.exitCode = await launch({ ...parseLaunchArgs(['--nproc-per-node', '2', 'train.js'])! });
 */
export async function launch(options: LaunchOptions): Promise<number> {
  const o = checkLaunchOptions(options);
  const env = o.env ?? process.env;
  if (!fs.existsSync(o.script)) throw usageError(`script '${o.script}' not found (from ${process.cwd()})`);
  const graceMs = o.graceMs ?? 5000;
  const node = [process.execPath, o.script, ...o.args];
  const threads = threadsEnv(env, o.nprocPerNode);
  if (!o.mpi) {
    const members = Array.from({ length: o.nprocPerNode }, (_, local): Member => {
      const rank = o.nodeRank * o.nprocPerNode + local;
      const proc = spawn(node[0]!, node.slice(1), { stdio: 'inherit', env: { ...env, ...threads, ...rankEnv(o, local) } });
      return { name: `local rank ${local} (rank ${rank}, pid ${proc.pid ?? '?'})`, proc, done: false };
    });
    return supervise(members, graceMs);
  }
  const mpirun = findOnPath('mpirun', env);
  if (mpirun === null) {
    throw new DistributedError(OP, '--mpi needs Open MPI, but mpirun was not found on PATH: install it (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`) or launch without --mpi');
  }
  const shared = { MASTER_ADDR: o.masterAddr, MASTER_PORT: String(o.masterPort), FIAMMA_LAUNCHED: '1', ...threads };
  const mpiEnv: NodeJS.ProcessEnv = { ...env, ...shared };
  // Stale torchrun variables (a launcher inside a launched job) would override Open MPI's ranks.
  for (const k of ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'GROUP_RANK']) delete mpiEnv[k];
  const mpiArgs = [
    '-np', String(o.nprocPerNode),
    '--oversubscribe', // more ranks than cores is allowed, as with the spawning launcher
    // Open MPI pins each rank to one core by default, which would starve the multithreaded cpu kernels.
    '--bind-to', 'none',
    ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []),
    ...Object.keys(shared).flatMap((k) => ['-x', k]),
    ...node,
  ];
  const proc = spawn(mpirun, mpiArgs, { stdio: 'inherit', env: mpiEnv });
  return supervise([{ name: 'mpirun', proc, done: false }], graceMs);
}
