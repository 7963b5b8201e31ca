// The safetensors layout: an 8-byte little-endian header length, a JSON header padded with spaces
// to a multiple of 8 bytes, then every tensor's bytes back to back. Builds and validates headers.
import { fmtShape } from '../tensor/shape.js';
import { fileDTypes, isFileDType, type FileDType } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { isJsonObject, parseStrictJson, type Json } from './json.js';

/** The largest header read (as the reference implementation): a longer one is refused unread. */
export const MAX_HEADER_BYTES = 100_000_000;
/** The header key of the string-to-string metadata map. */
export const METADATA_KEY = '__metadata__';

/** One tensor of a header: its name, file dtype, shape and byte range in the data section. */
export interface TensorInfo {
  readonly name: string;
  readonly code: FileDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated header: tensors in the header's order, and the metadata map (null when absent). */
export interface Header {
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>> | null;
}

const utf8 = new TextEncoder();
const compareUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * The order the reference writer (`safetensors.torch.save_file`) lays tensors out in: descending
 * dtype alignment (its Dtype enum, so I64, F64, F32, I32, U8, BOOL), then names by UTF-8 bytes.
 * Readers accept any order; writing the same one makes our files byte-identical to theirs.
 */
export function fileOrder(a: { name: string; code: FileDType }, b: { name: string; code: FileDType }): number {
  return fileDTypes[b.code].rank - fileDTypes[a.code].rank || compareUtf8(a.name, b.name);
}

/**
 * The header bytes (length prefix included) for tensors laid out in the given order, as the
 * reference writer makes them: compact JSON, `__metadata__` first (its keys sorted here, where the
 * reference leaves a hash map's order), each tensor's dtype, shape and data_offsets in that order.
 */
export function buildHeader(tensors: readonly { name: string; code: FileDType; shape: readonly number[]; bytes: number }[], metadata: Readonly<Record<string, string>> | null): { header: Uint8Array; infos: TensorInfo[] } {
  const parts: string[] = [];
  if (metadata !== null) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  const infos: TensorInfo[] = [];
  let offset = 0;
  for (const t of tensors) {
    infos.push({ name: t.name, code: t.code, shape: t.shape, begin: offset, end: offset + t.bytes });
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.code}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + t.bytes}]}`);
    offset += t.bytes;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + n).fill(0x20, 8 + json.length); // pad with spaces
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(json, 8);
  return { header, infos };
}

/** The header length from a file's first 8 bytes, checked against the file size and the limit. */
export function headerLength(first: Uint8Array, fileSize: number, op: string): number {
  if (fileSize < 8) throw new SafetensorsError(op, `the file is ${fileSize} bytes, too short to hold the 8-byte header length (truncated or not a safetensors file)`);
  const n = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(op, `the header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  if (8 + Number(n) > fileSize) throw new SafetensorsError(op, `the header length ${n} runs past the end of the file (${fileSize} bytes): truncated or corrupt`);
  return Number(n);
}

const isCount = (v: Json | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const show = (v: Json | undefined) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Elements in a shape, or Infinity past 2^53 (no safetensors file holds that many bytes). */
export function numelOrInfinity(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const s of shape) if ((n *= s) > Number.MAX_SAFE_INTEGER) return Infinity;
  return n;
}

function tensorInfo(name: string, v: Json, op: string): TensorInfo {
  const bad = (why: string): never => {
    throw new SafetensorsError(op, `tensor ${JSON.stringify(name)}: ${why}`);
  };
  if (!isJsonObject(v)) return bad(`expected an object with dtype, shape and data_offsets, got ${show(v)}`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== 'string') return bad(`dtype must be a string, got ${show(dtype)}`);
  if (!isFileDType(dtype)) return bad(`unknown dtype ${JSON.stringify(dtype)} (Fiamma reads ${Object.keys(fileDTypes).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every(isCount)) return bad(`shape must be a list of non-negative integers, got ${show(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1]) || offsets[0] > offsets[1]) {
    return bad(`data_offsets must be [begin, end], non-negative integers with begin <= end, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const need = numelOrInfinity(shape as number[]) * fileDTypes[dtype].size;
  if (need !== end - begin) {
    return bad(`shape ${fmtShape(shape as number[])} of ${dtype} needs ${need} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, code: dtype, shape: shape as number[], begin, end };
}

/**
 * Parses and validates a header (the bytes after the length prefix) for a data section of
 * `dataSize` bytes: every tensor well formed, and the tensors tiling the data exactly (no
 * overlap, no hole, nothing past the end), as the reference reader demands.
 */
export function parseHeader(bytes: Uint8Array, dataSize: number, op: string): Header {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SafetensorsError(op, 'the header is not valid UTF-8 (corrupt or not a safetensors file)');
  }
  const json = parseStrictJson(text, op, 'the header', 8);
  if (!isJsonObject(json)) throw new SafetensorsError(op, `the header must be a JSON object, got ${Array.isArray(json) ? 'an array' : show(json)}`);
  const tensors: TensorInfo[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, v] of Object.entries(json)) {
    if (name !== METADATA_KEY) {
      tensors.push(tensorInfo(name, v, op));
      continue;
    }
    if (v === null) continue;
    if (!isJsonObject(v)) throw new SafetensorsError(op, `${METADATA_KEY} must be an object of strings, got ${show(v)}`);
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') throw new SafetensorsError(op, `${METADATA_KEY} value of ${JSON.stringify(k)} must be a string, got ${show(s)}`);
    }
    metadata = Object.fromEntries(Object.entries(v)) as Record<string, string>;
  }
  checkTiling(tensors, dataSize, op);
  return { tensors, metadata };
}

function checkTiling(tensors: readonly TensorInfo[], dataSize: number, op: string): void {
  for (const t of tensors) {
    if (t.end > dataSize) throw new SafetensorsError(op, `tensor ${JSON.stringify(t.name)}: data_offsets [${t.begin}, ${t.end}] run past the end of the data (${dataSize} bytes): truncated or corrupt`);
  }
  const byOffset = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of byOffset) {
    if (t.begin < pos) throw new SafetensorsError(op, `tensors ${JSON.stringify(prev!.name)} and ${JSON.stringify(t.name)} overlap (data_offsets [${prev!.begin}, ${prev!.end}] and [${t.begin}, ${t.end}])`);
    if (t.begin > pos) throw new SafetensorsError(op, `bytes ${pos} to ${t.begin} of the data belong to no tensor (a hole before ${JSON.stringify(t.name)})`);
    pos = t.end;
    prev = t;
  }
  if (pos !== dataSize) throw new SafetensorsError(op, `bytes ${pos} to ${dataSize} of the data belong to no tensor (the data section is longer than its tensors)`);
}
