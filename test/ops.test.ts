// The op table test: every row of test/op_table.ts on every device, against PyTorch's values in
// test/fixtures/op_table.json (made by test/fixtures/make_op_fixtures.py with torch 1.13):
// forward in float32 and float64, gradcheck in float64 for differentiable rows, gradgradcheck for a subset,
// and, for rows at kinks, ties and infinities (where finite differences cannot decide), gradients against PyTorch's.
// Known Fiamma bugs are subtests marked todo (see TODO in op_table.ts), so the suite stays green.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { devices, cudaSkip, fixture } from './helpers.js';
import { opRows, type OpRow, type Phase } from './op_table.js';

type Tensor = fm.Tensor;
type Nested = number | string | Nested[];

interface FxInput {
  /** 'float' inputs run as float32 and as float64; the others keep their dtype. */
  dtype: 'float' | 'float64' | 'int64' | 'int32' | 'bool';
  shape: number[];
  values: Nested;
}
interface FxOutput {
  shape: number[];
  /** The dtype PyTorch gives with float inputs as float32, and as float64. */
  dtype: fm.DType;
  dtype64: fm.DType;
  /** Computed in float64 (the reference for both precisions) ... */
  values: Nested;
  /** ... unless the row stores float32 values too. */
  values32?: Nested;
}
interface FxRow {
  expr: string;
  inputs: FxInput[];
  outputs: FxOutput[];
  /** PyTorch's float64 gradients of sum(out * w) per input (null for non-float inputs), for some rows. */
  grads?: (Nested | null)[];
}

const fx = fixture<{ torch: string; rows: Record<string, FxRow> }>('op_table.json');

const special: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity };

/** Flattens fixture values, decoding 'nan', 'inf' and '-inf'. */
function decode(v: Nested): number[] {
  if (Array.isArray(v)) return v.flatMap(decode);
  if (typeof v === 'string') {
    const x = special[v];
    if (x === undefined) throw new Error(`bad fixture value '${v}'`);
    return [x];
  }
  return [v];
}

function makeInput(inp: FxInput, float: 'float32' | 'float64', device: string, requiresGrad: boolean): Tensor {
  const vals = decode(inp.values);
  const dtype: fm.DType = inp.dtype === 'float' ? float : inp.dtype;
  const typed =
    dtype === 'int64' ? BigInt64Array.from(vals, (v) => BigInt(v))
    : dtype === 'int32' ? Int32Array.from(vals)
    : dtype === 'bool' ? Uint8Array.from(vals)
    : dtype === 'float32' ? Float32Array.from(vals)
    : Float64Array.from(vals);
  const t = fm.fromValues(typed, inp.shape, dtype, fm.Device.of(device));
  return requiresGrad ? t.requiresGrad_(true) : t;
}

const isFloat = (d: fm.DType): boolean => d === 'float32' || d === 'float64';
const asList = (r: Tensor | Tensor[]): Tensor[] => (Array.isArray(r) ? r : [r]);

function tolerances(row: OpRow, precision: 'float32' | 'float64'): { rtol: number; atol: number } {
  const tol = row.tol ?? {};
  return precision === 'float32' ? { rtol: tol.rtol32 ?? 1e-5, atol: tol.atol32 ?? 1e-5 } : { rtol: tol.rtol64 ?? 1e-9, atol: tol.atol64 ?? 1e-10 };
}

/** Elementwise closeness (NaN matches NaN, infinities and non-float values must be equal); mismatches as text. */
function mismatches(actual: number[], expected: number[], exact: boolean, rtol: number, atol: number): string[] {
  const bad: string[] = [];
  actual.forEach((x, k) => {
    const y = expected[k]!;
    const ok = Number.isNaN(y) ? Number.isNaN(x)
      : exact || !Number.isFinite(y) ? x === y
      : Math.abs(x - y) <= atol + rtol * Math.abs(y);
    if (!ok) bad.push(`[${k}] ${x} vs ${y}`);
  });
  return bad;
}

