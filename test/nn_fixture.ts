// The runner of test/fixtures/nn.json (made by test/fixtures/make_nn_fixtures.py with torch 1.13): builds each
// module case's layer from its class name and arguments, loads PyTorch's state dict into it, calls it, and compares
// the output, the gradients of sum(output * R) for inputs and parameters, the state after the calls and print(m);
// and calls each function case of F. Each case runs in float64 (tight tolerances) and in float32 (the module as
// built; dtypes checked). Shared by nn_layers.test.ts, nn_losses.test.ts and nn_module.test.ts.
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { fixture } from './helpers.js';

const { nn } = fm;
type Tensor = fm.Tensor;
type Value = number | 'nan' | 'inf' | '-inf';

/** A tensor in the fixture: flat row-major values. */
export interface FxTensor {
  shape: number[];
  dtype: 'float64' | 'float32' | 'int64' | 'bool';
  values: Value[];
  /** Inputs only: whether it requires grad. */
  grad?: boolean;
}
export interface ModuleCase {
  name: string;
  cls: string;
  args: unknown[];
  mode: 'train' | 'eval';
  state: Record<string, FxTensor>;
  calls: (FxTensor | null)[][];
  output: FxTensor;
  R: Value[];
  grads: (FxTensor | null)[];
  paramGrads: Record<string, FxTensor | null>;
  stateAfter: Record<string, FxTensor> | null;
  repr: string;
}
export interface FunctionCase {
  name: string;
  fn: string;
  args: unknown[];
  inputs: (FxTensor | null)[];
  output: FxTensor;
  R: Value[];
  /** null: PyTorch's gradients are no reference for this case (see the fixture script). */
  grads: (FxTensor | null)[] | null;
  /** The float64 output is no reference for float32 inputs. */
  f64only: boolean;
}
export interface ModelInfo {
  keys: string[];
  params: string[];
  buffers: string[];
  modules: string[];
  children: string[];
  numParams: number;
  repr: string;
}
export interface NnFixture {
  torch: string;
  modules: ModuleCase[];
  functions: FunctionCase[];
  models: Record<string, ModelInfo>;
  hooks: { state: Record<string, FxTensor>; x: FxTensor; R: Value[]; gradInput: (FxTensor | null)[]; gradOutput: (FxTensor | null)[]; xGrad: FxTensor; weightGrad: FxTensor };
  clip: { grads: FxTensor[]; cases: { normType: Value; maxNorm: number; total: Value; grads: FxTensor[] }[] };
  gains: [string, number | null, number][];
}

export const fx = fixture<NnFixture>('nn.json');

const special: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity };
/** A fixture number ('nan', 'inf', '-inf' decoded). */
export const value = (v: Value): number => (typeof v === 'string' ? special[v]! : v);
export const values = (vs: Value[]): number[] => vs.map(value);

export type Precision = 'float64' | 'float32';

/** The fixture tensor on `device` (requiring grad when the fixture says so); float ones in `precision`. */
export function decode(e: FxTensor, device = 'cpu', precision: Precision = 'float64'): Tensor {
  const v = values(e.values);
  const dtype = e.dtype === 'float64' || e.dtype === 'float32' ? precision : e.dtype;
  const typed = dtype === 'int64' ? BigInt64Array.from(v, (x) => BigInt(x))
    : dtype === 'bool' ? Uint8Array.from(v)
    : dtype === 'float32' ? Float32Array.from(v)
    : Float64Array.from(v);
  const t = fm.fromValues(typed, e.shape, dtype, fm.Device.of(device));
  return e.grad ? t.requiresGrad_(true) : t;
}

/** Fixture arguments with {"$in": i} replaced by inputs[i] and {"$tensor": e} by the tensor e. */
export function resolve(arg: unknown, inputs: (Tensor | null)[], device: string, precision: Precision = 'float64'): unknown {
  if (Array.isArray(arg)) return arg.map((a) => resolve(a, inputs, device, precision));
  if (arg === null || typeof arg !== 'object') return arg;
  const o = arg as Record<string, unknown>;
  if ('$in' in o) return inputs[o.$in as number];
  if ('$tensor' in o) return decode(o.$tensor as FxTensor, device, precision);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, inputs, device, precision)]));
}

/**
 * Tolerances: float64 against the fixture's 12 significant digits; float32 (the same inputs, exact in float32)
 * against the float64 reference.
 */
const TOLS = { float64: { rtol: 1e-8, atol: 1e-10 }, float32: { rtol: 2e-4, atol: 2e-5 } };
const TOL = TOLS.float64;

/** Asserts shape and values (NaN matches NaN), naming what is compared. */
export function expectTensor(actual: Tensor, e: FxTensor, what: string, tol = TOL): void {
  assert.deepEqual([...actual.shape], e.shape, `${what}: shape [${actual.shape.join(', ')}] != [${e.shape.join(', ')}]`);
  const a = Array.from(actual.contiguous().data() as ArrayLike<number | bigint>, Number);
  const x = values(e.values);
  const bad: string[] = [];
  a.forEach((y, i) => {
    const z = x[i]!;
    const ok = Number.isNaN(z) ? Number.isNaN(y) : !Number.isFinite(z) ? y === z : Math.abs(y - z) <= tol.atol + tol.rtol * Math.abs(z);
    if (!ok) bad.push(`[${i}] ${y} vs ${z}`);
  });
  assert.ok(bad.length === 0, `${what}: ${bad.length} of ${a.length} values differ from PyTorch: ${bad.slice(0, 6).join(', ')}`);
}

