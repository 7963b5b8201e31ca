// The GPU bench's models (bench/gpu_models.ts) are PyTorch's (bench/torch_cuda_peer.py): the same
// parameter counts (PyTorch 1.13 counts 11,173,962 and 11,139,072 for the peer's classes), and a
// forward of each on small inputs, in float32 and under bfloat16 autocast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fm from '../src/index.js';
import { Gpt, ResNet18 } from '../bench/gpu_models.js';

const count = (m: fm.nn.Module) => m.parameters().reduce((s, p) => s + p.numel(), 0);

test('ResNet-18 and the GPT have the PyTorch peer\'s parameter counts and output shapes', () => {
  const r = new ResNet18();
  const g = new Gpt(512, 16);
  assert.equal(count(r), 11173962);
  assert.equal(count(new Gpt()), 11139072);
  fm.noGrad(() => {
    assert.deepEqual(r.eval()(fm.randn([2, 3, 32, 32])).shape, [2, 10]);
    const logits = fm.autocast({ deviceType: 'cpu', dtype: 'bfloat16' }, () => g(fm.randint(0, 512, [2, 16])));
    assert.deepEqual(logits.shape, [2, 16, 512]);
    assert.equal(logits.dtype, 'bfloat16');
  });
});
