// Saving and loading (src/io): safetensors round trips of every dtype, byte-exact agreement with
// the reference writer and with files PyTorch made, validation of hostile files, shared storage,
// prefix stripping, atomic writes and whole checkpoints.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as fm from '../src/index.js';
import { cudaSkip, devices, expectError } from './helpers.js';

const FILE = /io\.test\.js/;
const fixturePath = (name: string) => path.join(process.cwd(), 'test', 'fixtures', 'io', name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-io-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A safetensors buffer from a raw header text and data (the length prefix may be overridden). */
function craft(header: string | object, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

/** Asserts two tensors have the same dtype, shape and exact values (NaN equal to NaN, -0 distinct from 0). */
function assertSameTensor(a: fm.Tensor, b: fm.Tensor, msg = ''): void {
  assert.equal(a.dtype, b.dtype, `${msg} dtype`);
  assert.deepEqual(a.shape, b.shape, `${msg} shape`);
  assert.deepEqual(Array.from(a.data() as ArrayLike<number | bigint>), Array.from(b.data() as ArrayLike<number | bigint>), `${msg} values`);
}

/** One tensor of every dtype, including extremes, a scalar and a zero-size one. */
function everyDtype(device = 'cpu'): Record<string, fm.Tensor> {
  const on = { device };
  return {
    f32: fm.tensor([[1.5, -0, NaN], [Infinity, -Infinity, 3.4e38]], on),
    f64: fm.tensor([Math.PI, -1e-300, 5e-324], { ...on, dtype: 'float64' }),
    i32: fm.tensor([-(2 ** 31), -1, 0, 2 ** 31 - 1], { ...on, dtype: 'int32' }),
    i64: fm.tensor([-(2n ** 63n), 2n ** 62n + 1n, 2n ** 63n - 1n, 0n], on),
    u8: fm.tensor([0, 1, 200, 255], { ...on, dtype: 'uint8' }),
    f16: fm.tensor([1.5, -0, 65504, 6e-8, Infinity, NaN], { ...on, dtype: 'float16' }),
    bf16: fm.tensor([1.5, -0, 3e38, 1e-40, -Infinity, NaN], { ...on, dtype: 'bfloat16' }),
    flags: fm.tensor([[true, false], [false, true]], on),
    scalar: fm.tensor(2.5, on),
    scalarLong: fm.tensor(7n, on),
    empty: fm.zeros([0, 3], on),
    emptyBool: fm.zeros([2, 0], { ...on, dtype: 'bool' }),
  };
}

describe('round trips', () => {
  for (const device of ['cpu', 'cuda']) {
    const skip = devices.includes(device) ? undefined : cudaSkip ?? `no ${device} backend`;

    test(`${device}: every dtype, scalars and zero-size tensors, through bytes and through a file`, { skip }, () => {
      const src = everyDtype(device);
      const file = path.join(tmp, `every-${device}.safetensors`);
      fm.save(src, file);
      const fromFile = fm.load(file, { device });
      const fromBytes = fm.loadBytes(fm.saveBytes(src), { device });
      assert.deepEqual(new Uint8Array(fs.readFileSync(file)), fm.saveBytes(src), 'save and saveBytes write the same bytes');
      for (const loaded of [fromFile, fromBytes]) {
        assert.deepEqual(Object.keys(loaded).sort(), Object.keys(src).sort());
        for (const [k, t] of Object.entries(src)) {
          assertSameTensor(loaded[k]!, t, k);
          assert.equal(String(loaded[k]!.device), String(fm.zeros([1], { device }).device));
          assert.equal(loaded[k]!.requiresGrad, false);
        }
      }
    });
  }

  test('non-contiguous inputs are written row-major and load contiguous', () => {
    const x = fm.arange(24, { dtype: 'float64' }).view([2, 3, 4]);
    const views = {
      transposed: x.transpose(0, 2),
      stepped: x.index(fm.slice(null), fm.slice(0, null, 2), fm.slice(1, null, 2)),
      expanded: fm.tensor([1, 2, 3], { dtype: 'int32' }).expand([4, 3]),
      column: x.select(2, 3),
    };
    for (const t of Object.values(views)) assert.equal(t.isContiguous(), false);
    const loaded = fm.loadBytes(fm.saveBytes(views));
    for (const [k, t] of Object.entries(views)) {
      assertSameTensor(loaded[k]!, t, k);
      assert.equal(loaded[k]!.isContiguous(), true);
    }
  });

  test('loadBytes reads an unaligned buffer and does not keep it', () => {
    const bytes = fm.saveBytes({ a: fm.tensor([1, 2, 3], { dtype: 'float64' }), b: fm.tensor([4n]) });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const loaded = fm.loadBytes(view);
    view.fill(0);
    assert.deepEqual(loaded.a!.toArray(), [1, 2, 3]);
    assert.deepEqual(Array.from(loaded.b!.data() as BigInt64Array), [4n]);
  });

  test('metadata round trips; Fiamma keys are reserved', () => {
    const meta = { format: 'pt', 'h\u00e9llo': 'w\u00f6rld \u2713 "quoted"\n', '': '' };
    const bytes = fm.saveBytes({ a: fm.ones([1]) }, { metadata: meta });
    assert.deepEqual(fm.loadMetadata(bytes), meta);
    const file = path.join(tmp, 'meta.safetensors');
    fm.save({ a: fm.ones([1]) }, file, { metadata: meta });
    assert.deepEqual(fm.loadMetadata(file), meta);
    assert.deepEqual(fm.loadMetadata(fm.saveBytes({})), {});
    assert.deepEqual(fm.loadMetadata(craft('{ "__metadata__" : { "k" : "\\u00e9\\n\\/\\ud83d\\ude00" } }')), { k: '\u00e9\n/\u{1f600}' });
  });

  test('files with tensors in any order load (header order and layout order need not agree)', () => {
    // b's bytes come first although its key comes second; a zero-size tensor sits between.
    const data = new Uint8Array([...new Uint8Array(new Float32Array([5, 6]).buffer), ...new Uint8Array(new Int32Array([7]).buffer)]);
    const header = {
      z: { dtype: 'I32', shape: [1], data_offsets: [8, 12] },
      a: { dtype: 'F32', shape: [0], data_offsets: [8, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    };
    const loaded = fm.loadBytes(craft(header, data));
    assert.deepEqual(Object.keys(loaded), ['z', 'a', 'b']);
    assert.deepEqual(loaded.b!.toArray(), [5, 6]);
    assert.deepEqual(loaded.z!.toArray(), [7]);
    assert.deepEqual(loaded.a!.shape, [0]);
  });
});

describe('byte compatibility with the reference writer', () => {
  const f32 = (...v: number[]) => fm.tensor(v);

  test('the reference implementation\'s own test vectors (safetensors/src/tensor.rs)', () => {
    // test_serialization: "attn.0", F32 [1, 2, 3] holding 0..5; the header needs no padding.
    const attn = fm.saveBytes({ 'attn.0': fm.arange(6, { dtype: 'float32' }).view([1, 2, 3]) });
    assert.deepEqual(Array.from(attn), [
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
      70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
      111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64,
      0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
    // test_serialization_forced_alignement: a shorter name, padded with spaces to 72 bytes.
    const attn0 = fm.saveBytes({ attn0: fm.arange(6, { dtype: 'float32' }).view([1, 1, 2, 3]) });
    assert.equal(new DataView(attn0.buffer).getBigUint64(0, true), 72n);
    assert.deepEqual(Array.from(attn0.subarray(8 + 65, 8 + 72)), [32, 32, 32, 32, 32, 32, 32]);
    // test_empty: no tensors, with and without metadata.
    assert.deepEqual(Array.from(fm.saveBytes({})), [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const framework = fm.saveBytes({}, { metadata: { framework: 'pt' } });
    assert.equal(new TextDecoder().decode(framework.subarray(8)), '{"__metadata__":{"framework":"pt"}}     ');
    assert.equal(framework[0], 40);
  });

  test('tiny.safetensors, written by hand from torch tensors: Fiamma writes the same bytes', () => {
    const tensors = {
      weight: f32(1.5, -2, 0.25, 8).view([2, 2]),
      bias: f32(0.5, -0.5),
      step: fm.tensor(7n),
      mask: fm.tensor([true, false, true]),
      pixels: fm.tensor([[0, 128, 255]], { dtype: 'uint8' }),
      ids: fm.tensor([3, -4], { dtype: 'int32' }),
      acc: fm.tensor([0.1], { dtype: 'float64' }),
    };
    const expected = new Uint8Array(fs.readFileSync(fixturePath('tiny.safetensors')));
    assert.deepEqual(fm.saveBytes(tensors, { metadata: { format: 'pt' } }), expected);
    // Layout: descending dtype alignment (I64, F64, F32, I32, U8, BOOL), then name.
    const n = Number(new DataView(expected.buffer, expected.byteOffset).getBigUint64(0, true));
    const keys = Object.keys(JSON.parse(new TextDecoder().decode(expected.subarray(8, 8 + n))) as object);
    assert.deepEqual(keys, ['__metadata__', 'step', 'acc', 'bias', 'weight', 'ids', 'pixels', 'mask']);
  });
});

interface Expected {
  metadata: Record<string, string> | null;
  tensors: Record<string, { file_dtype: string; dtype: fm.DType; shape: number[]; values: (number | string)[] }>;
  absent?: string[];
}

/** A JSON-safe flat value: int64 as a decimal string, non-finite floats as "nan" / "inf" / "-inf". */
function jsonValue(v: number | bigint, dtype: fm.DType): number | string {
  if (typeof v === 'bigint') return v.toString();
  if (dtype === 'bool') return v;
  if (Number.isNaN(v)) return 'nan';
  return Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf';
}

describe('interop with PyTorch', () => {
  test('interop.safetensors, written from torch 1.13 tensors: every dtype loads with its values', () => {
    const expected = JSON.parse(fs.readFileSync(fixturePath('interop.json'), 'utf8')) as Expected;
    const loaded = fm.load(fixturePath('interop.safetensors'));
    assert.deepEqual(Object.keys(loaded).sort(), Object.keys(expected.tensors).sort());
    for (const [k, e] of Object.entries(expected.tensors)) {
      const t = loaded[k]!;
      assert.equal(t.dtype, e.dtype, `${k} (${e.file_dtype}) loads as ${e.dtype}`);
      assert.deepEqual(t.shape, e.shape, k);
      const got = Array.from(t.data() as ArrayLike<number | bigint>, (v) => jsonValue(v, t.dtype));
      // Exact, including -0 (deepEqual uses Object.is).
      assert.deepEqual(got, e.values, k);
    }
    assert.deepEqual(fm.loadMetadata(fixturePath('interop.safetensors')), expected.metadata);
  });

  test('a file Fiamma writes reads back in PyTorch (check_safetensors.py parses it by hand)', (t) => {
    const python = '/usr/bin/python3';
    if (!fs.existsSync(python)) return t.skip(`${python} not found: cannot check the file with PyTorch`);
    if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) return t.skip(`${python} has no torch: cannot check the file with PyTorch`);
    const w = fm.arange(6, { dtype: 'float32' }).view([2, 3]);
    const tensors = { ...everyDtype(), 'fc.weight': w, 'head.weight': w, 'fc.weight_t': w.T };
    const file = path.join(tmp, 'for-torch.safetensors');
    fm.save(tensors, file, { metadata: { format: 'pt' } });
    const stored = Object.entries(tensors).filter(([k]) => k !== 'head.weight' && k !== 'fc.weight_t');
    const expected: Expected = {
      // PyTorch sees the aliases as one more metadata string.
      metadata: { format: 'pt', 'fiamma.aliases': readRawMetadata(file)['fiamma.aliases']! },
      tensors: Object.fromEntries(stored.map(([k, x]) => [k, {
        file_dtype: { float16: 'F16', bfloat16: 'BF16', float32: 'F32', float64: 'F64', int32: 'I32', int64: 'I64', uint8: 'U8', bool: 'BOOL' }[x.dtype],
        dtype: x.dtype,
        shape: [...x.shape],
        values: Array.from(x.data() as ArrayLike<number | bigint>, (v) => jsonValue(v, x.dtype)),
      }])),
      absent: ['head.weight', 'fc.weight_t'],
    };
    const expectedFile = path.join(tmp, 'for-torch.json');
    fs.writeFileSync(expectedFile, JSON.stringify(expected));
    const r = spawnSync(python, [fixturePath('check_safetensors.py'), file, expectedFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, `check_safetensors.py failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^OK /);
  });
});

/** The raw __metadata__ of a file, reserved keys included. */
function readRawMetadata(file: string): Record<string, string> {
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return (JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as { __metadata__: Record<string, string> }).__metadata__;
}

describe('shared storage', () => {
  test('tied weights and views are written once and share storage again on load', () => {
    const w = fm.arange(12, { dtype: 'float32' }).view([3, 4]);
    const sd = { 'embed.weight': w, 'head.weight': w.detach(), 'same.object': w, 'rows.1': w.narrow(0, 1, 2), 'col.2': w.select(1, 2), t: w.T };
    const bytes = fm.saveBytes(sd);
    const meta = JSON.parse(rawHeader(bytes)['__metadata__']!['fiamma.aliases']!) as Record<string, { of: string; offset: number }>;
    assert.deepEqual(Object.keys(rawHeader(bytes)).filter((k) => k !== '__metadata__'), ['embed.weight']);
    assert.deepEqual(Object.keys(meta).sort(), ['col.2', 'head.weight', 'rows.1', 'same.object', 't']);
    assert.equal(meta['rows.1']!.offset, 4);
    assert.equal(bytes.length, 8 + headerLen(bytes) + 12 * 4, 'the data is stored once');
    const loaded = fm.loadBytes(bytes);
    for (const [k, t] of Object.entries(sd)) {
      assertSameTensor(loaded[k]!, t, k);
      assert.equal(loaded[k]!.storage, loaded['embed.weight']!.storage, `${k} shares storage`);
    }
    fm.noGrad(() => loaded['embed.weight']!.add_(100));
    assert.deepEqual(loaded['head.weight']!.toArray(), w.add(100).toArray());
    assert.deepEqual(loaded['col.2']!.toArray(), [102, 106, 110]);
  });

  test('the largest contiguous tensor of a group is written, whatever its key order', () => {
    const w = fm.arange(8, { dtype: 'int64' });
    const sd = { half: w.narrow(0, 4, 4), whole: w, tail: w.narrow(0, 6, 2) };
    const loaded = fm.loadBytes(fm.saveBytes(sd));
    assert.deepEqual(Object.keys(rawHeader(fm.saveBytes(sd))).filter((k) => k !== '__metadata__'), ['whole']);
    for (const [k, t] of Object.entries(sd)) assertSameTensor(loaded[k]!, t, k);
    assert.equal(loaded.half!.storage, loaded.whole!.storage);
  });

  test('a view with negative strides comes back as the same view', () => {
    const w = fm.arange(6, { dtype: 'float64' }).view([2, 3]);
    const flipped = new fm.Tensor(w.storage, [2, 3], [-3, -1], 5, w);
    assert.deepEqual(flipped.toArray(), [[5, 4, 3], [2, 1, 0]]);
    const loaded = fm.loadBytes(fm.saveBytes({ w, flipped }));
    assertSameTensor(loaded.flipped!, flipped);
    assert.deepEqual(loaded.flipped!.strides, [-3, -1]);
    assert.equal(loaded.flipped!.storage, loaded.w!.storage);
  });

  test('views that no written tensor holds are written as copies; aliases: false writes every tensor', () => {
    const w = fm.arange(8, { dtype: 'float32' });
    const halves = { lo: w.narrow(0, 0, 4), hi: w.narrow(0, 4, 4) };
    const loaded = fm.loadBytes(fm.saveBytes(halves));
    assertSameTensor(loaded.lo!, halves.lo);
    assertSameTensor(loaded.hi!, halves.hi);
    assert.notEqual(loaded.lo!.storage, loaded.hi!.storage);
    const tied = { a: w, b: w.detach() };
    const full = fm.saveBytes(tied, { aliases: false });
    assert.deepEqual(Object.keys(rawHeader(full)), ['a', 'b']);
    const back = fm.loadBytes(full);
    assertSameTensor(back.b!, w);
    assert.notEqual(back.a!.storage, back.b!.storage);
  });

  test('hostile aliases are refused', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const withAliases = (aliases: string) => craft({ __metadata__: { 'fiamma.aliases': aliases }, w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data);
    const cases: [string, RegExp][] = [
      ['{"v":{"of":"nope","offset":0,"shape":[1],"strides":[1]}}', /alias "v".*"of" must name a tensor/],
      ['{"v":{"of":"w","offset":2,"shape":[3],"strides":[1]}}', /reaches outside the 4 elements of "w"/],
      ['{"v":{"of":"w","offset":0,"shape":[2],"strides":[-1]}}', /reaches outside/],
      ['{"v":{"of":"w","offset":0,"shape":[2],"strides":[1, 1]}}', /strides must be a list of 1 integers/],
      ['{"v":{"of":"w","offset":-1,"shape":[1],"strides":[1]}}', /offset must be a non-negative integer/],
      ['{"v":{"of":"w","offset":0,"shape":[1.5],"strides":[1]}}', /shape must be a list of non-negative integers/],
      ['{"w":{"of":"w","offset":0,"shape":[1],"strides":[1]}}', /a tensor of the file has this name too/],
      ['{"v":{"of":"w"},"v":{"of":"w"}}', /duplicate key "v"/],
      ['[1]', /must be a JSON object/],
      ['{', /not valid JSON/],
    ];
    for (const [aliases, re] of cases) expectError(() => fm.loadBytes(withAliases(aliases)), fm.SafetensorsError, 'loadBytes', re, FILE);
  });
});

function headerLen(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}
function rawHeader(bytes: Uint8Array): Record<string, Record<string, string>> {
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen(bytes)))) as Record<string, Record<string, string>>;
}

describe('malformed, truncated and hostile files', () => {
  const one = (info: object, data: Uint8Array | number = 4) => craft({ t: info }, data);
  const f32 = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than 8 bytes', new Uint8Array(5), /file is 5 bytes, too short to hold the 8-byte header length/],
    ['empty', new Uint8Array(0), /file is 0 bytes/],
    ['header length past the end', craft('{}', 0, 1000n), /header length 1000 runs past the end of the file \(10 bytes\)/],
    ['header over 100 MB', craft('{}', 0, 100_000_001n), /header length 100000001 is over the 100000000-byte limit/],
    ['header length near 2^64', craft('{}', 0, 2n ** 64n - 1n), /over the 100000000-byte limit/],
    ['header not UTF-8', craft('{"x":1}', 0).map((b, i) => (i === 10 ? 0xff : b)), /header is not valid UTF-8/],
    ['invalid JSON', craft('{"t": {"dtype": "F32"', 0), /header is not valid JSON: expected ',' or '}' at its end \(truncated\?\)/],
    ['invalid JSON value', craft('{"t": tru}', 0), /header is not valid JSON: unexpected character "t" at character 6/],
    ['trailing text after JSON', craft('{} x', 0), /header is not valid JSON: unexpected text after the value/],
    ['header an array', craft('[]', 0), /header must be a JSON object, got an array/],
    ['header a string', craft('"x"', 0), /header must be a JSON object, got "x"/],
    ['tensor entry not an object', craft({ t: [1] }, 0), /tensor "t": expected an object with dtype, shape and data_offsets/],
    ['unknown dtype', one({ ...f32, dtype: 'C64' }), /tensor "t": unknown dtype "C64" \(Fiamma reads BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64\)/],
    ['dtype not a string', one({ ...f32, dtype: 4 }), /tensor "t": dtype must be a string, got 4/],
    ['missing shape', one({ dtype: 'F32', data_offsets: [0, 4] }), /shape must be a list of non-negative integers, got nothing/],
    ['negative shape', one({ ...f32, shape: [-1] }), /shape must be a list of non-negative integers, got \[-1\]/],
    ['fractional shape', one({ ...f32, shape: [0.5] }), /shape must be a list/],
    ['shape of strings', one({ ...f32, shape: ['1'] }), /shape must be a list/],
    ['shape past 2^53', one({ ...f32, shape: [2 ** 60] }), /shape must be a list/],
    ['data_offsets of one number', one({ ...f32, data_offsets: [0] }), /data_offsets must be \[begin, end\]/],
    ['data_offsets reversed', one({ ...f32, data_offsets: [4, 0] }), /data_offsets must be \[begin, end\], non-negative integers with begin <= end, got \[4,0\]/],
    ['data_offsets fractional', one({ ...f32, data_offsets: [0, 4.5] }), /data_offsets must be \[begin, end\]/],
    ['data_offsets not a list', one({ ...f32, data_offsets: '0-4' }), /data_offsets must be \[begin, end\]/],
    ['byte count disagrees with the shape', one({ ...f32, shape: [2] }), /tensor "t": shape \[2\] of F32 needs 8 bytes but data_offsets \[0, 4\] hold 4/],
    ['huge shape, short data (no allocation)', one({ dtype: 'F32', shape: [2 ** 20, 2 ** 20], data_offsets: [0, 2 ** 42] }), /data_offsets \[0, 4398046511104\] run past the end of the data \(4 bytes\)/],
    ['product of dims past 2^53', one({ dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] }), /needs Infinity bytes/],
    ['offsets past the buffer', one({ ...f32, data_offsets: [4, 8] }), /data_offsets \[4, 8\] run past the end of the data \(4 bytes\)/],
    ['truncated data', one({ dtype: 'F64', shape: [4], data_offsets: [0, 32] }, 20), /run past the end of the data \(20 bytes\): truncated or corrupt/],
    ['overlapping tensors', craft({ a: f32, b: { ...f32, shape: [2], data_offsets: [0, 8] } }, 8), /tensors "a" and "b" overlap/],
    ['a hole between tensors', craft({ a: f32, b: { ...f32, data_offsets: [8, 12] } }, 12), /bytes 4 to 8 of the data belong to no tensor \(a hole before "b"\)/],
    ['a hole at the start', one({ ...f32, data_offsets: [4, 8] }, 8), /bytes 0 to 4 of the data belong to no tensor/],
    ['bytes after the last tensor', one(f32, 9), /bytes 4 to 9 of the data belong to no tensor/],
    ['non-string metadata value', craft({ __metadata__: { epoch: 3 } }, 0), /__metadata__ value of "epoch" must be a string, got 3/],
    ['metadata not an object', craft({ __metadata__: ['a'] }, 0), /__metadata__ must be an object of strings/],
    ['duplicate tensor names', craft(`{"t":${JSON.stringify(f32)},"t":${JSON.stringify(f32)}}`, 4), /duplicate key "t"/],
    ['duplicate metadata keys', craft('{"__metadata__":{"a":"1","a":"2"}}', 0), /duplicate key "a"/],
    ['duplicate __metadata__', craft('{"__metadata__":{},"__metadata__":{}}', 0), /duplicate key "__metadata__"/],
    ['deep nesting', craft(`{"t":${'['.repeat(100000)}`, 0), /nesting deeper than 8 levels/],
    ['bad escape', craft('{"\\x":1}', 0), /bad escape/],
  ];
  for (const [name, bytes, re] of cases) {
    test(name, () => {
      expectError(() => fm.loadBytes(bytes), fm.SafetensorsError, 'loadBytes', re, FILE);
    });
  }

  test('the same checks run on files, and name load', () => {
    const file = path.join(tmp, 'truncated.safetensors');
    const good = fm.saveBytes({ a: fm.ones([16]) });
    fs.writeFileSync(file, good.subarray(0, good.length - 1));
    expectError(() => fm.load(file), fm.SafetensorsError, 'load', /run past the end of the data \(63 bytes\)|belong to no tensor/, FILE);
    fs.writeFileSync(file, good.subarray(0, 12));
    expectError(() => fm.load(file), fm.SafetensorsError, 'load', /header length \d+ runs past the end of the file \(12 bytes\)/, FILE);
    expectError(() => fm.loadMetadata(file), fm.SafetensorsError, 'loadMetadata', /runs past the end/, FILE);
  });

  test('a missing file raises a FileError with its code', () => {
    const missing = path.join(tmp, 'nope', 'missing.safetensors');
    const e = expectError(() => fm.load(missing), fm.FileError, 'load', /cannot access '.*missing\.safetensors': ENOENT/, FILE) as fm.FileError;
    assert.equal(e.code, 'ENOENT');
    expectError(() => fm.save({}, missing), fm.FileError, 'save', /ENOENT/, FILE);
    expectError(() => fm.loadCheckpoint(missing), fm.FileError, 'loadCheckpoint', /ENOENT/, FILE);
  });
});

describe('bad arguments', () => {
  test('save and saveBytes check their inputs', () => {
    const t = fm.ones([2]);
    expectError(() => fm.saveBytes({ a: [1, 2] as unknown as fm.Tensor }), fm.ValueError, 'saveBytes', /"a" is not a tensor \(got object\)/, FILE);
    expectError(() => fm.saveBytes(null as unknown as Record<string, fm.Tensor>), fm.ValueError, 'saveBytes', /expected a record of named tensors, got null/, FILE);
    expectError(() => fm.saveBytes(t as unknown as Record<string, fm.Tensor>), fm.ValueError, 'saveBytes', /got a Tensor/, FILE);
    expectError(() => fm.saveBytes({ __metadata__: t }), fm.ValueError, 'saveBytes', /"__metadata__" is the format's own key/, FILE);
    expectError(() => fm.saveBytes({ t }, { metadata: { epoch: 3 as unknown as string } }), fm.ValueError, 'saveBytes', /metadata value of "epoch" must be a string, got number/, FILE);
    expectError(() => fm.saveBytes({ t }, { metadata: { 'fiamma.aliases': '{}' } }), fm.ValueError, 'saveBytes', /metadata key "fiamma.aliases" is reserved/, FILE);
    expectError(() => fm.save({ t }, path.join(tmp, 'x.safetensors'), { metadata: 'pt' as unknown as Record<string, string> }), fm.ValueError, 'save', /expected metadata as a record of strings, got string/, FILE);
    const gone = fm.ones([2]);
    gone.dispose();
    expectError(() => fm.saveBytes({ gone }), fm.ValueError, 'saveBytes', /"gone" was disposed/, FILE);
    expectError(() => fm.save({ t }, 3 as unknown as string), fm.ValueError, 'save', /expected a file path, got number/, FILE);
  });

  test('load and loadBytes check their options', () => {
    const bytes = fm.saveBytes({ t: fm.ones([1]) });
    expectError(() => fm.loadBytes([1, 2] as unknown as Uint8Array), fm.ValueError, 'loadBytes', /expected a Uint8Array/, FILE);
    expectError(() => fm.loadBytes(bytes, { stripPrefixes: 'module.' as unknown as string[] }), fm.ValueError, 'loadBytes', /stripPrefixes must be a boolean or a list of non-empty strings, got "module."/, FILE);
    expectError(() => fm.loadBytes(bytes, { stripPrefixes: [''] }), fm.ValueError, 'loadBytes', /stripPrefixes must be/, FILE);
    expectError(() => fm.loadBytes(bytes, { device: 'tpu' }), fm.DeviceError, 'device', /unknown device 'tpu'/, FILE);
  });
});

describe('prefix stripping', () => {
  const names = ['module.fc.weight', '_orig_mod.module.fc.bias', 'module._orig_mod.head.w', 'other.module.x'];
  const bytes = fm.saveBytes(Object.fromEntries(names.map((k, i) => [k, fm.full([1], i)])));

  test('stripPrefixes: true removes module. and _orig_mod. (repeatedly, from the start only)', () => {
    const loaded = fm.loadBytes(bytes, { stripPrefixes: true });
    assert.deepEqual(Object.keys(loaded).sort(), ['fc.bias', 'fc.weight', 'head.w', 'other.module.x']);
    assert.deepEqual(loaded['fc.weight']!.toArray(), [0]);
    assert.deepEqual(loaded['head.w']!.toArray(), [2]);
    assert.deepEqual(Object.keys(fm.loadBytes(bytes)).sort(), [...names].sort(), 'nothing stripped by default');
  });

  test('a list of prefixes; names that collide after stripping raise', () => {
    assert.deepEqual(Object.keys(fm.loadBytes(bytes, { stripPrefixes: ['other.'] })).sort(), ['_orig_mod.module.fc.bias', 'module._orig_mod.head.w', 'module.fc.weight', 'module.x']);
    const clash = fm.saveBytes({ 'module.a': fm.ones([1]), a: fm.ones([1]) });
    expectError(() => fm.loadBytes(clash, { stripPrefixes: true }), fm.ValueError, 'loadBytes', /turns both "module.a" and "a" into "a"|turns both "a" and "module.a" into "a"/, FILE);
  });

  test('aliases keep sharing under their stripped names; "__proto__" is an ordinary name', () => {
    const w = fm.ones([2]);
    const loaded = fm.loadBytes(fm.saveBytes({ 'module.w': w, 'module.tied': w }), { stripPrefixes: true });
    assert.equal(loaded.w!.storage, loaded.tied!.storage);
    const proto = fm.loadBytes(craft('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array([9])));
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(proto, '__proto__')!.value.toArray(), [9]);
  });
});

describe('atomic writes', () => {
  test('a save that fails midway leaves the previous file whole and no temporary file behind', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'model.safetensors');
    fm.save({ w: fm.ones([4]) }, file);
    const before = fs.readFileSync(file);
    const bad = fm.zeros([1000], { dtype: 'float64' });
    bad.storedData = () => {
      throw new Error('device read failed');
    };
    // F64 comes after I64 in the layout, so the int64 tensor is already written when bad is read.
    assert.throws(() => fm.save({ first: fm.arange(100), bad }, file), /device read failed/);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
    assert.throws(() => fm.saveCheckpoint({ model: { bad } }, file), /device read failed/);
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  });

  test('a save replaces the file and keeps its permissions', () => {
    const file = path.join(tmp, 'perm.safetensors');
    fm.save({ w: fm.ones([4]) }, file);
    fs.chmodSync(file, 0o640);
    fm.save({ w: fm.zeros([2]) }, file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(fm.load(file).w!.toArray(), [0, 0]);
  });
});

describe('checkpoints', () => {
  test('a nested training state round trips: tensors, bigints, arrays, special numbers', () => {
    const w = fm.randn([3, 2]);
    const state = {
      model: { 'fc1.weight': w, 'fc1.bias': fm.zeros([3]), 'head.weight': w.detach(), steps: fm.tensor(10n) },
      optimizer: {
        state: [{ step: 3, expAvg: fm.onesLike(w), mask: fm.tensor([true, false]) }, { step: 3, expAvg: fm.zeros([0]) }],
        paramGroups: [{ lr: 1e-3, betas: [0.9, 0.999], params: [0, 1], amsgrad: false, name: null }],
      },
      scheduler: { lastEpoch: 2, baseLrs: [0.001], note: undefined },
      epoch: 3,
      generator: [2n ** 64n + 7n, 12],
      specials: [NaN, Infinity, -Infinity, -0, 0],
      tricky: { $tensor: 'not a tensor', nested: { $bigint: 'no' } },
      'a/b': { c: fm.ones([1]) },
      a: { b: { c: fm.zeros([1]) } },
      same: [w, w],
      empty: { list: [], obj: {} },
    };
    const file = path.join(tmp, 'ckpt.safetensors');
    fm.saveCheckpoint(state, file);
    const back = fm.loadCheckpoint<typeof state>(file);
    const compare = (a: unknown, b: unknown, where: string): void => {
      if (b instanceof fm.Tensor) {
        assert.ok(a instanceof fm.Tensor, where);
        return assertSameTensor(a, b, where);
      }
      if (Array.isArray(b) || (typeof b === 'object' && b !== null)) {
        assert.equal(Array.isArray(a), Array.isArray(b), where);
        assert.deepEqual(Object.keys(a as object), Object.keys(b), where);
        for (const k of Object.keys(b)) compare((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}/${k}`);
        return;
      }
      assert.ok(Object.is(a, b), `${where}: ${String(a)} !== ${String(b)}`);
    };
    compare(back, state, '');
    assert.ok('note' in back.scheduler, 'undefined fields are kept');
    assert.equal(typeof back.generator[0], 'bigint');
    assert.equal(back.same[0], back.same[1], 'one tensor object stays one');
    assert.equal(back.model['head.weight'].storage, back.model['fc1.weight'].storage, 'tied weights stay tied');
    // Tensors are named by their paths, so other readers can find them.
    const names = Object.keys(fm.load(file)).sort();
    assert.ok(names.includes('model/fc1.weight') && names.includes('optimizer/state/0/expAvg'), names.join(', '));
    assert.ok(names.includes('a/b/c') && names.includes('a/b/c#2'), 'a path used twice gets a suffix');
  });

  test('a checkpoint can be a bare tensor or a bare value', () => {
    const file = path.join(tmp, 'bare.safetensors');
    fm.saveCheckpoint(fm.tensor([1, 2]), file);
    assert.deepEqual((fm.loadCheckpoint(file) as fm.Tensor).toArray(), [1, 2]);
    fm.saveCheckpoint(42n, file);
    assert.equal(fm.loadCheckpoint(file), 42n);
  });

  test('what a checkpoint cannot hold is refused, naming its path', () => {
    const file = path.join(tmp, 'bad.safetensors');
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    const cases: [unknown, RegExp][] = [
      [{ a: { b: new Map() } }, /cannot save a Map at "a\/b"/],
      [{ f: () => 1 }, /cannot save a function at "f"/],
      [{ s: Symbol('x') }, /cannot save a symbol at "s"/],
      [{ d: [new Date()] }, /cannot save a Date at "d\/0"/],
      [{ x: new Float32Array(2) }, /cannot save a Float32Array at "x"/],
      [loop, /circular reference at "self"/],
    ];
    for (const [value, re] of cases) expectError(() => fm.saveCheckpoint(value as fm.CheckpointValue, file), fm.ValueError, 'saveCheckpoint', re, FILE);
    assert.equal(fs.existsSync(file), false, 'nothing was written');
  });

  test('malformed checkpoint structures and plain files are refused', () => {
    const file = path.join(tmp, 'hostile-ckpt.safetensors');
    const withStructure = (structure: string) => {
      fs.writeFileSync(file, craft({ __metadata__: { 'fiamma.checkpoint': structure }, t: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1));
      return () => fm.loadCheckpoint(file);
    };
    const cases: [string, RegExp][] = [
      ['{"version":1,"value":{"$tensor":"missing"}}', /\{"\$tensor": "missing"\} names no tensor of the file/],
      ['{"version":1,"value":{"$bigint":"1.5"}}', /is not an integer string/],
      ['{"version":1,"value":{"$number":"1e400"}}', /is not one of NaN, Infinity, -Infinity, -0/],
      ['{"version":1,"value":{"$eval":"x"}}', /unknown tag "\$eval"/],
      ['{"version":1,"value":{"$tensor":"t","b":1}}', /must be wrapped in \{"\$object": ...\}/],
      ['{"version":1,"value":{"$object":3}}', /"\$object" must hold an object/],
      ['{"version":2,"value":1}', /version 2 is not one this Fiamma reads/],
      ['{"value":1,"value":2}', /duplicate key "value"/],
      ['[]', /expected \{"version": 1, "value": ...\}/],
    ];
    for (const [structure, re] of cases) expectError(withStructure(structure), fm.SafetensorsError, 'loadCheckpoint', re, FILE);
    assert.deepEqual((withStructure('{"version":1,"value":{"$tensor":"t"}}')() as fm.Tensor).toArray(), [0]);
    fm.save({ t: fm.ones([1]) }, file);
    expectError(() => fm.loadCheckpoint(file), fm.SafetensorsError, 'loadCheckpoint', /holds no "fiamma.checkpoint" metadata: not a checkpoint/, FILE);
  });
});
