# PyTorch's side of bench/cuda.ts: the same workloads on the same GPU, eager mode, printed as JSON.
import json, time
import torch

dev = 'cuda'

def timeit(fn, iters, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters

def mlp(autocast=False):
    g = torch.Generator().manual_seed(0)
    sizes = [784, 256, 256, 10]
    params = []
    for i in range(3):
        params.append((torch.randn(sizes[i], sizes[i + 1], generator=g) * 0.05).to(dev).requires_grad_())
        params.append(torch.zeros(sizes[i + 1], device=dev).requires_grad_())
    x = torch.randn(128, 784, generator=g).to(dev)
    t = torch.randint(0, 10, (128, 1), generator=g).to(dev)
    def forward():
        h = x
        for i in range(3):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < 2:
                h = h.relu()
        return h.log_softmax(1).gather(1, t).mean().neg()
    def step():
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=autocast):
            loss = forward()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad * 0.01)
                p.grad = None
    return step

class BasicBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else nn.Sequential()

    def forward(self, x):
        h = self.bn1(self.conv1(x)).relu()
        return (self.bn2(self.conv2(h)) + self.shortcut(x)).relu()


class ResNet18(torch.nn.Module):
    # bench/gpu_models.ts's ResNet18, layer for layer.
    def __init__(self, classes=10):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


class GptBlock(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        nn = torch.nn
        self.width, self.heads = width, heads
        self.ln1, self.qkv, self.proj = nn.LayerNorm(width), nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.ln2, self.fc, self.out = nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, _ = x.shape
        split = lambda z: z.view(b, t, self.heads, self.width // self.heads).transpose(1, 2)
        q, k, v = map(split, self.qkv(self.ln1(x)).chunk(3, -1))
        att = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, self.width)
        h = x + self.proj(att)
        return h + self.out(torch.nn.functional.gelu(self.fc(self.ln2(h))))


class Gpt(torch.nn.Module):
    # bench/gpu_models.ts's Gpt.
    def __init__(self, vocab=512, context=256, width=384, layers=6, heads=6):
        super().__init__()
        nn = torch.nn
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.Sequential(*[GptBlock(width, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)

    def forward(self, idx):
        return self.head(self.ln(self.blocks(self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device)))))


def train_step(model, opt, amp, loss_fn):
    def step():
        opt.zero_grad()
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn()
        loss.backward()
        opt.step()
    return step


def resnet_step(amp, batch=256):
    torch.manual_seed(0)
    model = ResNet18().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(batch, 3, 32, 32, device=dev), torch.randint(0, 10, (batch,), device=dev)
    return train_step(model, opt, amp, lambda: torch.nn.functional.cross_entropy(model(x), y))


def gpt_step(amp, batch=32, context=256):
    torch.manual_seed(0)
    model = Gpt(512, context).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    idx, target = torch.randint(0, 512, (batch, context), device=dev), torch.randint(0, 512, (batch, context), device=dev)
    return train_step(model, opt, amp, lambda: torch.nn.functional.cross_entropy(model(idx).view(-1, 512), target.view(-1)))


# Fiamma's float32 products and convolutions are full float32 unless setFloat32MatmulPrecision says
# otherwise; PyTorch's cuDNN convolutions default to TF32, so both switches are off here.
torch.backends.cudnn.allow_tf32 = False
rows = {}
a1 = torch.ones(1, device=dev); b1 = torch.ones(1, device=dev)
rows['tiny add (1 element), time per op'] = timeit(lambda: a1 + b1, 20000) * 1e6
a = torch.ones(64 << 20, device=dev); b = torch.ones(64 << 20, device=dev)
rows['add 64M float32'] = 3 * 4 * (64 << 20) / timeit(lambda: a + b, 50) / 1e9
rows['exp 64M float32'] = 2 * 4 * (64 << 20) / timeit(lambda: a.exp(), 50) / 1e9
rows['sum 64M float32'] = 4 * (64 << 20) / timeit(lambda: a.sum(), 50) / 1e9
del a, b
s = torch.randn(4096, 4096, device=dev)
rows['softmax 4096x4096 (dim 1)'] = timeit(lambda: s.softmax(1), 50) * 1e3
m = torch.randn(4096, 4096, device=dev)
torch.backends.cuda.matmul.allow_tf32 = False
rows['fp32 GEMM 4096'] = 2 * 4096 ** 3 / timeit(lambda: m @ m, 20) / 1e12
torch.backends.cuda.matmul.allow_tf32 = True
rows['TF32 GEMM 4096'] = 2 * 4096 ** 3 / timeit(lambda: m @ m, 50) / 1e12
torch.backends.cuda.matmul.allow_tf32 = False
for name, dt in (('bf16', torch.bfloat16), ('fp16', torch.float16)):
    h = m.to(dt)
    rows[name + ' GEMM 4096'] = 2 * 4096 ** 3 / timeit(lambda: h @ h, 50) / 1e12
rows['MLP 784-256-256-10 train step, batch 128'] = timeit(mlp(), 200) * 1e3
rows['MLP 784-256-256-10 train step, batch 128, bf16 autocast'] = timeit(mlp(True), 200) * 1e3
for amp in (False, True):
    suffix = ', bf16 autocast' if amp else ''
    rows['ResNet-18 32x32 train step, batch 256' + suffix] = timeit(resnet_step(amp), 10) * 1e3
    rows['GPT 6x384 ctx 256 train step, batch 32, AdamW' + suffix] = timeit(gpt_step(amp), 10) * 1e3
print(json.dumps({'version': torch.__version__, 'rows': rows}))
