// The MPI engine: Open MPI's libmpi through koffi, nonblocking collectives polled with MPI_Test
// so that a rank that died or stalled turns into a timeout error instead of a hang.
import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { DistributedError } from '../errors.js';
import { hostBuffer } from './host_buffer.js';
import { noGrad } from '../autograd/grad_mode.js';
import { PolledWork, type ProcessGroup, type ReduceOpName, type Work } from './process_group.js';

const require = createRequire(import.meta.url);
type Fn = (...args: unknown[]) => number;
type Handle = bigint;

const MPI_UNDEFINED = -32766;
const MPI_IN_PLACE = 1n;
/** MPI counts are C ints. */
const MAX_COUNT = 2 ** 31 - 1;

/** Where libmpi is looked for: FIAMMA_MPI_LIB, then Open MPI's soname through the loader, then Debian's folder. */
function candidates(): string[] {
  const env = process.env['FIAMMA_MPI_LIB'];
  return [...(env ? [env] : []), 'libmpi.so.40', '/usr/lib/x86_64-linux-gnu/libmpi.so.40', '/usr/lib/aarch64-linux-gnu/libmpi.so.40', 'libmpi.so'];
}

/** Open MPI's library with the calls Fiamma uses; handles (communicators, datatypes, ops) are addresses of its globals. */
class MpiLib {
  readonly lib: LibraryHandle;
  readonly path: string;
  private readonly fns = new Map<string, Fn>();
  constructor() {
    const koffi = require('koffi') as typeof import('koffi');
    const tried: string[] = [];
    for (const path of candidates()) {
      try {
        const lib = koffi.load(path);
        lib.symbol('ompi_mpi_comm_world'); // Open MPI's ABI; MPICH's handles are integers
        this.lib = lib;
        this.path = path;
        return;
      } catch (e) {
        tried.push(`${path} (${(e as Error).message.split('\n')[0]})`);
      }
    }
    throw new DistributedError(
      'initProcessGroup',
      `the mpi backend needs Open MPI's libmpi.so.40, which was not found (tried ${tried.join('; ')}). ` +
        'Install it (`apt-get install openmpi-bin libopenmpi-dev`) or set FIAMMA_MPI_LIB to its path.',
    );
  }
  fn(proto: string): Fn {
    let f = this.fns.get(proto);
    if (!f) this.fns.set(proto, (f = this.lib.func(proto) as unknown as Fn));
    return f;
  }
  global(name: string): Handle {
    return this.lib.symbol(name) as Handle;
  }
  /** Raises a DistributedError carrying MPI's own message for a non-zero status. */
  check(op: string, call: string, status: number): void {
    if (status === 0) return;
    const text = Buffer.alloc(512);
    const len = [0];
    this.fn('int MPI_Error_string(int code, _Out_ uint8_t *str, _Out_ int *len)')(status, text, len);
    throw new DistributedError(op, `${call} failed with MPI error ${status}: ${text.subarray(0, len[0]).toString()}`);
  }
}

let mpi: MpiLib | null = null;

/** Initialises MPI once per process (MPI cannot be initialised twice) and the exit handling. */
function library(): MpiLib {
  if (mpi) return mpi;
  const lib = new MpiLib();
  const flag = [0];
  lib.fn('int MPI_Initialized(_Out_ int *flag)')(flag);
  if (!flag[0]) lib.check('initProcessGroup', 'MPI_Init', lib.fn('int MPI_Init(void *argc, void *argv)')(null, null));
  const world = lib.global('ompi_mpi_comm_world');
  lib.check('initProcessGroup', 'MPI_Comm_set_errhandler', lib.fn('int MPI_Comm_set_errhandler(void *comm, void *handler)')(world, lib.global('ompi_mpi_errors_return')));
  // A clean exit finalizes. A failing one does not: mpirun sees a rank end without MPI_Finalize
  // and stops the others at once, rather than leaving them to wait until their timeout. (MPI_Abort
  // here would kill the process before Node has printed the error that made it fail.)
  process.on('exit', (code) => {
    if (code === 0) lib.fn('int MPI_Finalize()')();
  });
  mpi = lib;
  return lib;
}

