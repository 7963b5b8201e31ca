// The launcher (`fiamma run`, src/cli.ts and src/distributed/launch.ts): torchrun's environment in every
// child, exit codes and signals propagated, the whole job stopped when one process fails, --mpi through
// Open MPI's mpirun, and argument errors. Children are scripts in test/fixtures/distributed/.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launch, parseLaunchArgs, type LaunchOptions } from '../src/distributed/launch.js';
import { ValueError } from '../src/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../src/cli.js');
const fixture = (name: string): string => path.resolve(here, '../../test/fixtures/distributed', name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-launch-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => fs.mkdtempSync(path.join(tmp, `${dirs++}-`));

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node dist/src/cli.js args...`; `whenStarted` gets the launcher process once it is running. */
function fiamma(args: string[], opts: { env?: NodeJS.ProcessEnv; whenStarted?: (p: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 }));
    opts.whenStarted?.(p);
  });
}

/** The JSON lines the children printed, sorted by `key` of their environment. */
function reports(out: string, key: string): { env: Record<string, string>; args: string[] }[] {
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  return lines.map((l) => JSON.parse(l) as { env: Record<string, string>; args: string[] }).sort((a, b) => Number(a.env[key]) - Number(b.env[key]));
}

/** Resolves once every file exists (pid files the sleeping children write); returns their pids. */
async function pids(dir: string, ranks: number[]): Promise<number[]> {
  const deadline = Date.now() + 20_000;
  while (!ranks.every((r) => fs.existsSync(path.join(dir, `pid-${r}`)))) {
    assert.ok(Date.now() < deadline, `children ${ranks} did not start`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return ranks.map((r) => Number(fs.readFileSync(path.join(dir, `pid-${r}`), 'utf8')));
}

/** True if `pid` runs. A zombie counts as gone: mpirun's ranks are reparented to PID 1, which may never reap them. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // The state is the first field after the parenthesised command name.
    return !/\)\s+Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): signal 0 reached it, so it runs
  }
}

/** The OMP_NUM_THREADS each of n processes gets: the user's, else an equal share of the cores. */
function threadShare(n: number): string {
  return process.env['OMP_NUM_THREADS'] ?? String(Math.max(1, Math.floor(os.availableParallelism() / n)));
}

describe('fiamma run: environment', () => {
  test('2 children get torchrun variables and their arguments', async () => {
    const r = await fiamma(['run', '--nproc-per-node', '2', fixture('print_env.mjs'), '--lr', '0.1', 'x y']);
    assert.equal(r.code, 0, r.stderr);
    const seen = reports(r.stdout, 'RANK');
    assert.deepEqual(
      seen.map((s) => s.env),
      [0, 1].map((rank) => ({
        RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '2', GROUP_RANK: '0',
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500', FIAMMA_LAUNCHED: '1', OMP_NUM_THREADS: threadShare(2),
      })),
    );
    for (const s of seen) assert.deepEqual(s.args, ['--lr', '0.1', 'x y']);
  });

  test('3 children on node 1 of 2, with torchrun spellings and the = form', async () => {
    const r = await fiamma(['run', '--nproc_per_node=3', '--nnodes', '2', '--node_rank=1', '--master_addr', '10.0.0.5', '--master-port=1234', fixture('print_env.mjs')]);
    assert.equal(r.code, 0, r.stderr);
    const seen = reports(r.stdout, 'RANK').map((s) => s.env);
    assert.equal(seen.length, 3);
    for (const [local, env] of seen.entries()) {
      assert.deepEqual(env, {
        RANK: String(3 + local), LOCAL_RANK: String(local), WORLD_SIZE: '6', LOCAL_WORLD_SIZE: '3', GROUP_RANK: '1',
        MASTER_ADDR: '10.0.0.5', MASTER_PORT: '1234', FIAMMA_LAUNCHED: '1', OMP_NUM_THREADS: threadShare(3),
      });
    }
  });
});

describe('fiamma run: failures', () => {
  test('a child exiting 3 stops the job: the launcher exits 3 and the sleeper is gone', async () => {
    const dir = freshDir();
    const r = await fiamma(['run', '--nproc-per-node', '2', fixture('fail_or_sleep.mjs'), dir, '1', '3']);
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    assert.match(r.stderr, /fiamma run: local rank 1 \(rank 1, pid \d+\) exited with code 3; stopping the other 1 process\n/);
    const [sleeper] = await pids(dir, [0]);
    assert.equal(isAlive(sleeper!), false, 'the sleeping rank was not stopped');
  });

  test('a child killed by SIGKILL makes the launcher exit 137', async () => {
    const dir = freshDir();
    const r = await fiamma(['run', '--nproc-per-node', '3', fixture('fail_or_sleep.mjs'), dir, '0', 'SIGKILL']);
    assert.equal(r.code, 137, r.stderr);
    assert.match(r.stderr, /local rank 0 \(rank 0, pid \d+\) was killed by signal SIGKILL \(exit code 137\); stopping the other 2 processes/);
    for (const pid of await pids(dir, [1, 2])) assert.equal(isAlive(pid), false);
  });

  test('a child that ignores SIGTERM is killed after the grace period', async () => {
    const dir = freshDir();
    // In-process launch (children print nothing) so that the grace period can be shortened.
    const options: LaunchOptions = { ...parseLaunchArgs(['--nproc-per-node', '2', fixture('fail_or_sleep.mjs'), dir, '1', '4', 'ignore-term'])!, graceMs: 300 };
    const errors: string[] = [];
    const log = console.error;
    console.error = (m: string) => errors.push(m);
    const t0 = Date.now();
    try {
      assert.equal(await launch(options), 4);
    } finally {
      console.error = log;
    }
    assert.ok(Date.now() - t0 < 5000, 'the SIGKILL came late');
    assert.equal(errors.length, 1);
    const [stubborn] = await pids(dir, [0]);
    assert.equal(isAlive(stubborn!), false);
  });

  test('SIGINT to the launcher is forwarded to the children', async () => {
    const dir = freshDir();
    let launcher: ReturnType<typeof spawn> | undefined;
    const running = fiamma(['run', '--nproc-per-node', '2', fixture('fail_or_sleep.mjs'), dir, '-1', '0'], { whenStarted: (p) => (launcher = p) });
    const children = await pids(dir, [0, 1]);
    launcher!.kill('SIGINT');
    const r = await running;
    assert.equal(r.code, 130, r.stderr); // 128 + SIGINT, as a shell reports it
    assert.ok(r.ms < 10_000);
    for (const pid of children) assert.equal(isAlive(pid), false);
  });
});

const mpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
const noMpi = mpirun.status === 0 ? undefined : 'mpirun not found on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) to test --mpi';

describe('fiamma run --mpi', () => {
  test('2 ranks through mpirun read their ranks from Open MPI', { skip: noMpi }, async () => {
    const r = await fiamma(['run', '--mpi', '--nproc-per-node', '2', '--master-port', '4321', fixture('print_env.mjs'), 'a'], { env: { ...process.env, RANK: '9' } });
    assert.equal(r.code, 0, r.stderr);
    const seen = reports(r.stdout, 'OMPI_COMM_WORLD_RANK');
    assert.deepEqual(
      seen.map((s) => s.env),
      [0, 1].map((rank) => ({
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: '4321', FIAMMA_LAUNCHED: '1',
        OMPI_COMM_WORLD_RANK: String(rank), OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: String(rank), OMP_NUM_THREADS: threadShare(2),
      })),
      'a stale RANK from the environment must not reach the ranks',
    );
    for (const s of seen) assert.deepEqual(s.args, ['a']);
  });

  test("mpirun's failure is the launcher's exit code", { skip: noMpi }, async () => {
    const dir = freshDir();
    const r = await fiamma(['run', '--mpi', '--nproc-per-node', '2', fixture('fail_or_sleep.mjs'), dir, '1', '5']);
    assert.equal(r.code, 5, r.stderr);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    assert.match(r.stderr, /fiamma run: mpirun exited with code 5\n/);
    const [sleeper] = await pids(dir, [0]);
    assert.equal(isAlive(sleeper!), false, 'mpirun left the sleeping rank running');
  });

  test('without mpirun on PATH the error says to install Open MPI', async () => {
    const r = await fiamma(['run', '--mpi', fixture('print_env.mjs')], { env: { ...process.env, PATH: path.join(tmp, 'nothing-here') } });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'fiamma run: --mpi needs Open MPI, but mpirun was not found on PATH: install it (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`) or launch without --mpi\n',
    );
  });
});

