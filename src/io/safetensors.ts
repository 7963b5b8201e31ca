// Saving and loading tensors in the safetensors format, to files and to buffers through one
// encoder and one decoder; shared storage is kept through aliases (see aliases.ts).
import { Tensor } from '../tensor/tensor.js';
import { Device, type DeviceLike } from '../device.js';
import { bytesPerElement } from '../dtype.js';
import { ValueError } from '../errors.js';
import { fromValues } from '../functional/creation.js';
import { fileDTypeOf, fileDTypes, fromFileBytes, toFileBytes } from './dtypes.js';
import { buildHeader, fileOrder, headerLength, MAX_HEADER_BYTES, METADATA_KEY, numelOrInfinity, parseHeader, type Header } from './format.js';
import { ALIASES_KEY, aliasView, parseAliases, planAliases } from './aliases.js';
import { bytesSource, withFileSource, writeFileAtomic, type ByteSource } from './files.js';

/** Options of `save` and `saveBytes`. Example: `fm.save(sd, 'm.safetensors', { metadata: { format: 'pt' }, aliases: false })`. */
export interface SaveOptions {
  /** Strings stored in the header's `__metadata__` (e.g. `{ format: 'pt' }`, as transformers writes). */
  metadata?: Record<string, string>;
  /**
   * Tensors sharing storage are written once and the others recorded as views of them (default
   * true). false writes each in full: other readers then see every key, but the sharing is lost.
   */
  aliases?: boolean;
}

/** Options of `load` and `loadBytes`. Example: `fm.load('m.safetensors', { device: 'cuda', stripPrefixes: true })`. */
export interface LoadOptions {
  /** The device the tensors are created on (default `'cpu'`). */
  device?: DeviceLike;
  /**
   * Prefixes removed from the start of names (repeatedly): true removes `'module.'`
   * (DataParallel / DistributedDataParallel) and `'_orig_mod.'` (torch.compile); or give a list.
   */
  stripPrefixes?: boolean | readonly string[];
}

/** Metadata keys Fiamma writes itself; a user's metadata may not use them. */
export const RESERVED_KEYS: readonly string[] = [ALIASES_KEY, 'fiamma.checkpoint'];

/** A plain record, or a ValueError naming op and what it should hold. */
function checkRecord(op: string, x: unknown, what: string): void {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Tensor) {
    throw new ValueError(op, `expected ${what}, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : x instanceof Tensor ? 'a Tensor' : typeof x}`);
  }
}

/**
 * The file's parts: the header, then each written tensor's bytes in the reference writer's order.
 * Inputs are checked now; each tensor is read from its device only when its turn comes.
 */
export function encode(op: string, tensors: Record<string, Tensor>, opts: SaveOptions, reserved: Record<string, string> = {}): Iterable<Uint8Array> {
  checkRecord(op, tensors, 'a record of named tensors');
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor)) throw new ValueError(op, `${JSON.stringify(name)} is not a tensor (got ${t === null ? 'null' : typeof t})`);
    if (t.isDisposed || t.storage.freed) throw new ValueError(op, `${JSON.stringify(name)} was disposed`);
    if (name === METADATA_KEY) throw new ValueError(op, `"${METADATA_KEY}" is the format's own key and cannot name a tensor`);
  }
  checkRecord(op, opts, 'an options object');
  if (opts.metadata !== undefined) checkRecord(op, opts.metadata, 'metadata as a record of strings');
  const metadata = opts.metadata === undefined ? null : { ...opts.metadata };
  if (metadata !== null) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ValueError(op, `metadata value of ${JSON.stringify(k)} must be a string, got ${typeof v}`);
      if (RESERVED_KEYS.includes(k)) throw new ValueError(op, `metadata key ${JSON.stringify(k)} is reserved for Fiamma`);
    }
  }
  const { stored, aliases } = opts.aliases === false ? { stored: entries, aliases: [] } : planAliases(entries);
  const extra: Record<string, string> = { ...reserved };
  if (aliases.length > 0) extra[ALIASES_KEY] = JSON.stringify(Object.fromEntries(aliases));
  const meta = metadata === null && Object.keys(extra).length === 0 ? null : { ...metadata, ...extra };
  const layout = stored
    .map(([name, t]) => ({ name, t, code: fileDTypeOf[t.dtype], shape: t.shape, bytes: t.numel() * bytesPerElement(t.dtype) }))
    .sort(fileOrder);
  const { header } = buildHeader(layout, meta);
  if (header.length - 8 > MAX_HEADER_BYTES) throw new ValueError(op, `the header would be ${header.length - 8} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers accept`);
  return (function* () {
    yield header;
    for (const { t, bytes } of layout) {
      // data() reads through the tensor's backend (a device copy for cuda) and makes views contiguous.
      if (bytes > 0) yield toFileBytes(t.storedData()); // float16 / bfloat16: their bits, NaN payloads included
    }
  })();
}

/** The validated header of a source, and where its data section starts. */
export function readHeader(op: string, source: ByteSource): Header & { dataStart: number } {
  const n = headerLength(source.read(0, Math.min(8, source.size)), source.size, op);
  return { ...parseHeader(source.read(8, n), source.size - 8 - n, op), dataStart: 8 + n };
}

/**
 * Tensors of a source in header order (aliases last, as views of their owners) and its metadata.
 * Everything about the file is validated before the first tensor is allocated.
 */