/** float16 / bfloat16 move as their bits (MPI has no 16-bit float types; reductions of them are refused in collectives.ts). */
const datatypes: Record<DType, string> = {
  float16: 'ompi_mpi_uint16_t', bfloat16: 'ompi_mpi_uint16_t', float32: 'ompi_mpi_float', float64: 'ompi_mpi_double', int32: 'ompi_mpi_int32_t', int64: 'ompi_mpi_int64_t', uint8: 'ompi_mpi_uint8_t', bool: 'ompi_mpi_uint8_t',
};
/** avg is a sum divided afterwards; on bool, sum is logical or and product logical and (as PyTorch's NCCL backend). */
function opSymbol(op: ReduceOpName, dtype: DType): string {
  if (dtype === 'bool') return op === 'sum' || op === 'max' ? 'ompi_mpi_op_max' : 'ompi_mpi_op_min';
  return { sum: 'ompi_mpi_op_sum', avg: 'ompi_mpi_op_sum', product: 'ompi_mpi_op_prod', max: 'ompi_mpi_op_max', min: 'ompi_mpi_op_min' }[op];
}

/** A communicator of the mpi engine. */
export class MpiGroup implements ProcessGroup {
  readonly backend = 'mpi' as const;
  readonly rank: number;
  readonly size: number;
  private destroyed = false;
  constructor(
    private readonly lib: MpiLib,
    private readonly comm: Handle,
    readonly ranks: readonly number[],
    readonly timeoutMs: number,
  ) {
    const r = [0];
    const s = [0];
    lib.check('initProcessGroup', 'MPI_Comm_rank', lib.fn('int MPI_Comm_rank(void *comm, _Out_ int *rank)')(comm, r));
    lib.check('initProcessGroup', 'MPI_Comm_size', lib.fn('int MPI_Comm_size(void *comm, _Out_ int *size)')(comm, s));
    this.rank = r[0]!;
    this.size = s[0]!;
  }

  /** The world group: MPI_COMM_WORLD as mpirun (or a singleton run) made it. */
  static world(timeoutMs: number): MpiGroup {
    const lib = library();
    const size = [0];
    lib.fn('int MPI_Comm_size(void *comm, _Out_ int *size)')(lib.global('ompi_mpi_comm_world'), size);
    return new MpiGroup(lib, lib.global('ompi_mpi_comm_world'), Array.from({ length: size[0]! }, (_, i) => i), timeoutMs);
  }

  allReduce(t: Tensor, op: ReduceOpName): Work {
    return this.start('allReduce', 'MPI_Iallreduce', 'int MPI_Iallreduce(void *send, void *recv, int count, void *type, void *op, void *comm, _Out_ void **req)',
      [t], (buf) => [MPI_IN_PLACE, buf[0], this.count(t), this.type(t), this.op(op, t.dtype), this.comm], op === 'avg' ? () => this.average(t) : null);
  }
  broadcast(t: Tensor, root: number): Work {
    return this.start('broadcast', 'MPI_Ibcast', 'int MPI_Ibcast(void *buf, int count, void *type, int root, void *comm, _Out_ void **req)',
      [t], (buf) => [buf[0], this.count(t), this.type(t), root, this.comm]);
  }
  reduce(t: Tensor, root: number, op: ReduceOpName): Work {
    const isRoot = this.rank === root;
    return this.start('reduce', 'MPI_Ireduce', 'int MPI_Ireduce(void *send, void *recv, int count, void *type, void *op, int root, void *comm, _Out_ void **req)',
      [t], (buf) => [isRoot ? MPI_IN_PLACE : buf[0], isRoot ? buf[0] : null, this.count(t), this.type(t), this.op(op, t.dtype), root, this.comm],
      op === 'avg' && isRoot ? () => this.average(t) : null);
  }
  allGather(out: Tensor, input: Tensor): Work {
    return this.start('allGather', 'MPI_Iallgather', 'int MPI_Iallgather(void *send, int scount, void *stype, void *recv, int rcount, void *rtype, void *comm, _Out_ void **req)',
      [input, out], (buf) => [buf[0], this.count(input), this.type(input), buf[1], this.count(input), this.type(input), this.comm]);
  }
  gather(out: Tensor | null, input: Tensor, root: number): Work {
    return this.start('gather', 'MPI_Igather', 'int MPI_Igather(void *send, int scount, void *stype, void *recv, int rcount, void *rtype, int root, void *comm, _Out_ void **req)',
      out ? [input, out] : [input], (buf) => [buf[0], this.count(input), this.type(input), buf[1] ?? null, this.count(input), this.type(input), root, this.comm]);
  }
  scatter(out: Tensor, input: Tensor | null, root: number): Work {
    return this.start('scatter', 'MPI_Iscatter', 'int MPI_Iscatter(void *send, int scount, void *stype, void *recv, int rcount, void *rtype, int root, void *comm, _Out_ void **req)',
      input ? [out, input] : [out], (buf) => [buf[1] ?? null, this.count(out), this.type(out), buf[0], this.count(out), this.type(out), root, this.comm]);
  }
  reduceScatter(out: Tensor, input: Tensor, op: ReduceOpName): Work {
    return this.start('reduceScatter', 'MPI_Ireduce_scatter_block', 'int MPI_Ireduce_scatter_block(void *send, void *recv, int count, void *type, void *op, void *comm, _Out_ void **req)',
      [input, out], (buf) => [buf[0], buf[1], this.count(out), this.type(out), this.op(op, out.dtype), this.comm], op === 'avg' ? () => this.average(out) : null);
  }
  allToAll(out: Tensor, input: Tensor): Work {
    const block = this.count(input) / this.size;
    return this.start('allToAll', 'MPI_Ialltoall', 'int MPI_Ialltoall(void *send, int scount, void *stype, void *recv, int rcount, void *rtype, void *comm, _Out_ void **req)',
      [input, out], (buf) => [buf[0], block, this.type(input), buf[1], block, this.type(input), this.comm]);
  }
  send(t: Tensor, peer: number, tag: number): Work {
    return this.start('send', 'MPI_Isend', 'int MPI_Isend(void *buf, int count, void *type, int dest, int tag, void *comm, _Out_ void **req)',
      [t], (buf) => [buf[0], this.count(t), this.type(t), peer, tag, this.comm]);
  }
  recv(t: Tensor, peer: number, tag: number): Work {
    return this.start('recv', 'MPI_Irecv', 'int MPI_Irecv(void *buf, int count, void *type, int source, int tag, void *comm, _Out_ void **req)',
      [t], (buf) => [buf[0], this.count(t), this.type(t), peer, tag, this.comm]);
  }
  barrier(): Work {
    return this.start('barrier', 'MPI_Ibarrier', 'int MPI_Ibarrier(void *comm, _Out_ void **req)', [], () => [this.comm]);
  }

