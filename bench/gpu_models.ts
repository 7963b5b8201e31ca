// The GPU bench's larger training steps, written with nn modules exactly as
// bench/torch_cuda_peer.py writes them in PyTorch: ResNet-18 for 32x32 images (batch 256, SGD
// with momentum) and a GPT of 6 layers, width 384, context 256 (batch 32, AdamW), each in float32
// or under bfloat16 autocast. Each step runs in fm.scope and returns nothing (no sync).
import * as fm from '../src/index.js';

const { nn } = fm;
const F = nn.F;

class BasicBlock extends nn.Module {
  conv1: fm.nn.Conv2d;
  bn1: fm.nn.BatchNorm2d;
  conv2: fm.nn.Conv2d;
  bn2: fm.nn.BatchNorm2d;
  shortcut: fm.nn.Sequential;
  constructor(cin: number, cout: number, stride: number) {
    super();
    this.conv1 = new nn.Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });
    this.bn1 = new nn.BatchNorm2d(cout);
    this.conv2 = new nn.Conv2d(cout, cout, 3, { padding: 1, bias: false });
    this.bn2 = new nn.BatchNorm2d(cout);
    this.shortcut = stride !== 1 || cin !== cout ? new nn.Sequential(new nn.Conv2d(cin, cout, 1, { stride, bias: false }), new nn.BatchNorm2d(cout)) : new nn.Sequential();
  }
  override forward(x: fm.Tensor): fm.Tensor {
    const h = this.bn1(this.conv1(x)).relu();
    return this.bn2(this.conv2(h)).add(this.shortcut(x)).relu();
  }
}

/** ResNet-18 for CIFAR-sized images: a 3x3 stem without pooling, four stages of two blocks. */
export class ResNet18 extends nn.Module {
  stem: fm.nn.Sequential;
  layers: fm.nn.Sequential;
  fc: fm.nn.Linear;
  constructor(classes = 10) {
    super();
    this.stem = new nn.Sequential(new nn.Conv2d(3, 64, 3, { padding: 1, bias: false }), new nn.BatchNorm2d(64), new nn.ReLU());
    const blocks: fm.nn.Module[] = [];
    let cin = 64;
    for (const [cout, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]] as const) {
      blocks.push(new BasicBlock(cin, cout, stride), new BasicBlock(cout, cout, 1));
      cin = cout;
    }
    this.layers = new nn.Sequential(...blocks);
    this.fc = new nn.Linear(512, classes);
  }
  override forward(x: fm.Tensor): fm.Tensor {
    return this.fc(F.adaptiveAvgPool2d(this.layers(this.stem(x)), 1).flatten(1));
  }
}

class GptBlock extends nn.Module {
  ln1: fm.nn.LayerNorm;
  qkv: fm.nn.Linear;
  proj: fm.nn.Linear;
  ln2: fm.nn.LayerNorm;
  fc: fm.nn.Linear;
  out: fm.nn.Linear;
  constructor(private readonly width: number, private readonly heads: number) {
    super();
    this.ln1 = new nn.LayerNorm([width]);
    this.qkv = new nn.Linear(width, 3 * width);
    this.proj = new nn.Linear(width, width);
    this.ln2 = new nn.LayerNorm([width]);
    this.fc = new nn.Linear(width, 4 * width);
    this.out = new nn.Linear(4 * width, width);
  }
  override forward(x: fm.Tensor): fm.Tensor {
    const [b, t] = x.shape as [number, number, number];
    const split = (z: fm.Tensor) => z.view([b, t, this.heads, this.width / this.heads]).transpose(1, 2);
    const [q, k, v] = this.qkv(this.ln1(x)).chunk(3, -1).map(split) as [fm.Tensor, fm.Tensor, fm.Tensor];
    const att = F.scaledDotProductAttention(q, k, v, { isCausal: true }).transpose(1, 2).reshape([b, t, this.width]);
    const h = x.add(this.proj(att));
    return h.add(this.out(F.gelu(this.fc(this.ln2(h)))));
  }
}

/** A GPT: token and position embeddings, pre-norm blocks, a final norm and an untied head. */
export class Gpt extends nn.Module {
  tok: fm.nn.Embedding;
  pos: fm.nn.Embedding;
  blocks: fm.nn.Sequential;
  ln: fm.nn.LayerNorm;
  head: fm.nn.Linear;
  constructor(readonly vocab = 512, readonly context = 256, width = 384, layers = 6, heads = 6) {
    super();
    this.tok = new nn.Embedding(vocab, width);
    this.pos = new nn.Embedding(context, width);
    this.blocks = new nn.Sequential(...Array.from({ length: layers }, () => new GptBlock(width, heads)));
    this.ln = new nn.LayerNorm([width]);
    this.head = new nn.Linear(width, vocab, { bias: false });
  }
  override forward(idx: fm.Tensor): fm.Tensor {
    const t = idx.shape[1]!;
    const h = this.tok(idx).add(this.pos(fm.arange(t, { device: idx.device })));
    return this.head(this.ln(this.blocks(h)));
  }
}

/** A training step: forward (under bfloat16 autocast when asked), backward, update. */
function trainStep(model: fm.nn.Module, opt: fm.optim.Optimizer, device: string, autocast: boolean, loss: () => fm.Tensor): () => void {
  const forward = () => loss();
  return () => fm.scope(() => {
    opt.zeroGrad();
    (autocast ? fm.autocast({ deviceType: fm.Device.of(device).type, dtype: 'bfloat16' }, forward) : forward()).backward();
    opt.step();
  });
}

/** ResNet-18 on random 32x32 images; `batch` 256 in the bench. */
export function resnet18Step(device: string, autocast: boolean, batch = 256): () => void {
  fm.manualSeed(0);
  const model = new ResNet18().to(device);
  const opt = new fm.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  const x = fm.randn([batch, 3, 32, 32]).to(device);
  const y = fm.randint(0, 10, [batch]).to(device);
  return trainStep(model, opt, device, autocast, () => F.crossEntropy(model(x), y));
}

/** The GPT on random tokens; `batch` 32 and `context` 256 in the bench. */
export function gptStep(device: string, autocast: boolean, batch = 32, context = 256): () => void {
  fm.manualSeed(0);
  const model = new Gpt(512, context).to(device);
  const opt = new fm.optim.AdamW(model.parameters(), { lr: 3e-4, weightDecay: 0.1 });
  const idx = fm.randint(0, 512, [batch, context]).to(device);
  const target = fm.randint(0, 512, [batch, context]).to(device);
  return trainStep(model, opt, device, autocast, () => F.crossEntropy(model(idx).view([-1, 512]), target.view([-1])));
}
