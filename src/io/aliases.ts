// Tensors that share storage (tied weights, views of one another): which are written in full, how
// the others are recorded as views of them in the header's metadata, and how they come back.
import type { Tensor } from '../tensor/tensor.js';
import type { Storage } from '../tensor/storage.js';
import { makeView } from '../ops/prims/movement.js';
import { fmtShape } from '../tensor/shape.js';
import { SafetensorsError } from './errors.js';
import { isJsonObject, parseStrictJson, type Json } from './json.js';
import { numelOrInfinity } from './format.js';

/** The `__metadata__` key that records aliases as JSON: `{ alias: { of, offset, shape, strides } }`. */
export const ALIASES_KEY = 'fiamma.aliases';

/** An alias: a view of the stored tensor `of`, `offset` elements past its first element. */
export interface Alias {
  readonly of: string;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
}

/** The storage elements [lo, hi] a layout reaches (relative to its offset's origin). */
function reach(offset: number, shape: readonly number[], strides: readonly number[]): [number, number] {
  let lo = offset;
  let hi = offset;
  shape.forEach((n, d) => {
    const step = strides[d]! * (n - 1);
    if (step < 0) lo += step;
    else hi += step;
  });
  return [lo, hi];
}

/**
 * Splits named tensors into those written in full and aliases of them. Within a group sharing one
 * Storage, the largest contiguous tensors (the first key on a tie) are written; every other member
 * whose elements lie inside one of them becomes an alias. Members inside none (two disjoint halves,
 * say, with the whole not saved) are written as copies: the format has no place for bare storage.
 */
export function planAliases(entries: readonly (readonly [string, Tensor])[]): { stored: [string, Tensor][]; aliases: [string, Alias][] } {
  const groups = new Map<Storage, (readonly [string, Tensor])[]>();
  for (const e of entries) {
    const g = groups.get(e[1].storage);
    if (g) g.push(e);
    else groups.set(e[1].storage, [e]);
  }
  const owners = new Map<Storage, (readonly [string, Tensor])[]>();
  for (const [storage, members] of groups) {
    if (members.length < 2) continue;
    const candidates = members.filter(([, t]) => t.numel() > 0 && t.isContiguous()).sort((a, b) => b[1].numel() - a[1].numel());
    const chosen: (readonly [string, Tensor])[] = [];
    for (const [name, t] of candidates) if (ownerOf(chosen, name, t) === undefined) chosen.push([name, t]);
    owners.set(storage, chosen);
  }
  const stored: [string, Tensor][] = [];
  const aliases: [string, Alias][] = [];
  for (const [name, t] of entries) {
    const chosen = owners.get(t.storage) ?? [];
    const owner = chosen.some(([n]) => n === name) ? undefined : ownerOf(chosen, name, t);
    if (owner === undefined) stored.push([name, t]);
    else aliases.push([name, { of: owner[0], offset: t.offset - owner[1].offset, shape: [...t.shape], strides: [...t.strides] }]);
  }
  return { stored, aliases };
}

/** The first owner other than `name` whose elements hold every element of t (none for an empty t). */
function ownerOf(owners: readonly (readonly [string, Tensor])[], name: string, t: Tensor): readonly [string, Tensor] | undefined {
  if (t.numel() === 0) return undefined;
  const [lo, hi] = reach(t.offset, t.shape, t.strides);
  return owners.find(([n, o]) => n !== name && lo >= o.offset && hi < o.offset + o.numel());
}

/** The aliases recorded in a file, validated against the stored tensors' element counts. */
export function parseAliases(text: string, numels: ReadonlyMap<string, number>, op: string): [string, Alias][] {
  const json = parseStrictJson(text, op, `the "${ALIASES_KEY}" metadata`, 4);
  if (!isJsonObject(json)) throw new SafetensorsError(op, `the "${ALIASES_KEY}" metadata must be a JSON object`);
  return Object.entries(json).map(([name, v]) => [name, alias(name, v, numels, op)]);
}

function alias(name: string, v: Json, numels: ReadonlyMap<string, number>, op: string): Alias {
  const bad = (why: string): never => {
    throw new SafetensorsError(op, `alias ${JSON.stringify(name)} in "${ALIASES_KEY}": ${why}`);
  };
  if (!isJsonObject(v)) return bad('expected an object with of, offset, shape and strides');
  const { of, offset, shape, strides } = v;
  const isInt = (x: Json | undefined): x is number => typeof x === 'number' && Number.isSafeInteger(x);
  if (numels.has(name)) bad('a tensor of the file has this name too');
  if (typeof of !== 'string' || !numels.has(of)) return bad(`"of" must name a tensor of the file, got ${JSON.stringify(of)}`);
  if (!isInt(offset) || offset < 0) return bad(`offset must be a non-negative integer, got ${JSON.stringify(offset)}`);
  if (!Array.isArray(shape) || !shape.every((n) => isInt(n) && n >= 0)) return bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(strides) || strides.length !== shape.length || !strides.every(isInt)) {
    return bad(`strides must be a list of ${shape.length} integers, got ${JSON.stringify(strides)}`);
  }
  const s = shape as number[];
  const st = strides as number[];
  const numel = numelOrInfinity(s);
  if (numel === Infinity) bad(`shape ${fmtShape(s)} has more than 2^53 elements`);
  const [lo, hi] = numel === 0 ? [offset, offset] : reach(offset, s, st);
  const n = numels.get(of)!;
  if (numel > 0 && (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 0 || hi >= n)) {
    bad(`a view of shape ${fmtShape(s)}, strides ${fmtShape(st)} at offset ${offset} reaches outside the ${n} elements of ${JSON.stringify(of)}`);
  }
  return { of, offset, shape: s, strides: st };
}

/** The tensor an alias stands for: a view of its stored owner's memory. */
export function aliasView(owner: Tensor, a: Alias): Tensor {
  return makeView(owner, a.shape, a.strides, owner.offset + a.offset);
}
