// The training steps the bench times: an MLP 784-256-256-10 (batch 128) and a LeNet-style CNN
// (conv 1-32-64 3x3 with max pooling, then 1600-128-10; batch 64), with cross-entropy and plain
// SGD, written with Fiamma's functional ops exactly as bench/torch_peer.py writes them in PyTorch.
// Each step runs in fm.scope, the idiom that frees a step's temporaries at once (PyTorch frees
// them by reference counting), so their buffers are reused by the next step.
import * as fm from '../src/index.js';

type Params = fm.Tensor[];

/** PyTorch's default Linear/Conv init bound: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
function param(shape: number[], fanIn: number): fm.Tensor {
  const b = 1 / Math.sqrt(fanIn);
  return fm.rand(shape).mul(2 * b).sub(b).requiresGrad_();
}

const linear = (x: fm.Tensor, w: fm.Tensor, b: fm.Tensor) => x.matmul(w.T).add(b);

function crossEntropy(logits: fm.Tensor, target: fm.Tensor): fm.Tensor {
  return logits.logSoftmax(1).gather(1, target.unsqueeze(1)).mean().neg();
}

function sgd(params: Params, lr: number): void {
  fm.noGrad(() => {
    for (const p of params) {
      p.sub_(p.grad!.mul(lr));
      p.grad = null;
    }
  });
}

/** A training step of the MLP; returns the loss. */
export function mlpStep(): () => number {
  fm.manualSeed(0);
  const x = fm.randn([128, 784]);
  const y = fm.randint(0, 10, [128]);
  const p = [param([256, 784], 784), param([256], 784), param([256, 256], 256), param([256], 256), param([10, 256], 256), param([10], 256)];
  return () => fm.scope(() => {
    const h1 = linear(x, p[0]!, p[1]!).relu();
    const h2 = linear(h1, p[2]!, p[3]!).relu();
    const loss = crossEntropy(linear(h2, p[4]!, p[5]!), y);
    loss.backward();
    sgd(p, 0.01);
    return loss.item();
  });
}

/** A training step of the CNN; returns the loss. */
export function cnnStep(): () => number {
  fm.manualSeed(0);
  const x = fm.randn([64, 1, 28, 28]);
  const y = fm.randint(0, 10, [64]);
  const p = [param([32, 1, 3, 3], 9), param([32], 9), param([64, 32, 3, 3], 288), param([64], 288), param([128, 1600], 1600), param([128], 1600), param([10, 128], 128), param([10], 128)];
  return () => fm.scope(() => {
    const c1 = fm.maxPool2d(fm.conv2d(x, p[0]!, p[1]!).relu(), 2);
    const c2 = fm.maxPool2d(fm.conv2d(c1, p[2]!, p[3]!).relu(), 2);
    const h = linear(c2.flatten(1), p[4]!, p[5]!).relu();
    const loss = crossEntropy(linear(h, p[6]!, p[7]!), y);
    loss.backward();
    sgd(p, 0.01);
    return loss.item();
  });
}
