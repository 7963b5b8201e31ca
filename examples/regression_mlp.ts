// Fit a small multilayer perceptron to a noisy nonlinear function of three inputs: the shortest
// complete training loop (TensorDataset, DataLoader, an optimizer, a learning-rate schedule).
//
//   npm run build && node dist/examples/regression_mlp.js
import * as fm from '../src/index.js';

const { nn, optim, data } = fm;
fm.manualSeed(0);

// y = sin(2 x0) + x1^2 - 0.5 x2 + noise, for x uniform in [-1, 1]^3.
function makeData(n: number): [fm.Tensor, fm.Tensor] {
  const x = fm.rand([n, 3]).mul(2).sub(1);
  const [x0, x1, x2] = x.unbind(1) as [fm.Tensor, fm.Tensor, fm.Tensor];
  const y = x0.mul(2).sin().add(x1.square()).sub(x2.mul(0.5)).add(fm.randn([n]).mul(0.05));
  return [x, y.unsqueeze(1)];
}
const [xTrain, yTrain] = makeData(2000);
const [xTest, yTest] = makeData(500);
const loader = new data.DataLoader(new data.TensorDataset(xTrain, yTrain), { batchSize: 64, shuffle: true });

const model = new nn.Sequential(new nn.Linear(3, 64), new nn.Tanh(), new nn.Linear(64, 64), new nn.Tanh(), new nn.Linear(64, 1));
const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
const schedule = new optim.lrScheduler.CosineAnnealingLR(opt, 60);

for (let epoch = 1; epoch <= 60; epoch++) {
  for (const [x, y] of loader) {
    fm.scope(() => {
      const loss = nn.F.mseLoss(model(x), y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
  }
  schedule.step();
  if (epoch % 10 === 0) {
    const testLoss = fm.noGrad(() => nn.F.mseLoss(model(xTest), yTest).item());
    console.log(`epoch ${epoch}: test mean squared error ${testLoss.toFixed(4)} (noise floor 0.0025), lr ${schedule.getLastLr()[0]!.toFixed(4)}`);
  }
}