function checkOutputs(fxRow: FxRow, got: Tensor | Tensor[], precision: 'float32' | 'float64', row: OpRow): void {
  const outs = asList(got);
  assert.equal(outs.length, fxRow.outputs.length, `expected ${fxRow.outputs.length} outputs, got ${outs.length}`);
  outs.forEach((t, i) => {
    const e = fxRow.outputs[i]!;
    const where = `output ${i} of ${fxRow.expr}`;
    assert.deepEqual([...t.shape], e.shape, `${where}: shape [${t.shape.join(', ')}] != [${e.shape.join(', ')}]`);
    const dtype = precision === 'float32' ? e.dtype : e.dtype64;
    assert.equal(t.dtype, dtype, `${where}: dtype ${t.dtype} != ${dtype}`);
    // Tolerances follow the output's precision (int inputs can give float32 outputs, float64 inputs float64 ones).
    const { rtol, atol } = tolerances(row, dtype === 'float32' ? 'float32' : 'float64');
    const actual = Array.from(t.data() as ArrayLike<number | bigint>, Number);
    const expected = decode(precision === 'float32' && e.values32 !== undefined ? e.values32 : e.values);
    assert.equal(actual.length, expected.length, `${where}: ${actual.length} values, expected ${expected.length}`);
    const bad = mismatches(actual, expected, !isFloat(t.dtype), rtol, atol);
    assert.ok(bad.length === 0, `${where} (${dtype}): ${bad.length} of ${actual.length} values differ from PyTorch: ${bad.slice(0, 6).join(', ')}`);
  });
}

/** Positions of the inputs gradcheck differentiates, or [] when the row is not differentiable. */
function gradInputs(row: OpRow, fxRow: FxRow): number[] {
  const floats = fxRow.inputs.flatMap((inp, i) => (inp.dtype === 'float' || inp.dtype === 'float64' ? [i] : []));
  if (Array.isArray(row.grad)) return row.grad.filter((i) => floats.includes(i));
  if (row.grad === false) return [];
  if (row.grad === undefined && !fxRow.outputs.some((o) => isFloat(o.dtype64))) return [];
  return floats;
}

/** Fixed, varied output gradients sin(1.3 k + 0.7) (as the fixture script's weights()), so runs are reproducible. */
function gradOutputsFor(outs: Tensor[], device: string): Tensor[] {
  let k = 0;
  return outs.map((o) => {
    const vals = Float64Array.from({ length: o.numel() }, () => Math.sin(1.3 * k++ + 0.7));
    return fm.fromValues(vals, o.shape, 'float64', fm.Device.of(device)).requiresGrad_(true);
  });
}

function gradOptions(row: OpRow): fm.GradcheckOptions {
  const o: fm.GradcheckOptions = {};
  if (row.tol?.eps !== undefined) o.eps = row.tol.eps;
  if (row.tol?.gradAtol !== undefined) o.atol = row.tol.gradAtol;
  if (row.tol?.gradRtol !== undefined) o.rtol = row.tol.gradRtol;
  return o;
}