export function decode(op: string, source: ByteSource, device: DeviceLike = 'cpu'): { tensors: [string, Tensor][]; metadata: Record<string, string> } {
  const { tensors, metadata, dataStart } = readHeader(op, source);
  const numels = new Map(tensors.map((t) => [t.name, numelOrInfinity(t.shape)]));
  const aliasText = metadata?.[ALIASES_KEY];
  const aliases = aliasText === undefined ? [] : parseAliases(aliasText, numels, op);
  const dev = Device.of(device);
  const out = new Map<string, Tensor>();
  for (const info of tensors) {
    const bytes = source.read(dataStart + info.begin, info.end - info.begin);
    out.set(info.name, fromValues(fromFileBytes(info.code, bytes, numels.get(info.name)!), info.shape, fileDTypes[info.code].dtype, dev));
  }
  for (const [name, a] of aliases) out.set(name, aliasView(out.get(a.of)!, a));
  return { tensors: [...out], metadata: { ...metadata } };
}

/** The prefixes a stripPrefixes option names (checked). */
function prefixesOf(op: string, opt: LoadOptions['stripPrefixes']): readonly string[] {
  if (opt === undefined || opt === false) return [];
  if (opt === true) return ['module.', '_orig_mod.'];
  if (!Array.isArray(opt) || !opt.every((p) => typeof p === 'string' && p.length > 0)) {
    throw new ValueError(op, `stripPrefixes must be a boolean or a list of non-empty strings, got ${JSON.stringify(opt)}`);
  }
  return opt;
}

/** Names with prefixes removed, as a record (a name such as "__proto__" stays an ordinary key). */
function renamed(op: string, tensors: readonly [string, Tensor][], prefixes: readonly string[]): Record<string, Tensor> {
  const from = new Map<string, string>();
  const result: [string, Tensor][] = [];
  for (const [name, t] of tensors) {
    let k = name;
    for (let p = prefixes.find((q) => k.startsWith(q)); p !== undefined; p = prefixes.find((q) => k.startsWith(q))) k = k.slice(p.length);
    if (from.has(k)) throw new ValueError(op, `stripping prefixes turns both ${JSON.stringify(from.get(k))} and ${JSON.stringify(name)} into ${JSON.stringify(k)}`);
    from.set(k, name);
    result.push([k, t]);
  }
  return Object.fromEntries(result);
}

function loadFrom(op: string, source: ByteSource, opts: LoadOptions): Record<string, Tensor> {
  checkRecord(op, opts, 'an options object');
  const prefixes = prefixesOf(op, opts.stripPrefixes);
  return renamed(op, decode(op, source, opts.device).tensors, prefixes);
}

/**
 * Writes tensors to a safetensors file that PyTorch's `safetensors.torch.load_file` reads, with
 * the bytes its `save_file` would write for the same tensors (tensors ordered by dtype alignment,
 * then name). The file is replaced atomically: a failure midway leaves the old file whole.
 * Tensors sharing storage (tied weights, views) are written once, the others recorded under the
 * metadata key "fiamma.aliases" and shared again by `load`; other readers see only the written
 * ones (pass `{ aliases: false }` to write every tensor in full). Tensors on a GPU are copied to
 * the host one at a time. requiresGrad is not saved, as in PyTorch.
 * Example: `fm.save(model.stateDict(), 'model.safetensors', { metadata: { format: 'pt' } })`.
 */
export function save(tensors: Record<string, Tensor>, path: string, opts: SaveOptions = {}): void {
  if (typeof path !== 'string') throw new ValueError('save', `expected a file path, got ${typeof path}`);
  writeFileAtomic('save', path, encode('save', tensors, opts));
}

/**
 * Reads a safetensors file (any writer, any tensor order) into tensors on `device` (default cpu),
 * names in header order. F32, F64, I64, I32, U8 and BOOL load as they are; I8 and I16 load widened
 * to int32, F16 and BF16 to float32, until Fiamma has those dtypes. A malformed, truncated or
 * hostile file raises a SafetensorsError before any large allocation; a missing one a FileError.
 * Example: `model.loadStateDict(fm.load('model.safetensors', { stripPrefixes: true }))`.
 */
export function load(path: string, opts: LoadOptions = {}): Record<string, Tensor> {
  if (typeof path !== 'string') throw new ValueError('load', `expected a file path, got ${typeof path}`);
  return withFileSource('load', path, (source) => loadFrom('load', source, opts));
}

/**
 * The bytes of the safetensors file `save` would write (same options).
 * Example: `const bytes = fm.saveBytes({ w: fm.ones([2]) }); fm.loadBytes(bytes).w`.
 */
export function saveBytes(tensors: Record<string, Tensor>, opts: SaveOptions = {}): Uint8Array {
  const parts = [...encode('saveBytes', tensors, opts)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Tensors from the bytes of a safetensors file (same options and checks as `load`).
 * Example: `fm.loadBytes(new Uint8Array(await (await fetch(url)).arrayBuffer()))`.
 */
export function loadBytes(bytes: Uint8Array, opts: LoadOptions = {}): Record<string, Tensor> {
  if (!(bytes instanceof Uint8Array)) throw new ValueError('loadBytes', `expected a Uint8Array, got ${typeof bytes}`);
  return loadFrom('loadBytes', bytesSource(bytes), opts);
}

/**
 * The `__metadata__` strings of a safetensors file (a path) or buffer, without reading its
 * tensors; Fiamma's own keys ("fiamma.aliases", "fiamma.checkpoint") are left out.
 * Example: `fm.loadMetadata('model.safetensors').format === 'pt'`.
 */
export function loadMetadata(file: string | Uint8Array): Record<string, string> {
  const read = (source: ByteSource) => Object.fromEntries(Object.entries(readHeader('loadMetadata', source).metadata ?? {}).filter(([k]) => !RESERVED_KEYS.includes(k)));
  if (file instanceof Uint8Array) return read(bytesSource(file));
  if (typeof file !== 'string') throw new ValueError('loadMetadata', `expected a file path or a Uint8Array, got ${typeof file}`);
  return withFileSource('loadMetadata', file, read);
}
