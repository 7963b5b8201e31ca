// A strict JSON parser for headers read from files: unlike JSON.parse it rejects duplicate keys
// and caps nesting depth, and its objects have no prototype (a "__proto__" key is just a key).
import { SafetensorsError } from './errors.js';

/** A parsed JSON value; objects are prototype-free records. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * Parses `text` as one JSON value, raising a SafetensorsError (naming `op` and `what`) on a syntax
 * error, a duplicate key in an object, or nesting deeper than `maxDepth`.
 */
export function parseStrictJson(text: string, op: string, what: string, maxDepth: number): Json {
  let i = 0;
  const fail = (reason: string): never => {
    const where = i >= text.length ? 'at its end (truncated?)' : `at character ${i}`;
    throw new SafetensorsError(op, `${what} is not valid JSON: ${reason} ${where}`);
  };
  const ws = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 9 || c === 10 || c === 13; c = text.charCodeAt(++i));
  };
  const string = (): string => {
    let out = '';
    let start = ++i; // past the opening quote
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string');
      if (c === 34) break;
      if (c < 32) fail('control character in string');
      if (c !== 92) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1]!;
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        const r = ESCAPES[e];
        if (r === undefined) fail(`bad escape \\${e ?? ''}`);
        out += r;
        i += 2;
      }
      start = i;
    }
    out += text.slice(start, i++);
    return out;
  };
  const value = (depth: number): Json => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
      i++;
      ws();
      const close = c === '{' ? '}' : ']';
      const arr: Json[] = [];
      const obj = Object.create(null) as { [key: string]: Json };
      if (text[i] === close) {
        i++;
        return c === '{' ? obj : arr;
      }
      for (;;) {
        if (c === '[') arr.push(value(depth + 1));
        else {
          ws();
          if (text[i] !== '"') fail('expected a string key');
          const key = string();
          if (Object.prototype.hasOwnProperty.call(obj, key)) fail(`duplicate key ${JSON.stringify(key)}`);
          ws();
          if (text[i++] !== ':') fail("expected ':'");
          obj[key] = value(depth + 1);
        }
        ws();
        const sep = text[i++];
        if (sep === close) return c === '{' ? obj : arr;
        if (sep !== ',') fail(`expected ',' or '${close}'`);
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail(c === undefined ? 'a value is missing' : `unexpected character ${JSON.stringify(c)}`);
    i += m[0].length;
    return Number(m[0]);
  };
  const v = value(0);
  ws();
  if (i < text.length) fail('unexpected text after the value');
  return v;
}

/** True for a parsed JSON object (not an array or null). */
export function isJsonObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
