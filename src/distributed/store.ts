// A rendezvous key-value store like PyTorch's TCPStore: one process (rank 0) serves a map from keys to
// bytes over TCP and every process, the server's own included, is a client. Ranks use it to find each
// other and to agree (counters, barriers) before the collective library takes over.
import * as net from 'node:net';
import { DistributedError, ValueError } from '../errors.js';

/** Request codes on the wire. */
const Op = { join: 0, set: 1, get: 2, add: 3, compareSet: 4, wait: 5, check: 6, deleteKey: 7, numKeys: 8 } as const;
/** Reply statuses on the wire: a result, a wait that ran out of time, or an error message. */
const Status = { ok: 0, timeout: 1, error: 2 } as const;
// A frame longer than this is garbage (a stray client speaking another protocol), not a value.
const MAX_FRAME = 1 << 30;

/** Options of `TCPStore.create`. */
export interface TCPStoreOptions {
  /** Where the server listens and where clients connect (MASTER_ADDR). */
  host: string;
  /** The server's port (MASTER_PORT); 0 on the server picks a free one (read `store.port`). */
  port: number;
  /** True in the one process that hosts the store (rank 0). */
  isServer: boolean;
  /** How long to wait for the server to come up and for keys in `get`/`wait` (default 600 000 ms, PyTorch's 10 min). */
  timeoutMs?: number;
  /** On the server: wait in `create` until this many clients (itself included) have connected. */
  worldSize?: number;
}

// ---- framing: [u32 length][u32 request id][u8 op or status][fields: u32 length + bytes, ...] ----

function encodeFrame(id: number, code: number, fields: readonly Uint8Array[]): Buffer {
  const size = 5 + fields.reduce((n, f) => n + 4 + f.length, 0);
  const out = Buffer.allocUnsafe(4 + size);
  out.writeUInt32BE(size, 0);
  out.writeUInt32BE(id, 4);
  out.writeUInt8(code, 8);
  let at = 9;
  for (const f of fields) {
    out.writeUInt32BE(f.length, at);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

/** Splits a frame's payload into its id, code and fields; throws on a malformed payload. */
function decodeFrame(payload: Buffer): { id: number; code: number; fields: Buffer[] } {
  if (payload.length < 5) throw new Error(`frame of ${payload.length} bytes is too short`);
  const fields: Buffer[] = [];
  let at = 5;
  while (at < payload.length) {
    if (at + 4 > payload.length) throw new Error('truncated field length');
    const n = payload.readUInt32BE(at);
    if (at + 4 + n > payload.length) throw new Error('truncated field');
    fields.push(payload.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return { id: payload.readUInt32BE(0), code: payload.readUInt8(4), fields };
}

/** Reassembles length-prefixed frames from a TCP byte stream. */
class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private need = -1;
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.need < 0) {
        if (this.size < 4) break;
        this.need = this.take(4).readUInt32BE(0);
        if (this.need > MAX_FRAME) throw new Error(`frame of ${this.need} bytes exceeds the ${MAX_FRAME}-byte limit`);
      }
      if (this.size < this.need) break;
      frames.push(this.take(this.need));
      this.need = -1;
    }
    return frames;
  }
  // Concatenates only once a whole frame is in, so a large value arriving in many chunks is copied once.
  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return all.subarray(0, n);
  }
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const bytes = (v: string | Uint8Array): Uint8Array => (typeof v === 'string' ? utf8(v) : v);
const quoteKeys = (keys: readonly string[]): string => keys.map((k) => JSON.stringify(k)).join(', ');

// ---- server ----

/** A request parked until its keys exist: a `get` (replies with the value) or a `wait`. */
interface Waiter {
  keys: string[];
  socket: net.Socket;
  reply: () => void;
  timer?: NodeJS.Timeout;
}

/** The server half: the map, the parked requests, and the accepted connections. */
class StoreServer {
  private readonly data = new Map<string, Buffer>();
  private readonly waiters = new Set<Waiter>();
  private readonly sockets = new Set<net.Socket>();
  private joined = 0;
  private joinListeners: (() => boolean)[] = [];

