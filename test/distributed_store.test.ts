// TCPStore (src/distributed/store.ts): the rendezvous key-value store, with server and clients in one
// process and across processes (test/fixtures/distributed/store_child.mjs), its waits, atomic counters,
// timeouts, connection loss, and that it never keeps a finished program alive.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TCPStore } from '../src/distributed/store.js';
import { DistributedError, ValueError } from '../src/errors.js';

const childScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/distributed/store_child.mjs');
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const server = (opts: { timeoutMs?: number; worldSize?: number; port?: number } = {}): Promise<TCPStore> =>
  TCPStore.create({ host: '127.0.0.1', port: opts.port ?? 0, isServer: true, ...opts });
const client = (port: number, timeoutMs = 5000): Promise<TCPStore> => TCPStore.create({ host: '127.0.0.1', port, isServer: false, timeoutMs });

/** A port nobody listens on (bound and released at once). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Asserts `p` rejects with a DistributedError from `op` whose message matches `re`; returns it. */
async function rejectsWith(p: Promise<unknown>, cls: typeof DistributedError | typeof ValueError, op: string, re: RegExp): Promise<Error> {
  const e = await p.then(
    () => assert.fail(`expected ${cls.name} matching ${re}`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
  assert.equal(e.op, op);
  assert.ok(e.message.startsWith(`${op}: `), e.message);
  assert.match(e.message, re);
  return e;
}

/** Runs `node store_child.mjs args...` and collects its output. */
function runChild(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [childScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('TCPStore in one process', () => {
  test('set, get, check, deleteKey, numKeys and compareSet', async () => {
    const s = await server();
    const c = await client(s.port);
    try {
      assert.ok(s.isServer && !c.isServer && s.port > 0);
      await s.set('a', 'hello');
      await c.set('b', new Uint8Array([0, 255, 7]));
      assert.equal(text(await c.get('a')), 'hello');
      assert.deepEqual(await s.get('b'), new Uint8Array([0, 255, 7]));
      const big = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255); // arrives in many TCP chunks
      await c.set('big', big);
      assert.deepEqual(await s.get('big'), big);
      assert.equal(await c.deleteKey('big'), true);
      await c.set('empty', '');
      assert.deepEqual(await s.get('empty'), new Uint8Array(0));
      assert.equal(await c.check(['a', 'b']), true);
      assert.equal(await c.check(['a', 'nope']), false);
      assert.equal(await c.numKeys(), 3);
      assert.equal(await c.deleteKey('empty'), true);
      assert.equal(await c.deleteKey('empty'), false);
      assert.equal(await s.numKeys(), 2);
      // PyTorch's compare_set: a missing key is created only from an empty expected value.
      assert.equal(text(await c.compareSet('cs', 'x', 'y')), 'x');
      assert.equal(await c.check(['cs']), false);
      assert.equal(text(await c.compareSet('cs', '', 'first')), 'first');
      assert.equal(text(await s.compareSet('cs', 'wrong', 'second')), 'first');
      assert.equal(text(await s.compareSet('cs', 'first', 'second')), 'second');
      assert.equal(text(await c.get('cs')), 'second');
    } finally {
      await c.close();
      await s.close();
    }
  });

  test('get() and wait() wait for a later set()', async () => {
    const s = await server();
    const c = await client(s.port);
    try {
      const t0 = Date.now();
      const got = c.get('late');
      const waited = c.wait(['late', 'later']);
      await sleep(100);
      await s.set('late', 'now');
      assert.equal(text(await got), 'now');
      assert.ok(Date.now() - t0 >= 90);
      assert.equal(await c.check(['later']), false);
      await s.set('later', '1');
      await waited;
      await c.wait([]); // nothing to wait for
    } finally {
      await c.close();
      await s.close();
    }
  });

  test('add() is atomic under concurrent clients', async () => {
    const s = await server();
    const clients = await Promise.all([1, 2, 3, 4].map(() => client(s.port)));
    try {
      const results = await Promise.all(clients.flatMap((c) => Array.from({ length: 100 }, () => c.add('n', 1))));
      // Every intermediate value seen exactly once: no two increments read the same old value.
      assert.deepEqual([...results].sort((x, y) => x - y), Array.from({ length: 400 }, (_, i) => i + 1));
      assert.equal(await s.add('n', 0), 400);
      assert.equal(await s.add('n', -10), 390);
      assert.equal(text(await clients[0]!.get('n')), '390'); // decimal text, as in PyTorch
      assert.equal(await s.add('fresh', 5), 5);
      await s.set('word', 'abc');
      await rejectsWith(s.add('word', 1), DistributedError, 'TCPStore.add', /key "word" holds "abc", which is not an integer counter/);
      await rejectsWith(s.add('n', 1.5), ValueError, 'TCPStore.add', /amount must be an integer, got 1.5/);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await s.close();
    }
  });

  test('get() and wait() time out with a DistributedError naming the keys and the timeout', async () => {
    const s = await server({ timeoutMs: 200 });
    try {
      const t0 = Date.now();
      const e = await rejectsWith(s.get('missing'), DistributedError, 'TCPStore.get', /key "missing" was not set within 200 ms \(store at 127\.0\.0\.1:\d+\)/);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 190 && elapsed < 2000, `timed out after ${elapsed} ms`);
      assert.match(e.message, new RegExp(`:${s.port}\\)`));
      await rejectsWith(s.wait(['x', 'y'], 100), DistributedError, 'TCPStore.wait', /keys "x", "y" were not all set within 100 ms/);
      await rejectsWith(s.wait(['x'], -1), ValueError, 'TCPStore.wait', /timeoutMs must be a positive finite number, got -1/);
      // The store still works after a timeout.
      await s.set('missing', 'here');
      assert.equal(text(await s.get('missing')), 'here');
    } finally {
      await s.close();
    }
  });

  test('a client retries until the server comes up', async () => {
    const port = await freePort();
    const pending = client(port, 10_000);
    await sleep(300);
    const s = await server({ port });
    const c = await pending;
    await c.set('k', 'v');
    assert.equal(text(await s.get('k')), 'v');
    await c.close();
    await s.close();
  });

  test('a client that cannot connect fails after timeoutMs, saying where it tried', async () => {
    const port = await freePort();
    const t0 = Date.now();
    await rejectsWith(client(port, 400), DistributedError, 'TCPStore.create', new RegExp(`could not connect to the store at 127\\.0\\.0\\.1:${port}: tried \\d+ times for \\d+ ms \\(timeoutMs 400\\), last error ECONNREFUSED`));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 390 && elapsed < 3000, `gave up after ${elapsed} ms`);
  });

  test('losing the server rejects pending and later requests instead of hanging', async () => {
    const s = await server();
    const c = await client(s.port);
    const pending = c.get('never');
    await sleep(50);
    await s.close();
    await rejectsWith(pending, DistributedError, 'TCPStore.get', /lost the connection to the store at 127\.0\.0\.1:\d+/);
    await rejectsWith(c.set('k', 'v'), DistributedError, 'TCPStore.set', /lost the connection/);
    await rejectsWith(s.get('k'), DistributedError, 'TCPStore.get', /the store was closed/);
    await c.close(); // closing twice is harmless
    await s.close();
  });

  test('a server that never replies makes requests time out instead of hanging', async () => {
    const sockets: net.Socket[] = [];
    const mute = net.createServer((sock) => sockets.push(sock.on('data', () => {})));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const port = (mute.address() as net.AddressInfo).port;
    await rejectsWith(client(port, 200), DistributedError, 'TCPStore.create', new RegExp(`no reply from the store at 127\\.0\\.0\\.1:${port} within 200 ms: is the server process \\(rank 0\\) stalled\\?`));
    sockets.forEach((sock) => sock.destroy());
    await new Promise((r) => mute.close(r));
  });

  test('worldSize makes the server wait for every worker, or time out saying how many came', async () => {
    const s0 = await server({ worldSize: 1 }); // only itself
    await s0.close();
    const port = await freePort();
    const s = server({ port, worldSize: 3, timeoutMs: 5000 });
    const c1 = await client(port);
    const c2 = await client(port);
    const store = await s;
    await Promise.all([c1.close(), c2.close(), store.close()]);
    await rejectsWith(server({ worldSize: 2, timeoutMs: 200 }), DistributedError, 'TCPStore.create', /only 1 of 2 workers \(worldSize\) connected to the store at 127\.0\.0\.1:\d+ within 200 ms/);
  });

  test('bad options are ValueErrors; a port in use is a DistributedError', async () => {
    await rejectsWith(TCPStore.create({ host: '127.0.0.1', port: 0, isServer: false }), ValueError, 'TCPStore.create', /port must be an integer in \[1, 65535\] \(only the server may ask for port 0\), got 0/);
    await rejectsWith(TCPStore.create({ host: '', port: 1, isServer: false }), ValueError, 'TCPStore.create', /host must be a non-empty string/);
    await rejectsWith(TCPStore.create({ host: 'localhost', port: 70000, isServer: true }), ValueError, 'TCPStore.create', /got 70000/);
    await rejectsWith(server({ timeoutMs: 0 }), ValueError, 'TCPStore.create', /timeoutMs must be a positive finite number, got 0/);
    await rejectsWith(server({ worldSize: 0 }), ValueError, 'TCPStore.create', /worldSize must be a positive integer, got 0/);
    const s = await server();
    await rejectsWith(server({ port: s.port }), DistributedError, 'TCPStore.create', new RegExp(`could not listen on 127\\.0\\.0\\.1:${s.port}: EADDRINUSE`));
    await s.close();
  });
});

describe('TCPStore across processes', () => {
  test('two child processes meet a server in this one', async () => {
    const port = await freePort();
    // The children start first and must retry until the server is up.
    const children = [0, 1].map((rank) => runChild(['rendezvous', String(port), String(rank)]));
    await sleep(200);
    const s = await server({ port, worldSize: 3, timeoutMs: 20_000 });
    try {
      await s.wait(['child/0', 'child/1']);
      await s.set('go', 'go!');
      await s.wait(['done/0', 'done/1']);
      assert.equal(text(await s.get('counter')), '100');
      const outs = await Promise.all(children);
      for (const [rank, out] of outs.entries()) {
        assert.equal(out.code, 0, `child ${rank} failed: ${out.stderr}`);
        const r = JSON.parse(out.stdout) as { rank: number; go: string; counts: number[] };
        assert.equal(r.rank, rank);
        assert.equal(r.go, 'go!');
        assert.equal(r.counts.length, 50);
      }
      const all = outs.flatMap((o) => (JSON.parse(o.stdout) as { counts: number[] }).counts).sort((x, y) => x - y);
      assert.deepEqual(all, Array.from({ length: 100 }, (_, i) => i + 1));
    } finally {
      await s.close();
    }
  });

  test('a program that hosts a store and never closes it still exits', async () => {
    const t0 = Date.now();
    const out = await runChild(['idle'], 15_000);
    assert.equal(out.signal, null, 'the child hung and was killed');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'v\n');
    assert.ok(Date.now() - t0 < 10_000);
  });
});
