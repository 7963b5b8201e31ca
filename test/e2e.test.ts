// End to end: a shortened MNIST run learns, and a training run saved to a checkpoint and resumed
// takes exactly the steps an uninterrupted run takes (model, optimizer, scheduler, data order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fm from '../src/index.js';

const { nn, optim, data } = fm;

const net = () => new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10));

test('a shortened MNIST run (one epoch of 8,000 digits) reaches 90% held-out accuracy', () => {
  fm.manualSeed(0);
  const train = new data.datasets.MNIST({ train: true });
  const test = new data.Subset(new data.datasets.MNIST({ train: false }), [...Array(500).keys()]);
  const model = net();
  const opt = new optim.Adam(model.parameters(), { lr: 3e-3 });
  const loader = new data.DataLoader(train, { batchSize: 50, shuffle: true, generator: new fm.Generator().manualSeed(0) });
  for (let e = 0; e < 1; e++) {
    for (const [x, y] of loader) {
      fm.scope(() => {
        const loss = nn.F.crossEntropy(model(x), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
  }
  model.eval();
  let correct = 0;
  fm.noGrad(() => {
    for (const [x, y] of new data.DataLoader(test, { batchSize: 250 })) correct += model(x).argmax(1).eq(y).sum().item();
  });
  assert.ok(correct / 500 >= 0.9, `held-out accuracy ${(correct / 5).toFixed(1)}%`);
});

test('a checkpointed and resumed run matches an uninterrupted one step for step', () => {
  const ds = new data.TensorDataset(fm.randn([64, 1, 28, 28], { generator: new fm.Generator().manualSeed(1) }), fm.randint(0, 10, [64], { generator: new fm.Generator().manualSeed(2) }));
  const setup = () => {
    fm.manualSeed(3);
    const model = net();
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const sched = new optim.lrScheduler.StepLR(opt, 2, { gamma: 0.5 });
    const gen = new fm.Generator().manualSeed(4);
    const loader = new data.DataLoader(ds, { batchSize: 16, shuffle: true, generator: gen });
    return { model, opt, sched, gen, loader };
  };
  const epoch = (s: ReturnType<typeof setup>) => {
    for (const [x, y] of s.loader) {
      fm.scope(() => {
        const loss = nn.F.crossEntropy(s.model(x), y);
        s.opt.zeroGrad();
        loss.backward();
        s.opt.step();
      });
    }
    s.sched.step();
  };
  const straight = setup();
  for (let e = 0; e < 4; e++) epoch(straight);

  const first = setup();
  epoch(first);
  epoch(first);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fiamma-e2e-')), 'ckpt.safetensors');
  fm.saveCheckpoint({ model: first.model.stateDict(), optimizer: first.opt.stateDict() as unknown as fm.CheckpointValue, scheduler: first.sched.stateDict() as unknown as fm.CheckpointValue, generator: first.gen.getState(), epoch: 2 }, file);

  const resumed = setup();
  const ckpt = fm.loadCheckpoint<{ model: Record<string, fm.Tensor>; optimizer: never; scheduler: never; generator: [bigint, number]; epoch: number }>(file);
  resumed.model.loadStateDict(ckpt.model);
  resumed.opt.loadStateDict(ckpt.optimizer);
  resumed.sched.loadStateDict(ckpt.scheduler);
  resumed.gen.setState(ckpt.generator);
  assert.equal(ckpt.epoch, 2);
  epoch(resumed);
  epoch(resumed);
  const a = straight.model.stateDict();
  const b = resumed.model.stateDict();
  for (const k of Object.keys(a)) assert.deepEqual(b[k]!.toArray(), a[k]!.toArray(), k);
  assert.deepEqual(resumed.sched.getLastLr(), straight.sched.getLastLr());
});
