// A character-level language model: a small causal transformer (the GPT recipe at toy scale)
// trained on a short text shipped in examples/data, then asked to continue a prompt.
//
//   npm run build && node dist/examples/char_transformer.js
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fm from '../src/index.js';

const { nn, optim } = fm;
const F = nn.F;
fm.manualSeed(0);

const here = path.dirname(fileURLToPath(import.meta.url));
const textPath = [path.join(here, 'data', 'fire.txt'), path.join(here, '..', '..', 'examples', 'data', 'fire.txt')].find((p) => fs.existsSync(p))!;
const text = fs.readFileSync(textPath, 'utf8');
const chars = [...new Set(text)].sort();
const encode = (s: string) => [...s].map((c) => chars.indexOf(c));
const decode = (ids: number[]) => ids.map((i) => chars[i]).join('');
const tokens = fm.tensor(encode(text), { dtype: 'int64' });

const block = 64; // context length
const width = 64;
const heads = 4;

/** Causal self-attention: queries, keys and values from one projection, split into heads. */
class SelfAttention extends nn.Module {
  qkv = new nn.Linear(width, 3 * width);
  proj = new nn.Linear(width, width);
  override forward(x: fm.Tensor): fm.Tensor {
    const [b, t] = x.shape as [number, number, number];
    const split = (u: fm.Tensor) => u.reshape([b, t, heads, width / heads]).transpose(1, 2);
    const [q, k, v] = this.qkv(x).chunk(3, -1).map(split) as [fm.Tensor, fm.Tensor, fm.Tensor];
    const y = F.scaledDotProductAttention(q, k, v, { isCausal: true });
    return this.proj(y.transpose(1, 2).reshape([b, t, width]));
  }
}

/** Pre-norm transformer block: attention, then a 4x-wide MLP, each around a residual. */
class Block extends nn.Module {
  ln1 = new nn.LayerNorm(width);
  attn = new SelfAttention();
  ln2 = new nn.LayerNorm(width);
  mlp = new nn.Sequential(new nn.Linear(width, 4 * width), new nn.GELU(), new nn.Linear(4 * width, width));
  override forward(x: fm.Tensor): fm.Tensor {
    const h = x.add(this.attn(this.ln1(x)));
    return h.add(this.mlp(this.ln2(h)));
  }
}

class TinyGPT extends nn.Module {
  tokenEmb = new nn.Embedding(chars.length, width);
  posEmb = new nn.Embedding(block, width);
  blocks = new nn.Sequential(new Block(), new Block());
  lnF = new nn.LayerNorm(width);
  head = new nn.Linear(width, chars.length);
  override forward(idx: fm.Tensor): fm.Tensor {
    const t = idx.shape[1]!;
    const x = this.tokenEmb(idx).add(this.posEmb(fm.arange(t)));
    return this.head(this.lnF(this.blocks(x)));
  }
}

const model = new TinyGPT();
const opt = new optim.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
const gen = new fm.Generator().manualSeed(1);

/** A batch of random windows: inputs and the same windows shifted by one character. */
function batch(size: number): [fm.Tensor, fm.Tensor] {
  const starts = fm.randint(0, tokens.shape[0]! - block - 1, [size], { generator: gen }).data() as BigInt64Array;
  const rows = [...starts].map((s) => tokens.narrow(0, Number(s), block + 1));
  const w = fm.stack(rows);
  return [w.narrow(1, 0, block), w.narrow(1, 1, block)];
}

const steps = 300;
for (let step = 1; step <= steps; step++) {
  const loss = fm.scope(() => {
    const [x, y] = batch(16);
    const logits = model(x);
    const l = F.crossEntropy(logits.reshape([-1, chars.length]), y.reshape([-1]));
    opt.zeroGrad();
    l.backward();
    opt.step();
    return l.item();
  });
  if (step % 50 === 0) console.log(`step ${step}: loss ${loss.toFixed(3)} (uniform guessing: ${Math.log(chars.length).toFixed(3)})`);
}

// Sampling: feed the last `block` characters, draw the next one from the softmax, repeat.
model.eval();
const out = encode('The fire ');
fm.noGrad(() => {
  for (let i = 0; i < 200; i++) {
    fm.scope(() => {
      const ctx = fm.tensor(out.slice(-block), { dtype: 'int64' }).unsqueeze(0);
      const logits = model(ctx).select(1, -1).div(0.8);
      out.push(fm.multinomial(logits.softmax(-1), 1, { generator: gen }).item());
    });
  }
});
console.log(decode(out));