  constructor(readonly server: net.Server) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Resolves once `n` clients have joined, or rejects after `timeoutMs`. */
  waitForJoins(n: number, timeoutMs: number, where: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => (this.joined >= n ? (clearTimeout(timer), resolve(), true) : false);
      const timer = setTimeout(() => {
        this.joinListeners = this.joinListeners.filter((f) => f !== check);
        reject(new DistributedError('TCPStore.create', `only ${this.joined} of ${n} workers (worldSize) connected to the store at ${where} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.joinListeners.push(check);
    });
  }

  close(): Promise<void> {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    // The server never keeps its process alive by itself: the host program decides when it is done.
    socket.unref();
    socket.setNoDelay(true);
    this.sockets.add(socket);
    const reader = new FrameReader();
    socket.on('data', (chunk) => {
      try {
        for (const frame of reader.push(chunk)) this.handle(socket, decodeFrame(frame));
      } catch {
        socket.destroy(); // a client speaking another protocol
      }
    });
    socket.on('error', () => {}); // a peer vanishing shows as 'close' below
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const w of this.waiters) if (w.socket === socket) this.drop(w);
    });
  }

  private drop(w: Waiter): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
  }

  private handle(socket: net.Socket, req: { id: number; code: number; fields: Buffer[] }): void {
    const send = (status: number, fields: Uint8Array[] = []): void => {
      if (!socket.destroyed) socket.write(encodeFrame(req.id, status, fields));
    };
    const f = req.fields;
    const key = f[0]?.toString('utf8') ?? '';
    switch (req.code) {
      case Op.join:
        this.joined++;
        this.joinListeners = this.joinListeners.filter((check) => !check());
        return send(Status.ok);
      case Op.set:
        this.put(key, Buffer.from(f[1] ?? []));
        return send(Status.ok);
      case Op.get:
        return this.park(socket, [key], Number(f[1]), () => send(Status.ok, [this.data.get(key)!]), send);
      case Op.wait:
        return this.park(socket, f.slice(1).map((k) => k.toString('utf8')), Number(f[0]), () => send(Status.ok), send);
      case Op.check:
        return send(Status.ok, [utf8(f.every((k) => this.data.has(k.toString('utf8'))) ? '1' : '0')]);
      case Op.add: {
        const old = this.data.get(key)?.toString('utf8') ?? '0';
        const value = Number(old);
        if (!/^-?\d+$/.test(old) || !Number.isSafeInteger(value)) {
          return send(Status.error, [utf8(`key ${JSON.stringify(key)} holds ${JSON.stringify(old.slice(0, 40))}, which is not an integer counter`)]);
        }
        const sum = value + Number(f[1]!.toString('utf8'));
        this.put(key, utf8(String(sum)));
        return send(Status.ok, [utf8(String(sum))]);
      }
      case Op.compareSet: {
        // PyTorch's rule: a missing key is created only when `expected` is empty; the reply is the value now held.
        const [expected, desired] = [f[1]!, f[2]!];
        const current = this.data.get(key);
        if (current === undefined ? expected.length === 0 : current.equals(expected)) {
          this.put(key, Buffer.from(desired));
          return send(Status.ok, [desired]);
        }
        return send(Status.ok, [current ?? expected]);
      }
      case Op.deleteKey:
        return send(Status.ok, [utf8(this.data.delete(key) ? '1' : '0')]);
      case Op.numKeys:
        return send(Status.ok, [utf8(String(this.data.size))]);
      default:
        return send(Status.error, [utf8(`unknown request code ${req.code}`)]);
    }
  }

  private put(key: string, value: Buffer): void {
    this.data.set(key, value);
    for (const w of this.waiters) {
      if (w.keys.includes(key) && w.keys.every((k) => this.data.has(k))) {
        this.drop(w);
        w.reply();
      }
    }
  }

  /** Replies now if every key exists, else when the last one is set, or with a timeout status. */
  private park(socket: net.Socket, keys: string[], timeoutMs: number, reply: () => void, send: (status: number) => void): void {
    if (keys.every((k) => this.data.has(k))) return reply();
    const w: Waiter = { keys, socket, reply };
    if (timeoutMs > 0) {
      // The client keeps its own timer too (this process may be busy); this one only frees the waiter.
      w.timer = setTimeout(() => (this.drop(w), send(Status.timeout)), timeoutMs);
      w.timer.unref();
    }
    this.waiters.add(w);
  }
}

// ---- client ----

interface Pending {
  resolve: (fields: Buffer[]) => void;
  reject: (e: Error) => void;
  onTimeout: () => DistributedError;
  timer?: NodeJS.Timeout;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One TCP connection attempt, bounded by `ms` (a black-holed address never answers a SYN). */
function connectOnce(host: string, port: number, ms: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, Math.max(1, ms));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    });
  });
}

/** Connects to host:port, retrying with backoff because the server (rank 0) may start after us. */
async function connectWithRetry(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  const start = Date.now();
  const deadline = start + timeoutMs;
  let delay = 20;
  let last = '';
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(host, port, Math.min(deadline - Date.now(), 10_000));
    } catch (e) {
      last = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new DistributedError(
        'TCPStore.create',
        `could not connect to the store at ${host}:${port}: tried ${attempt} times for ${Date.now() - start} ms (timeoutMs ${timeoutMs}), last error ${last}; ` +
          'is the server (rank 0) running, and do MASTER_ADDR and MASTER_PORT point at it?',
      );
    }
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 2, 1000);
  }
}

/**
 * A key-value store for rendezvous, as PyTorch's `torch.distributed.TCPStore`: the server process
 * (rank 0) holds the data and serves it over TCP; every process, the server's own included, talks
 * to it as a client. Values are bytes; `add` keeps integer counters as decimal text, like PyTorch.
 *
 * The store never keeps a finished program alive: sockets hold the event loop only while a request
 * is outstanding, and the server holds it not at all (as in PyTorch, the store lives as long as the
 * process that hosts it, so rank 0 should outlive the others' use of it, e.g. with a final barrier).
 *
 * @example
 * const store = await TCPStore.create({ host: '127.0.0.1', port: 29500, isServer: rank === 0 });
 * await store.set('addr/0', 'hello');
 * const n = await store.add('arrived', 1);
 * const v = new TextDecoder().decode(await store.get('addr/0')); // 'hello', waiting if needed
 * await store.close();
 */
export class TCPStore {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private lost: DistributedError | null = null;

  private constructor(
    /** The address clients connect to. */
    readonly host: string,
    /** The server's port (the one actually bound when created with port 0). */
    readonly port: number,
    /** How long `get` and `wait` wait for keys, and any request for its reply, in milliseconds (default 600 000). */
    readonly timeoutMs: number,
    private readonly socket: net.Socket,
    private readonly server: StoreServer | null,
  ) {
    socket.setNoDelay(true);
    socket.unref();
    const reader = new FrameReader();
    socket.on('data', (chunk) => {
      try {
        for (const frame of reader.push(chunk)) this.receive(decodeFrame(frame));
      } catch (e) {
        this.fail(`received a malformed reply from the store at ${this.where} (${(e as Error).message})`);
        socket.destroy();
      }
    });
    socket.on('error', (e) => this.fail(`lost the connection to the store at ${this.where}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    socket.on('close', () => this.fail(`lost the connection to the store at ${this.where}: the server (rank 0) closed it or exited`));
  }

  /** True in the process that hosts the server. */
  get isServer(): boolean {
    return this.server !== null;
  }

  private get where(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * Starts the server (when `isServer`) and connects to it, retrying until `timeoutMs` because the
   * server may start later than its clients.
   * @example const store = await TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true }); store.port;
   */
  static async create(options: TCPStoreOptions): Promise<TCPStore> {
    const { host, isServer, timeoutMs = 600_000, worldSize } = options;
    let port = options.port;
    const op = 'TCPStore.create';
    if (typeof host !== 'string' || host === '') throw new ValueError(op, `host must be a non-empty string, got ${JSON.stringify(host)}`);
    if (!Number.isInteger(port) || port < (isServer ? 0 : 1) || port > 65535) {
      throw new ValueError(op, `port must be an integer in [${isServer ? 0 : 1}, 65535]${isServer ? '' : ' (only the server may ask for port 0)'}, got ${port}`);
    }
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new ValueError(op, `timeoutMs must be a positive finite number, got ${timeoutMs}`);
    if (worldSize !== undefined && !(Number.isInteger(worldSize) && worldSize >= 1)) {
      throw new ValueError(op, `worldSize must be a positive integer, got ${worldSize}`);
    }
    let server: StoreServer | null = null;
    if (isServer) {
      const netServer = net.createServer();
      await new Promise<void>((resolve, reject) => {
        netServer.once('error', (e: NodeJS.ErrnoException) =>
          reject(new DistributedError(op, `could not listen on ${host}:${port}: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? ' (another job or store uses this port: choose another MASTER_PORT)' : ''}`)),
        );
        netServer.listen({ host, port }, () => resolve());
      });
      netServer.unref();
      port = (netServer.address() as net.AddressInfo).port;
      server = new StoreServer(netServer);
    }
    let socket: net.Socket;
    try {
      socket = await connectWithRetry(host, port, timeoutMs);
    } catch (e) {
      await server?.close();
      throw e;
    }
    const store = new TCPStore(host, port, timeoutMs, socket, server);
    try {
      await store.request('TCPStore.create', Op.join, []);
      if (server && worldSize !== undefined) await server.waitForJoins(worldSize, timeoutMs, store.where);
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  /** Sets `key` to `value` (text is stored as UTF-8), waking every `get`/`wait` that waits for it. */
  async set(key: string, value: string | Uint8Array): Promise<void> {
    await this.request('TCPStore.set', Op.set, [utf8(key), bytes(value)]);
  }

  /**
   * The value of `key`, waiting until some process sets it; a DistributedError after `timeoutMs`.
   * @example const text = new TextDecoder().decode(await store.get('master/ready'));
   */
  async get(key: string): Promise<Uint8Array> {
    const t = this.timeoutMs;
    const [value] = await this.request('TCPStore.get', Op.get, [utf8(key), utf8(String(t))], t, () =>
      new DistributedError('TCPStore.get', `key ${JSON.stringify(key)} was not set within ${t} ms (store at ${this.where})`),
    );
    return new Uint8Array(value!);
  }

  /**
   * Adds `amount` to the integer counter `key` (missing counts as 0) atomically and returns the new
   * value. Example: `const arrived = await store.add('barrier/1', 1);`
   */
  async add(key: string, amount: number): Promise<number> {
    if (!Number.isSafeInteger(amount)) throw new ValueError('TCPStore.add', `amount must be an integer, got ${amount}`);
    const [sum] = await this.request('TCPStore.add', Op.add, [utf8(key), utf8(String(amount))]);
    return Number(sum!.toString('utf8'));
  }

  /**
   * Sets `key` to `desired` only if it now holds `expected` (or is missing and `expected` is empty),
   * atomically, as PyTorch's `compare_set`; returns the value the key holds afterwards.
   */
  async compareSet(key: string, expected: string | Uint8Array, desired: string | Uint8Array): Promise<Uint8Array> {
    const [value] = await this.request('TCPStore.compareSet', Op.compareSet, [utf8(key), bytes(expected), bytes(desired)]);
    return new Uint8Array(value!);
  }

  /** Waits until every key in `keys` exists; a DistributedError after `timeoutMs` (default: the store's). */
  async wait(keys: readonly string[], timeoutMs: number = this.timeoutMs): Promise<void> {
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new ValueError('TCPStore.wait', `timeoutMs must be a positive finite number, got ${timeoutMs}`);
    await this.request('TCPStore.wait', Op.wait, [utf8(String(timeoutMs)), ...keys.map(utf8)], timeoutMs, () =>
      new DistributedError('TCPStore.wait', `${keys.length === 1 ? 'key' : 'keys'} ${quoteKeys(keys)} ${keys.length === 1 ? 'was not' : 'were not all'} set within ${timeoutMs} ms (store at ${this.where})`),
    );
  }

  /** True if every key in `keys` exists now (does not wait). */
  async check(keys: readonly string[]): Promise<boolean> {
    const [yes] = await this.request('TCPStore.check', Op.check, keys.map(utf8));
    return yes!.toString('utf8') === '1';
  }

  /** Deletes `key`; true if it existed. */
  async deleteKey(key: string): Promise<boolean> {
    const [yes] = await this.request('TCPStore.deleteKey', Op.deleteKey, [utf8(key)]);
    return yes!.toString('utf8') === '1';
  }

  /** The number of keys in the store (counters included; unlike PyTorch, no internal key is counted). */
  async numKeys(): Promise<number> {
    const [n] = await this.request('TCPStore.numKeys', Op.numKeys, []);
    return Number(n!.toString('utf8'));
  }

  /** Closes this client and, on the server, the server and every connection to it. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.lost) this.fail('the store was closed');
    this.socket.destroy();
    await this.server?.close();
  }

  /** Closes the store at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Sends one request; every request times out (as in PyTorch), so a stalled server never hangs a rank. */
  private request(op: string, code: number, fields: Uint8Array[], timeoutMs = this.timeoutMs, onTimeout?: () => DistributedError): Promise<Buffer[]> {
    if (this.lost) return Promise.reject(new DistributedError(op, this.lost.reason));
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff_fffe) + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        resolve,
        // Errors from the connection or the server carry no op; they are raised as this request's.
        reject: (e) => reject(e instanceof DistributedError && e.op === '' ? new DistributedError(op, e.reason) : e),
        onTimeout: onTimeout ?? (() => new DistributedError(op, `no reply from the store at ${this.where} within ${timeoutMs} ms: is the server process (rank 0) stalled?`)),
      };
      p.timer = setTimeout(() => this.settle(id)?.reject(p.onTimeout()), timeoutMs);
      this.pending.set(id, p);
      // Hold the event loop only while a reply is awaited, so an idle store lets the program exit.
      this.socket.ref();
      this.socket.write(encodeFrame(id, code, fields));
    });
  }

  /** Removes and returns the pending request `id` (undefined if it already finished). */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) this.socket.unref();
    return p;
  }

  private receive(reply: { id: number; code: number; fields: Buffer[] }): void {
    const p = this.settle(reply.id);
    if (!p) return; // a reply to a request that already timed out here
    if (reply.code === Status.ok) p.resolve(reply.fields);
    else if (reply.code === Status.timeout) p.reject(p.onTimeout());
    else p.reject(new DistributedError('', reply.fields[0]?.toString('utf8') ?? 'the server reported an error'));
  }

  /** Marks the connection dead and rejects every outstanding request with the reason. */
  private fail(reason: string): void {
    if (this.lost) return;
    this.lost = new DistributedError('', reason);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(this.lost);
  }
}