  subgroup(worldRanks: readonly number[]): MpiGroup | null {
    const me = this.ranks[this.rank]!;
    const key = worldRanks.indexOf(me);
    const out: Handle[] = [0n];
    const split = this.lib.fn('int MPI_Comm_split(void *comm, int color, int key, _Out_ void **newcomm)');
    this.lib.check('newGroup', 'MPI_Comm_split', split(this.comm, key >= 0 ? 0 : MPI_UNDEFINED, key, out));
    return key >= 0 ? new MpiGroup(this.lib, out[0]!, worldRanks, this.timeoutMs) : null;
  }

  destroy(): void {
    if (this.destroyed || this.comm === this.lib.global('ompi_mpi_comm_world')) return;
    this.destroyed = true;
    this.lib.check('destroyProcessGroup', 'MPI_Comm_free', this.lib.fn('int MPI_Comm_free(_Inout_ void **comm)')([this.comm]));
  }

  /** Starts a nonblocking call over the tensors' memory and returns the Work that polls it. */
  private start(op: string, call: string, proto: string, tensors: readonly Tensor[], args: (buf: unknown[]) => unknown[], finish: (() => void) | null = null): Work {
    const buffers = tensors.map(hostBuffer);
    const req: Handle[] = [0n];
    this.lib.check(op, call, this.lib.fn(proto)(...args(buffers), req));
    const test = this.lib.fn('int MPI_Test(_Inout_ void **req, _Out_ int *flag, void *status)');
    const flag = [0];
    return new PolledWork(op, this, () => {
      this.lib.check(op, 'MPI_Test', test(req, flag, null));
      return flag[0] !== 0;
    }, finish, [tensors, buffers]);
  }
  private count(t: Tensor): number {
    if (t.numel() > MAX_COUNT) throw new DistributedError('mpi', `a tensor of ${t.numel()} elements is more than one MPI call can move (${MAX_COUNT}); split it`);
    return t.numel();
  }
  private type(t: Tensor): Handle {
    return this.lib.global(datatypes[t.dtype]);
  }
  private op(op: ReduceOpName, dtype: DType): Handle {
    return this.lib.global(opSymbol(op, dtype));
  }
  private average(t: Tensor): void {
    noGrad(() => t.div_(this.size));
  }
}
