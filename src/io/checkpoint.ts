// Whole training checkpoints: a nested structure of tensors and plain values in one safetensors
// file, the tensors in its body under their paths and the structure as JSON in its metadata.
import { Tensor } from '../tensor/tensor.js';
import type { DeviceLike } from '../device.js';
import { ValueError } from '../errors.js';
import { SafetensorsError } from './errors.js';
import { isJsonObject, parseStrictJson, type Json } from './json.js';
import { withFileSource, writeFileAtomic } from './files.js';
import { decode, encode } from './safetensors.js';

/**
 * What a checkpoint holds: tensors and JSON-like values, nested in arrays and plain objects.
 * Example: `const state: fm.CheckpointValue = { model: model.stateDict(), epoch: 3, seed: 42n }`.
 */
export type CheckpointValue =
  | Tensor | number | string | boolean | bigint | null | undefined
  | CheckpointValue[] | { [key: string]: CheckpointValue };

/** The metadata key holding the structure. */
const KEY = 'fiamma.checkpoint';
const VERSION = 1;

// The structure is JSON where values JSON cannot hold are tagged objects of one "$" key:
// {"$tensor": name}, {"$bigint": "123"}, {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"},
// {"$undefined": true}; a plain object with a "$" key of its own is wrapped as {"$object": {...}}.
// NOTE: rejected alternative: pickle-like type codes on every value; tags keep the JSON readable.
const NUMBER_TAGS = ['NaN', 'Infinity', '-Infinity', '-0'] as const;

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The structure as JSON, and the tensors it names (the same tensor object is stored once). */
function encodeStructure(root: unknown): { json: string; tensors: Record<string, Tensor> } {
  const tensors = new Map<string, Tensor>();
  const names = new Map<Tensor, string>();
  const open = new Set<object>();
  const walk = (v: unknown, path: string[]): Json => {
    const where = () => (path.length ? `"${path.join('/')}"` : 'the top level');
    if (v instanceof Tensor) {
      let name = names.get(v);
      if (name === undefined) {
        const base = path.join('/') || '(root)';
        name = base;
        for (let k = 2; tensors.has(name); k++) name = `${base}#${k}`;
        tensors.set(name, v);
        names.set(v, name);
      }
      return { $tensor: name };
    }
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return { $number: 'NaN' };
      if (!Number.isFinite(v)) return { $number: v > 0 ? 'Infinity' : '-Infinity' };
      return Object.is(v, -0) ? { $number: '-0' } : v;
    }
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
    if (v === undefined) return { $undefined: true };
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (typeof v === 'object' && (Array.isArray(v) || isPlainObject(v))) {
      if (open.has(v)) throw new ValueError('saveCheckpoint', `circular reference at ${where()}`);
      open.add(v);
      let out: Json;
      if (Array.isArray(v)) out = Array.from(v, (x, i) => walk(x, [...path, String(i)]));
      else {
        const entries = Object.entries(v).map(([k, x]): [string, Json] => [k, walk(x, [...path, k])]);
        out = Object.fromEntries(entries);
        if (entries.some(([k]) => k.startsWith('$'))) out = { $object: out };
      }
      open.delete(v);
      return out;
    }
    const what = typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'non-plain object'}` : `a ${typeof v}`;
    throw new ValueError('saveCheckpoint', `cannot save ${what} at ${where()}: a checkpoint holds tensors, numbers, strings, booleans, bigints, null, undefined, arrays and plain objects`);
  };
  const value = walk(root, []);
  return { json: JSON.stringify({ version: VERSION, value }), tensors: Object.fromEntries(tensors) };
}

/** The structure back from its JSON, with tensors looked up by name; hostile input raises. */
function decodeStructure(text: string, tensors: ReadonlyMap<string, Tensor>): CheckpointValue {
  const op = 'loadCheckpoint';
  const bad = (why: string): never => {
    throw new SafetensorsError(op, `the "${KEY}" metadata is malformed: ${why}`);
  };
  const walk = (j: Json): CheckpointValue => {
    if (Array.isArray(j)) return j.map(walk);
    if (!isJsonObject(j)) return j;
    const keys = Object.keys(j);
    const tag = keys.length === 1 && keys[0]!.startsWith('$') ? keys[0]! : undefined;
    if (tag === undefined) {
      if (keys.some((k) => k.startsWith('$'))) bad(`an object with "$" keys must be wrapped in {"$object": ...}, got keys ${JSON.stringify(keys)}`);
      return fields(j);
    }
    const x = j[tag]!;
    switch (tag) {
      case '$tensor':
        if (typeof x !== 'string' || !tensors.has(x)) return bad(`{"$tensor": ${JSON.stringify(x)}} names no tensor of the file`);
        return tensors.get(x)!;
      case '$bigint':
        if (typeof x !== 'string' || !/^-?\d+$/.test(x)) return bad(`{"$bigint": ${JSON.stringify(x)}} is not an integer string`);
        return BigInt(x);
      case '$number':
        if (!NUMBER_TAGS.includes(x as (typeof NUMBER_TAGS)[number])) return bad(`{"$number": ${JSON.stringify(x)}} is not one of ${NUMBER_TAGS.join(', ')}`);
        return Number(x);
      case '$undefined':
        return undefined;
      case '$object':
        if (!isJsonObject(x)) return bad('"$object" must hold an object');
        return fields(x);
      default:
        return bad(`unknown tag ${JSON.stringify(tag)}`);
    }
  };
  const fields = (o: { [key: string]: Json }) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, walk(v)]));
  const doc = parseStrictJson(text, op, `the "${KEY}" metadata`, 1000);
  if (!isJsonObject(doc) || !('value' in doc)) return bad('expected {"version": 1, "value": ...}');
  if (doc.version !== VERSION) bad(`version ${JSON.stringify(doc.version)} is not one this Fiamma reads (${VERSION})`);
  return walk(doc.value!);
}

/**
 * Saves a whole training state: a nested structure of tensors, numbers (NaN and Infinity too),
 * strings, booleans, bigints, null, undefined, arrays and plain objects, in one safetensors file.
 * Tensors go in the body under their paths ("model/fc1.weight", "optimizer/state/0/expAvg"), the
 * structure as JSON in the metadata key "fiamma.checkpoint"; the same tensor object twice is
 * stored once, and tensors sharing storage are shared again on load (see `save`). The file is
 * replaced atomically, so a crash mid-save leaves the previous checkpoint whole.
 * Example: `fm.saveCheckpoint({ model: model.stateDict(), epoch: 3, generator: [seed, 0] }, 'ckpt.safetensors')`.
 */
export function saveCheckpoint(obj: CheckpointValue, path: string): void {
  if (typeof path !== 'string') throw new ValueError('saveCheckpoint', `expected a file path, got ${typeof path}`);
  const { json, tensors } = encodeStructure(obj);
  writeFileAtomic('saveCheckpoint', path, encode('saveCheckpoint', tensors, {}, { [KEY]: json }));
}

/**
 * Loads what `saveCheckpoint` saved: an equal structure, tensors on `device` (default cpu) with
 * their dtypes, bigints as bigints. The file is validated as `load` does; a safetensors file
 * without the structure raises a SafetensorsError. `T` is an unchecked convenience cast.
 * Example: `const ckpt = fm.loadCheckpoint<{ model: Record<string, fm.Tensor>; epoch: number }>('ckpt.safetensors')`.
 */
export function loadCheckpoint<T extends CheckpointValue = CheckpointValue>(path: string, opts: { device?: DeviceLike } = {}): T {
  if (typeof path !== 'string') throw new ValueError('loadCheckpoint', `expected a file path, got ${typeof path}`);
  const { tensors, metadata } = withFileSource('loadCheckpoint', path, (source) => decode('loadCheckpoint', source, opts.device));
  const text = metadata[KEY];
  if (text === undefined) throw new SafetensorsError('loadCheckpoint', `'${path}' holds no "${KEY}" metadata: not a checkpoint saved by saveCheckpoint (fm.load reads plain safetensors files)`);
  return decodeStructure(text, new Map(tensors)) as T;
}
