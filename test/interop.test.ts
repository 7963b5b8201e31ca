// Checkpoints move between PyTorch and Fiamma: PyTorch's safetensors weights of a small CNN (with
// batch norm statistics) and an MLP load into the same architectures and give PyTorch's outputs;
// a file Fiamma writes loads into PyTorch (test/fixtures/make_interop_fixtures.py check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fm from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { nn } = fm;
const dir = path.join('test', 'fixtures', 'interop');
interface Case { x: number[]; y: number[]; keys: string[] }
const io = fixture<{ cnn: Case; mlp: Case }>('interop/io.json');

const cnn = () => new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3), new nn.ReLU(), new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.Linear(16, 10));
const mlp = () => new nn.Sequential(new nn.Linear(20, 32), new nn.Tanh(), new nn.Linear(32, 32), new nn.GELU(), new nn.Linear(32, 5));

for (const [name, make] of [['cnn', cnn], ['mlp', mlp]] as const) {
  test(`PyTorch's ${name} weights load and reproduce its outputs`, () => {
    const model = make();
    assert.deepEqual(Object.keys(model.stateDict()), io[name].keys, 'the same state-dict keys as PyTorch');
    const r = model.loadStateDict(fm.load(path.join(dir, `${name}.safetensors`)));
    assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] });
    model.eval();
    const y = fm.noGrad(() => model(fm.tensor(io[name].x)));
    assertClose(y, io[name].y, { rtol: 1e-5, atol: 1e-5 });
    if (name === 'cnn') assert.equal(model.stateDict()['1.num_batches_tracked']!.item(), 3, 'batch norm buffers load too');
  });
}

const python = '/usr/bin/python3';
const hasTorch = fs.existsSync(python) && spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

test('a CNN checkpoint Fiamma writes loads into PyTorch with the same outputs', { skip: hasTorch ? undefined : 'no /usr/bin/python3 with torch' }, () => {
  const model = cnn();
  model.loadStateDict(fm.load(path.join(dir, 'cnn.safetensors')));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-interop-')), 'cnn.safetensors');
  fm.save(model.stateDict(), file);
  const r = spawnSync(python, [path.join('test', 'fixtures', 'make_interop_fixtures.py'), 'check', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^OK/);
});