/** sum(out * R).backward() when out requires grad. */
function backward(out: Tensor, R: Value[]): void {
  if (!out.requiresGrad) return;
  const r = fm.fromValues(Float64Array.from(values(R)), out.shape, 'float64', out.device).to(out.dtype);
  out.mul(r).sum().backward();
}

function expectGrads(inputs: (Tensor | null)[], grads: (FxTensor | null)[], name: string, tol = TOL): void {
  grads.forEach((g, i) => {
    const t = inputs[i];
    if (g === null) {
      assert.ok(!t || !t.requiresGrad || t.grad === null, `${name}: input ${i} has a gradient, PyTorch gives none`);
      return;
    }
    assert.ok(t?.grad, `${name}: input ${i} has no gradient`);
    expectTensor(t.grad, g, `${name}: gradient of input ${i}`, tol);
  });
}

/**
 * Where print(m) knowingly differs from torch 1.13's: a JS number does not say whether it was written 1 or 1.0, so
 * Fiamma prints option values as Python floats; torch 1.13's Softplus has int defaults (beta=1, threshold=20).
 */
const REPR_DEVIATIONS: Record<string, string> = {
  Softplus: 'Softplus(beta=1.0, threshold=20.0)',
  'Softplus(2,3)': 'Softplus(beta=2.0, threshold=3.0)',
};

type ModuleClass = new (...args: unknown[]) => fm.nn.Module;

/** The layer of a module case with PyTorch's state loaded, on `device`, in float64 (or as built: float32). */
export function buildModule(c: ModuleCase, device = 'cpu', precision: Precision = 'float64'): fm.nn.Module {
  const Cls = (nn as unknown as Record<string, ModuleClass>)[c.cls];
  assert.ok(Cls, `fm.nn has no ${c.cls}`);
  const m = new Cls(...(resolve(c.args, [], device, 'float32') as unknown[])).to(device);
  if (precision === 'float64') m.to('float64');
  m.loadStateDict(Object.fromEntries(Object.entries(c.state).map(([k, e]) => [k, decode(e, device, precision)])));
  return c.mode === 'eval' ? m.eval() : m.train();
}

/**
 * Runs a module case: forward (every call), backward of the last, and its state and printing. In float32 the
 * module is used as built (float32 parameters), with looser tolerances and the dtypes checked.
 */
export function runModuleCase(c: ModuleCase, device = 'cpu', precision: Precision = 'float64'): void {
  const m = buildModule(c, device, precision);
  const tol = TOLS[precision];
  let out: Tensor | undefined;
  let inputs: (Tensor | null)[] = [];
  for (const call of c.calls) {
    inputs = call.map((e) => (e === null ? null : decode(e, device, precision)));
    m.zeroGrad();
    out = (m as unknown as (...a: unknown[]) => Tensor)(...inputs);
  }
  assert.equal(out!.dtype, precision, `${c.name}: output dtype`);
  expectTensor(out!, c.output, `${c.name}: output`, tol);
  backward(out!, c.R);
  expectGrads(inputs, c.grads, c.name, tol);
  const params = Object.fromEntries(m.namedParameters());
  assert.deepEqual(Object.keys(params), Object.keys(c.paramGrads), `${c.name}: parameter names`);
  for (const [k, g] of Object.entries(c.paramGrads)) {
    const p = params[k]!;
    if (g === null) assert.equal(p.grad, null, `${c.name}: ${k} has a gradient, PyTorch gives none`);
    else {
      assert.ok(p.grad, `${c.name}: ${k} has no gradient`);
      assert.equal(p.grad.dtype, precision, `${c.name}: dtype of the gradient of ${k}`);
      expectTensor(p.grad, g, `${c.name}: gradient of ${k}`, tol);
    }
  }
  const sd = m.stateDict();
  const want = c.stateAfter ?? c.state;
  assert.deepEqual(Object.keys(sd), Object.keys(want), `${c.name}: state dict keys`);
  for (const [k, e] of Object.entries(want)) {
    assert.equal(sd[k]!.dtype, e.dtype === 'float64' ? precision : e.dtype, `${c.name}: dtype of ${k}`);
    expectTensor(sd[k]!, e, `${c.name}: state ${k} after the calls`, tol);
  }
  assert.equal(String(m), REPR_DEVIATIONS[c.name] ?? c.repr, `${c.name}: print(module)`);
}

/** Runs a function case of F: output and the gradients of sum(output * R). */
export function runFunctionCase(c: FunctionCase, device = 'cpu', precision: Precision = 'float64'): void {
  const f = (nn.F as unknown as Record<string, (...a: unknown[]) => Tensor>)[c.fn];
  assert.ok(f, `F has no ${c.fn}`);
  const tol = TOLS[precision];
  const inputs = c.inputs.map((e) => (e === null ? null : decode(e, device, precision)));
  const out = f(...(resolve(c.args, inputs, device, precision) as unknown[]));
  assert.equal(out.dtype, precision, `${c.name}: output dtype`);
  expectTensor(out, c.output, `${c.name}: output`, tol);
  backward(out, c.R);
  if (c.grads) expectGrads(inputs, c.grads, c.name, tol);
}

/** The loss functions of F (their cases run in nn_losses.test.ts, the others in nn_layers.test.ts). */
export const isLoss = (name: string): boolean => /Loss|^crossEntropy|^nllLoss|^binaryCrossEntropy|^klDiv/.test(name);
