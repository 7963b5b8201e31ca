// bench/scaling_model.ts: the all-reduce and step-time formulas on hand-computed values, the
// parameter counts of the benchmark models, and the script's output (with --measured).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  BENCH_MODELS, LINKS, SETUPS, gptParams, hierarchicalAllReduceSeconds, lenetParams, measuredReport, mlpParams, parseMeasured, predictStep, resnet18Params, ringAllReduceSeconds, splitStep,
  type Link,
} from '../bench/scaling_model.js';

const close = (a: number, b: number, rel = 1e-12) => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)), `${a} != ${b}`);
const link = (bytesPerSec: number, latencySec = 0): Link => ({ name: 'test', bytesPerSec, latencySec });
const script = fileURLToPath(new URL('../bench/scaling_model.js', import.meta.url));

describe('ring all-reduce', () => {
  test('1 GB over 8 ranks at 100 GB/s, no latency: 2 * 7/8 * 1e9 / 1e11 s = 17.5 ms', () => {
    close(ringAllReduceSeconds(1e9, 8, 100e9, 0), 0.0175);
  });
  test('latency: 2(p-1) messages; p = 2 moves the whole buffer once', () => {
    close(ringAllReduceSeconds(0, 4, 1e9, 1e-5), 6e-5);
    close(ringAllReduceSeconds(1e6, 2, 1e9, 1e-5), 1e-3 + 2e-5);
  });
  test('one rank communicates nothing', () => {
    assert.equal(ringAllReduceSeconds(1e9, 1, 1e9, 1e-3), 0);
    assert.equal(hierarchicalAllReduceSeconds(1e9, 1, 1, { intra: LINKS.nvlink, inter: LINKS.eth10 }), 0);
  });
});

describe('hierarchical all-reduce', () => {
  const links = { intra: link(400e9), inter: link(50e9) };
  test('2 nodes x 8 GPUs, 800 MB: intra 2*7/8*8e8/4e11 = 3.5 ms, inter 1e8 / (50e9/8) = 16 ms', () => {
    close(hierarchicalAllReduceSeconds(8e8, 2, 8, links), 3.5e-3 + 16e-3);
    // Eight NICs carry the eight shards at once: inter 1e8 / 50e9 = 2 ms.
    close(hierarchicalAllReduceSeconds(8e8, 2, 8, { ...links, nicsPerNode: 8 }), 3.5e-3 + 2e-3);
  });
  test('one node is a ring on the intra link; one GPU per node a ring on the inter link', () => {
    close(hierarchicalAllReduceSeconds(1e8, 1, 8, { intra: LINKS.nvlink, inter: LINKS.eth10 }), ringAllReduceSeconds(1e8, 8, 450e9, 5e-6));
    close(hierarchicalAllReduceSeconds(1e8, 16, 1, { intra: LINKS.nvlink, inter: LINKS.ibNdr }), ringAllReduceSeconds(1e8, 16, 50e9, 5e-6));
  });
});

