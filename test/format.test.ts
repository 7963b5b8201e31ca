// formatTensor against PyTorch's own repr: cases come from test/fixtures/make_format_fixtures.py (torch 1.13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTensor, getPrintOptions, setPrintOptions, type FormatInput, type PrintOptions } from '../src/format.js';
import { setDefaultDtype } from '../src/dtype.js';

interface Case {
  name: string;
  values: (number | string)[];
  shape: number[];
  dtype: FormatInput['dtype'];
  device: string;
  requiresGrad: boolean;
  gradFn?: string;
  options?: Partial<PrintOptions> & { profile?: 'default' | 'short' | 'full' };
  defaultDtype?: 'float32' | 'float64';
  expected: string;
}

// The JSON stays in the source tree; compiled tests live in dist/test (or elsewhere), so look upward, then in cwd.
function fixturePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 4; k++, dir = path.dirname(dir)) {
    const p = path.join(dir, 'test', 'fixtures', 'format.json');
    if (existsSync(p)) return p;
  }
  return path.join(process.cwd(), 'test', 'fixtures', 'format.json');
}
const cases = (JSON.parse(readFileSync(fixturePath(), 'utf8')) as { cases: Case[] }).cases;

const nonFinite: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity };

/** Values in the typed array Fiamma's storage would use, so bigint (int64) and Float32Array paths run too. */
function toValues(c: Case): ArrayLike<number | bigint> {
  if (c.dtype === 'int64') return BigInt64Array.from(c.values, (v) => BigInt(v));
  const nums = c.values.map((v) => (typeof v === 'string' ? nonFinite[v] : v));
  assert.ok(nums.every((v) => v !== undefined), `${c.name}: bad value in fixture`);
  if (c.dtype === 'float32') return Float32Array.from(nums);
  if (c.dtype === 'float64') return Float64Array.from(nums);
  if (c.dtype === 'int32') return Int32Array.from(nums);
  return Uint8Array.from(nums);
}

function run(c: Case, values: ArrayLike<number | bigint>): string {
  if (c.defaultDtype) setDefaultDtype(c.defaultDtype);
  if (c.options) setPrintOptions(c.options);
  try {
    const { shape, dtype, device, requiresGrad, gradFn } = c;
    return formatTensor({ values, shape, dtype, device, requiresGrad, gradFn });
  } finally {
    setPrintOptions({ profile: 'default' });
    setDefaultDtype('float32');
  }
}

test('fixture has the expected coverage', () => {
  assert.ok(cases.length >= 60, `only ${cases.length} cases`);
});

for (const c of cases) {
  test(`matches PyTorch: ${c.name}`, () => {
    assert.equal(run(c, toValues(c)), c.expected);
  });
}

test('plain number arrays print like the stored dtype (float32 rounding, int64 as numbers)', () => {
  for (const c of cases.filter((c) => c.dtype === 'float32' || c.dtype === 'int64')) {
    const plain = c.values.map((v) => (typeof v === 'string' ? nonFinite[v] ?? Number(v) : v));
    if (c.dtype === 'int64' && plain.some((v) => !Number.isSafeInteger(v))) continue;
    assert.equal(run(c, plain), c.expected, c.name);
  }
  // 0.1 is not a float32: stored as 0.100000001490116..., which still prints 0.1000 at precision 4
  const base = { shape: [2], dtype: 'float32', device: 'cpu', requiresGrad: false } as const;
  setPrintOptions({ precision: 10 });
  try {
    assert.equal(formatTensor({ ...base, values: [0.1, 0.5] }), 'tensor([0.1000000015, 0.5000000000])');
  } finally {
    setPrintOptions({ profile: 'default' });
  }
});

test('setPrintOptions: profiles, fields, and the sciMode reset PyTorch does', () => {
  try {
    setPrintOptions({ profile: 'short', linewidth: 120, sciMode: true });
    assert.deepEqual(getPrintOptions(), { precision: 2, threshold: 1000, edgeitems: 2, linewidth: 120, sciMode: true });
    setPrintOptions({ precision: 3 }); // like torch.set_printoptions, a call that omits sciMode resets it
    assert.equal(getPrintOptions().sciMode, undefined);
    assert.equal(getPrintOptions().linewidth, 120);
    setPrintOptions({ profile: 'full' });
    assert.equal(getPrintOptions().threshold, Infinity);
    assert.throws(() => setPrintOptions({ precision: -1 }), /precision/);
    assert.throws(() => setPrintOptions({ profile: 'long' as 'full' }), /profile/);
    getPrintOptions().precision = 9; // a copy: does not change the options
    assert.equal(getPrintOptions().precision, 4);
  } finally {
    setPrintOptions({ profile: 'default' });
  }
  assert.deepEqual(getPrintOptions(), { precision: 4, threshold: 1000, edgeitems: 3, linewidth: 80, sciMode: undefined });
});

test('formatTensor rejects values that do not fill the shape', () => {
  const t = { values: [1, 2, 3], shape: [2, 2], dtype: 'float32', device: 'cpu', requiresGrad: false } as const;
  assert.throws(() => formatTensor(t), /3 values for shape \[2, 2\]/);
});
