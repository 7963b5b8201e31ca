// The GEMM (csrc/gemm.c) built for instruction sets this process cannot load, each checked by
// test/c/gemm_check.c against a plain product: the host's other x86-64 levels (AVX2, SSE2: their
// own tiles and dot-product blocks) and aarch64 (NEON) run under qemu-user, where a cross compiler
// and qemu are installed (CI installs them; the tests skip with a message elsewhere); and the
// bench's comparison of the GEMM with the system BLAS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeFlags, csrcDir } from '../src/backend/cpu/compile.js';
import { gemmKernelVsBlas } from '../bench/gemm_kernel.js';

const csrc = csrcDir();
const check = path.join(csrc, '..', '..', '..', '..', 'test', 'c', 'gemm_check.c');
const runs = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;

/** Builds the check with `cc` for `march` and runs it (under `runner` when given); returns its output. */
function buildAndRun(cc: string, march: string[], runner: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-gemm-check-'));
  try {
    const exe = path.join(dir, 'gemm_check');
    const built = spawnSync(cc, [...codeFlags, ...march, `-I${csrc}`, check, path.join(csrc, 'gemm.c'), '-o', exe, '-lm'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, `${cc} ${march.join(' ')} failed:\n${built.stderr.slice(0, 4000)}`);
    const [cmd, ...args] = runner.length > 0 ? [...runner, exe] : [exe];
    const ran = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 300_000 });
    assert.equal(ran.status, 0, `the check failed (${march.join(' ')}):\n${ran.stdout.slice(-4000)}${ran.stderr.slice(-2000)}`);
    return ran.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// The builds do not depend on FIAMMA_CPU_KERNELS or FIAMMA_CPU_NATIVE_MIN: they run once, in the
// default configuration (CI runs the suite three times).
const rerun = process.env.FIAMMA_CPU_KERNELS === 'ts' || process.env.FIAMMA_CPU_NATIVE_MIN !== undefined ? 'runs in the default configuration only' : undefined;
const cpuFlags = fs.existsSync('/proc/cpuinfo') ? (/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').split(' ') : [];
const x86 = os.arch() !== 'x64' ? 'not an x86-64 host' : !runs(process.env.CC ?? 'cc', ['--version']) ? 'no C compiler' : undefined;
for (const [level, needs] of [['x86-64-v3', ['avx2', 'fma']], ['x86-64', []]] as const) {
  const missing = needs.filter((f) => !cpuFlags.includes(f));
  const skip = rerun ?? x86 ?? (missing.length > 0 ? `this CPU lacks ${missing.join(', ')}` : undefined);
  test(`GEMM built for ${level}: every layout of A, B and C, float32 and float64, 1 and 2 threads, against a plain product`, { skip }, () => {
    assert.match(buildAndRun(process.env.CC ?? 'cc', [`-march=${level}`]), /^ok 352$/m);
  });
}

const crossCc = 'aarch64-linux-gnu-gcc';
const sysroot = '/usr/aarch64-linux-gnu';
const aarch64 = rerun ?? (os.arch() === 'arm64' ? 'the host is aarch64: the node tests cover it' : !runs(crossCc, ['--version']) || !runs('qemu-aarch64', ['--version']) ? `needs ${crossCc} and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu, qemu-user)` : undefined);
test('GEMM built for aarch64 (NEON), run under qemu: every layout, float32 and float64, 1 and 2 threads, against a plain product', { skip: aarch64 }, () => {
  assert.match(buildAndRun(crossCc, ['-march=armv8-a'], ['qemu-aarch64', '-L', sysroot]), /^ok 352$/m);
});

// The bench's kernel comparison (bench/gemm_kernel.ts): its inputs make every sum exact, so its
// product must equal the system BLAS's element for element.
test('the bench\'s GEMM-vs-BLAS program builds, runs, and its products equal sgemm\'s', { skip: rerun ?? (runs(process.env.CC ?? 'cc', ['--version']) ? undefined : 'no C compiler') }, () => {
  const r = gemmKernelVsBlas(path.join(csrc, '..', '..', '..', '..'), 2, [64, 100]);
  if (typeof r === 'string') {
    assert.match(r, /^no system BLAS/, r); // the one acceptable reason: no libblas.so.3 installed
    return;
  }
  assert.deepEqual(r.rows.map((row) => [row.n, row.threads, row.elementsDiffering]), [[64, 2, 0], [100, 2, 0]]);
  for (const row of r.rows) assert.ok(row.fiammaGflops.median > 0 && row.blasGflops.median > 0);
});