describe('predictStep', () => {
  const phases = { fwdMs: 1, bwdMs: 2, optMs: 0.5 };
  test('one GPU: no communication, efficiency 1', () => {
    const p = predictStep({ ...phases, paramBytes: 1e9, nodes: 1, gpusPerNode: 1, links: { intra: LINKS.nvlink, inter: LINKS.eth10 } });
    assert.equal(p.stepMs, 3.5);
    assert.equal(p.efficiency, 1);
    assert.equal(p.exposedMs, 0);
  });
  test('buckets: 250 MB in 100 MB buckets is 3, the last of 50 MB', () => {
    const slow = { intra: link(1e9), inter: link(1e9) };
    // Two ranks at 1 GB/s: 100 ms per full bucket, 50 ms for the last. Communication-bound:
    // T = 1 + max(2, 200) + 50 + 0.5.
    const p = predictStep({ ...phases, paramBytes: 250e6, bucketBytes: 100e6, nodes: 2, gpusPerNode: 1, links: slow });
    assert.equal(p.buckets, 3);
    close(p.overlappableMs, 200);
    close(p.lastBucketMs, 50);
    close(p.stepMs, 251.5);
    close(p.efficiency, 3.5 / 251.5);
    // At 1 TB/s the first two buckets (0.2 ms) hide under backward; only the last 0.05 ms shows.
    const fast = predictStep({ ...phases, paramBytes: 250e6, bucketBytes: 100e6, nodes: 2, gpusPerNode: 1, links: { intra: link(1e12), inter: link(1e12) } });
    close(fast.stepMs, 3.55);
    close(fast.exposedMs, 0.05, 1e-9);
  });
  test('default bucket: 25 MiB', () => {
    const p = predictStep({ ...phases, paramBytes: 25 * 2 ** 20 + 1, nodes: 2, gpusPerNode: 1, links: { intra: link(1e9), inter: link(1e9) } });
    assert.equal(p.buckets, 2);
  });
  test('efficiency falls as nodes are added, for every model and setup', () => {
    for (const m of BENCH_MODELS) {
      for (const { links } of SETUPS) {
        let prev = 1;
        for (const nodes of [1, 2, 4, 8, 16, 32, 64]) {
          const e = predictStep({ ...splitStep(m.stepMs), paramBytes: 4 * m.params, nodes, gpusPerNode: 8, links }).efficiency;
          assert.ok(e < prev && e > 0, `${m.name}, ${nodes} nodes: ${e} after ${prev}`);
          prev = e;
        }
      }
    }
  });
  test('splitStep: 5% optimizer, the rest 1/3 forward and 2/3 backward', () => {
    const s = splitStep(12);
    close(s.optMs, 0.6);
    close(s.fwdMs, 3.8);
    close(s.bwdMs, 7.6);
  });
});

describe('parameter counts', () => {
  test('MLP 784-256-256-10: 269,322', () => assert.equal(mlpParams(), 269_322));
  test('LeNet-style CNN (9216-128): 320 + 18,496 + 1,179,776 + 1,290 = 1,199,882', () => assert.equal(lenetParams(), 1_199_882));
  test('ResNet-18, 10 classes: 11,181,642 (1000 classes: torchvision\'s 11,689,512)', () => {
    assert.equal(resnet18Params(10), 11_181_642);
    assert.equal(resnet18Params(1000), 11_689_512);
  });
  test('GPT 6 layers, width 384, context 256, vocab 65: 10,795,841', () => {
    // 65*384 + 256*384 + 6 * 1,774,464 + 768 + 25,025.
    assert.equal(gptParams(), 24_960 + 98_304 + 6 * 1_774_464 + 768 + 25_025);
    assert.equal(gptParams(), 10_795_841);
  });
});

describe('the script', () => {
  const measured = { mlpStepMs1: 10, mlpStepMs2: 12, allReduceBytesPerSec: 1e9, allReduceLatencySec: 1e-4, paramBytes: 1_077_288 };
  test('measured report: one bucket, comm 1.077288 + 0.2 ms, so 11.277 ms predicted, -6.0% error', () => {
    const text = measuredReport(parseMeasured(JSON.stringify(measured))).join('\n');
    assert.match(text, /predicted 11\.277 ms {3}measured 12\.000 ms {3}relative error -6\.0%/);
    assert.doesNotMatch(text, /differs/);
  });
  test('a bad measured file names the field', () => {
    assert.throws(() => parseMeasured(JSON.stringify({ ...measured, mlpStepMs2: 'x' }), 'm.json'), /m\.json: "mlpStepMs2" should be a positive number, got "x"/);
  });
  test('run as a script it prints the tables and the measured comparison; imported, nothing', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-scaling-'));
    const file = path.join(dir, 'measured.json');
    fs.writeFileSync(file, JSON.stringify(measured));
    try {
      const r = spawnSync(process.execPath, [script, '--measured', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const s of ['269,322 params', '1,199,882 params', '11,181,642 params', '10,795,841 params', 'IB NDR x1', 'Eth 10G', 'relative error -6.0%']) assert.ok(r.stdout.includes(s), s);
      assert.equal(r.stdout.split('\n').filter((l) => /^ {3}64 {3}512 /.test(l)).length, 4);
      const bad = spawnSync(process.execPath, [script, '--bogus'], { encoding: 'utf8' });
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /unknown argument --bogus/);
      const imported = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(new URL('../bench/scaling_model.js', import.meta.url).href)})`], { encoding: 'utf8' });
      assert.equal(imported.status, 0, imported.stderr);
      assert.equal(imported.stdout, '');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