describe('fiamma run: arguments', () => {
  test('parseLaunchArgs reads options, then the script and its own arguments', () => {
    assert.deepEqual(parseLaunchArgs(['train.js']), {
      nprocPerNode: 1, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, mpi: false, script: 'train.js', args: [],
    });
    const o = parseLaunchArgs(['--mpi', '--nproc-per-node=4', 'train.js', '--nproc-per-node', '9', '--mpi']);
    assert.deepEqual([o?.mpi, o?.nprocPerNode, o?.script, o?.args], [true, 4, 'train.js', ['--nproc-per-node', '9', '--mpi']]);
    assert.equal(parseLaunchArgs(['--', '--odd-name.js'])?.script, '--odd-name.js');
    assert.equal(parseLaunchArgs(['--nnodes', '2', '--help']), null);
  });

  const bad: [string[], RegExp][] = [
    [[], /no script given/],
    [['--nproc-per-node', '2'], /no script given/],
    [['--nproc-per-node', '0', 'a.js'], /--nproc-per-node must be at least 1, got 0/],
    [['--nproc-per-node=two', 'a.js'], /--nproc-per-node expects a whole number, got 'two'/],
    [['--nnodes', '2', '--node-rank', '2', 'a.js'], /--node-rank must be in \[0, 1\] for --nnodes 2, got 2/],
    [['--master-port', '70000', 'a.js'], /--master-port must be in \[1, 65535\], got 70000/],
    [['--master-addr'], /--master-addr needs a value/],
    [['--frobnicate', 'a.js'], /unknown option '--frobnicate'/],
    [['--mpi=yes', 'a.js'], /--mpi takes no value/],
    [['--mpi', '--nnodes', '2', 'a.js'], /--mpi starts processes on this node only, but --nnodes is 2: for several nodes call mpirun yourself with a hostfile/],
  ];
  for (const [argv, re] of bad) {
    test(`rejects ${JSON.stringify(argv)}`, () => {
      assert.throws(
        () => parseLaunchArgs(argv),
        (e: unknown) => {
          assert.ok(e instanceof ValueError);
          assert.equal(e.op, 'fiamma run');
          assert.match(e.message, re);
          assert.match(e.message, /\nusage: fiamma run \[--nproc-per-node N\]/);
          return true;
        },
      );
    });
  }

  test('the CLI prints argument errors without a stack and exits 2', async () => {
    const r = await fiamma(['run', '--nproc_per_node', '0', 'train.js']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^fiamma run: --nproc-per-node must be at least 1, got 0\nusage: fiamma run /);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const missing = await fiamma(['run', path.join(tmp, 'no-such-script.js')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^fiamma run: script '.*no-such-script\.js' not found/);
    const unknown = await fiamma(['train']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^fiamma: unknown command 'train'\n/);
  });

  test('--help prints the usage and exits 0', async () => {
    const top = await fiamma(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^usage: fiamma <command>/);
    const run = await fiamma(['run', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: fiamma run .*\n[\s\S]*--nproc-per-node N/);
  });
});
