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
        if autocast:
            with torch.autocast('cuda', dtype=torch.bfloat16):
                loss = forward()
        else:
            loss = forward()
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad * 0.01)
                p.grad = None
    return step

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
print(json.dumps({'version': torch.__version__, 'rows': rows}))