function runRow(row: OpRow, fxRow: FxRow, device: string, phase: Phase): void {
  if (phase === 'f32' || phase === 'f64') {
    const precision = phase === 'f32' ? 'float32' : 'float64';
    const inputs = fxRow.inputs.map((inp) => makeInput(inp, precision, device, false));
    checkOutputs(fxRow, row.fn(...inputs), precision, row);
    // Ops return new tensors or views: the inputs must be unchanged (this also checks that the script's float
    // inputs are float32-representable, so both precisions see the same numbers).
    inputs.forEach((t, i) => {
      const bad = mismatches(Array.from(t.data() as ArrayLike<number | bigint>, Number), decode(fxRow.inputs[i]!.values), true, 0, 0);
      assert.ok(bad.length === 0, `input ${i} was modified: ${bad.slice(0, 6).join(', ')}`);
    });
    return;
  }
  if (phase === 'gradref') {
    // PyTorch's gradients of sum(out * w) where finite differences cannot decide (kinks, ties, infinities).
    const ref = fxRow.grads!;
    const inputs = fxRow.inputs.map((inp, i) => makeInput(inp, 'float64', device, ref[i] !== null));
    const outs = asList(row.fn(...inputs)).filter((o) => isFloat(o.dtype));
    const wanted = inputs.filter((t) => t.requiresGrad);
    const grads = fm.autograd.grad(outs, wanted, { gradOutputs: gradOutputsFor(outs, device).map((g) => g.detach()), allowUnused: true });
    let k = 0;
    ref.forEach((expected, i) => {
      if (expected === null) return;
      const g = grads[k++];
      const actual = g ? Array.from(g.data(), Number) : new Array<number>(inputs[i]!.numel()).fill(0);
      const bad = mismatches(actual, decode(expected), false, tolerances(row, 'float64').rtol, tolerances(row, 'float64').atol);
      assert.ok(bad.length === 0, `gradient of input ${i} of ${fxRow.expr}: ${bad.length} of ${actual.length} values differ from PyTorch's: ${bad.slice(0, 6).join(', ')}`);
    });
    return;
  }
  const diff = gradInputs(row, fxRow);
  const inputs = fxRow.inputs.map((inp, i) => makeInput(inp, 'float64', device, diff.includes(i)));
  if (phase === 'grad') {
    assert.ok(fm.gradcheck(row.fn, inputs, gradOptions(row)));
    return;
  }
  // gradgradcheck: only the float outputs have gradients (max's indices, sort's indices do not).
  const floatOuts = (...xs: Tensor[]): Tensor[] => asList(row.fn(...xs)).filter((o) => isFloat(o.dtype));
  const gradOutputs = gradOutputsFor(floatOuts(...inputs), device);
  assert.ok(fm.gradgradcheck(floatOuts, inputs, { ...gradOptions(row), gradOutputs }));
}

describe('op table', () => {
  test('the TS rows and the fixture rows match by name', () => {
    const ts = new Set(opRows.map((r) => r.name));
    const py = new Set(Object.keys(fx.rows));
    const tsOnly = [...ts].filter((n) => !py.has(n));
    const pyOnly = [...py].filter((n) => !ts.has(n));
    assert.deepEqual(
      { tsOnly, pyOnly },
      { tsOnly: [], pyOnly: [] },
      `rows on one side only: add them to test/op_table.ts or test/fixtures/make_op_fixtures.py (and rerun it)`,
    );
    assert.equal(ts.size, opRows.length, 'duplicate row names in op_table.ts');
  });

  test('the table covers enough', () => {
    assert.ok(opRows.length >= 600, `only ${opRows.length} rows`);
    assert.ok(opRows.filter((r) => r.gradgrad).length >= 15, 'at least 15 rows run gradgradcheck');
  });

  for (const device of ['cpu', 'cuda']) {
    const skip = devices.includes(device) ? undefined : cudaSkip ?? `no ${device} backend`;
    describe(device, () => {
      for (const row of opRows) {
        test(row.name, { skip }, async (t) => {
          const fxRow = fx.rows[row.name];
          assert.ok(fxRow, `row ${row.name} has no fixture entry: add it to test/fixtures/make_op_fixtures.py and rerun it`);
          if (row.fn.length > 0) assert.equal(row.fn.length, fxRow.inputs.length, `fn takes ${row.fn.length} inputs, fixture has ${fxRow.inputs.length}`);
          const hasFloat = fxRow.inputs.some((i) => i.dtype === 'float');
          await t.test(hasFloat ? 'forward float32' : 'forward', { todo: row.todo?.f32 }, () => runRow(row, fxRow, device, 'f32'));
          if (hasFloat && row.f64 !== false) {
            await t.test('forward float64', { todo: row.todo?.f64 }, () => runRow(row, fxRow, device, 'f64'));
          }
          if (fxRow.grads) {
            await t.test('backward float64 vs PyTorch', { todo: row.todo?.gradref }, () => runRow(row, fxRow, device, 'gradref'));
          }
          if (gradInputs(row, fxRow).length > 0) {
            await t.test('gradcheck float64', { todo: row.todo?.grad }, () => runRow(row, fxRow, device, 'grad'));
            if (row.gradgrad) await t.test('gradgradcheck float64', { todo: row.todo?.gradgrad }, () => runRow(row, fxRow, device, 'gradgrad'));
          } else {
            assert.ok(!row.gradgrad, 'gradgrad is set on a row that is not differentiable');
          }
        });
      }
    });
  }
});
