// The elementwise expression table: each op's C-syntax expression must agree with its JS
// reference, both as compiled to JS (the ts backend) and as compiled by the C compiler
// (what native backends build on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { unaryOps, binaryOps } from '../src/ops/elementwise.js';
import { scalarMathC } from '../src/ops/scalar_math.js';
import { compileScalarExpr } from '../src/backend/ts/loops.js';

const xs = [-7.5, -2, -1, -0.75, -0.5, -1e-3, 0, 1e-3, 0.25, 0.5, 0.9, 1, 1.5, 2.5, 6, 7, 25, NaN, Infinity, -Infinity];
const ys = [-3, -0.5, 0.5, 2, 3.25, NaN];
const params: Record<string, [number, number, number]> = {
  leakyRelu: [0.01, 0, 0], elu: [1.5, 0, 0], softplus: [2, 20, 0], hardtanh: [-1, 1, 0], clamp: [-0.5, 2, 0], nanToNum: [0, 1e30, -1e30],
};
const unaryRows = Object.entries(unaryOps);
const binaryRows = Object.entries(binaryOps);

function same(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
}

test('each expression compiled to JS matches its reference', () => {
  for (const [name, def] of unaryRows) {
    const f = compileScalarExpr(def.expr);
    const [p0, p1, p2] = params[name] ?? [0, 0, 0];
    for (const x of xs) assert.ok(same(f(x, 0, p0, p1, p2), def.ref(x, p0, p1, p2)), `${name}(${x}): ${f(x, 0, p0, p1, p2)} vs ${def.ref(x, p0, p1, p2)}`);
  }
  for (const [name, def] of binaryRows) {
    const f = compileScalarExpr(def.expr);
    for (const x of xs) for (const y of ys) assert.ok(same(f(x, y, 0, 0, 0), def.ref(x, y)), `${name}(${x}, ${y})`);
  }
});

const cc = spawnSync('cc', ['--version']).status === 0 ? 'cc' : undefined;

test('each expression compiled by the C compiler matches its reference', { skip: cc ? false : 'no C compiler (cc) on this machine' }, () => {
  const fn = (name: string, expr: string) => `static double op_${name}(double x, double y, double p0, double p1, double p2) { (void)y; (void)p0; (void)p1; (void)p2; return (double)(${expr}); }`;
  const cases: { name: string; x: number; y: number; p: [number, number, number]; ref: number }[] = [];
  for (const [name, def] of unaryRows) {
    const p = params[name] ?? [0, 0, 0];
    for (const x of xs) cases.push({ name, x, y: 0, p, ref: def.ref(x, ...p) });
  }
  for (const [name, def] of binaryRows) for (const x of xs) for (const y of ys) cases.push({ name, x, y, p: [0, 0, 0], ref: def.ref(x, y) });
  const lit = (v: number) => (Number.isNaN(v) ? 'NAN' : v === Infinity ? 'INFINITY' : v === -Infinity ? '-INFINITY' : v.toPrecision(17));
  const src = [
    '#include <math.h>', '#include <stdio.h>', scalarMathC,
    ...unaryRows.map(([n, d]) => fn(n, d.expr)), ...binaryRows.map(([n, d]) => fn(n, d.expr)),
    'int main(void) {',
    ...cases.map((c) => `  printf("%.17g\\n", op_${c.name}(${lit(c.x)}, ${lit(c.y)}, ${c.p.map(lit).join(', ')}));`),
    '  return 0; }',
  ].join('\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-expr-'));
  fs.writeFileSync(path.join(dir, 'ops.c'), src);
  execFileSync(cc!, ['-O1', '-Wall', '-Werror', '-o', path.join(dir, 'ops'), path.join(dir, 'ops.c'), '-lm']);
  const out = execFileSync(path.join(dir, 'ops'), { encoding: 'utf8' }).trim().split('\n').map((s) => (s === 'nan' || s === '-nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s)));
  fs.rmSync(dir, { recursive: true });
  cases.forEach((c, i) => assert.ok(same(out[i]!, c.ref) || Math.abs(out[i]! - c.ref) <= 1e-9 * Math.max(1, Math.abs(c.ref)), `${c.name}(${c.x}, ${c.y}): C gives ${out[i]}, reference ${c.ref}`));
});
