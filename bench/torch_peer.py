"""The PyTorch side of `npm run bench`, driven by bench/run.ts over stdin/stdout, one JSON
object a line: first {threads} (answered with the torch version), then one workload at a time
with the same sizes, batch sizes and warm-up as Fiamma's (answered with seconds per op of each
timed batch)."""
import json
import sys
import time

import torch


def tiny_add(size):
    a, b = torch.tensor([1.5]), torch.tensor([2.25])

    def run(reps):
        with torch.no_grad():
            for _ in range(reps):
                a.add(b)
    return run


def tiny_mul_backward(size):
    a = torch.tensor([1.5], requires_grad=True)
    b = torch.tensor([2.25], requires_grad=True)

    def run(reps):
        for _ in range(reps):
            a.grad = None
            b.grad = None
            c = a.mul(b)
            c.backward()
    return run


def no_grad_loop(op):
    def run(reps):
        with torch.no_grad():
            for _ in range(reps):
                op()
    return run


def add(size):
    a, b = torch.rand(size), torch.rand(size)
    return no_grad_loop(lambda: a.add(b))


def copy(size):
    src, dst = torch.arange(size[0], dtype=torch.float32), torch.empty(size)
    return no_grad_loop(lambda: dst.copy_(src))


def matmul(size):
    a, b = torch.randn(size), torch.randn(size)
    return no_grad_loop(lambda: a.matmul(b))


def sum_(size):
    a = torch.rand(size)
    return no_grad_loop(lambda: a.sum())


def exp(size):
    a = torch.randn(size)
    return no_grad_loop(lambda: a.exp())


def softmax(size):
    a = torch.randn(size)
    return no_grad_loop(lambda: torch.softmax(a, -1))


def rand(size):
    return no_grad_loop(lambda: torch.rand(size))


def cross_entropy(size):
    x = torch.randn(size, requires_grad=True)
    y = torch.randint(0, size[1], (size[0],))

    def run(reps):
        for _ in range(reps):
            torch.nn.functional.cross_entropy(x, y).backward()
            x.grad = None
    return run


def log_softmax_nll(size):
    x = torch.randn(size, requires_grad=True)
    y = torch.randint(0, size[1], (size[0], 1))

    def run(reps):
        for _ in range(reps):
            torch.log_softmax(x, 1).gather(1, y).mean().neg().backward()
            x.grad = None
    return run


def layer_norm(size):
    x = torch.randn(size, requires_grad=True)
    w = torch.randn(size[1], requires_grad=True)
    b = torch.randn(size[1], requires_grad=True)
    g = torch.randn(size)

    def run(reps):
        for _ in range(reps):
            torch.nn.functional.layer_norm(x, (size[1],), w, b).backward(g)
            x.grad = w.grad = b.grad = None
    return run


def param(shape, fan_in):
    b = 1 / fan_in ** 0.5
    return (torch.rand(shape) * 2 * b - b).requires_grad_()


def sgd_step(params, loss, lr=0.01):
    loss.backward()
    with torch.no_grad():
        for p in params:
            p.sub_(p.grad * lr)
            p.grad = None
    return loss.item()


def mlp_step(size):
    torch.manual_seed(0)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    p = [param((256, 784), 784), param((256,), 784), param((256, 256), 256), param((256,), 256), param((10, 256), 256), param((10,), 256)]

    def run(reps):
        for _ in range(reps):
            h1 = torch.relu(x @ p[0].T + p[1])
            h2 = torch.relu(h1 @ p[2].T + p[3])
            loss = -torch.log_softmax(h2 @ p[4].T + p[5], 1).gather(1, y.unsqueeze(1)).mean()
            sgd_step(p, loss)
    return run


def cnn_step(size):
    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    p = [param((32, 1, 3, 3), 9), param((32,), 9), param((64, 32, 3, 3), 288), param((64,), 288),
         param((128, 1600), 1600), param((128,), 1600), param((10, 128), 128), param((10,), 128)]
    F = torch.nn.functional

    def run(reps):
        for _ in range(reps):
            c1 = F.max_pool2d(torch.relu(F.conv2d(x, p[0], p[1])), 2)
            c2 = F.max_pool2d(torch.relu(F.conv2d(c1, p[2], p[3])), 2)
            h = torch.relu(c2.flatten(1) @ p[4].T + p[5])
            loss = -torch.log_softmax(h @ p[6].T + p[7], 1).gather(1, y.unsqueeze(1)).mean()
            sgd_step(p, loss)
    return run


def adam_step(size):
    torch.manual_seed(0)
    ps = [torch.randn(s).requires_grad_() for s in [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]]
    for p in ps:
        p.grad = torch.randn(p.shape)
    opt = torch.optim.Adam(ps, lr=1e-3)

    def run(reps):
        for _ in range(reps):
            opt.step()
    return run


WORKLOADS = {
    'adam_step': adam_step,
    'tiny_add': tiny_add,
    'tiny_mul_backward': tiny_mul_backward,
    'add_4m': add,
    'copy_4m': copy,
    'matmul_256': matmul,
    'matmul_1024': matmul,
    'matmul_2048': matmul,
    'mlp_step': mlp_step,
    'cnn_step': cnn_step,
    'sum_4m': sum_,
    'exp_1m': exp,
    'softmax_1024': softmax,
    'rand_1m': rand,
    'cross_entropy': cross_entropy,
    'log_softmax_nll': log_softmax_nll,
    'layer_norm': layer_norm,
}


# The workload last set up, kept for the next request of the same one (the bench times each
# workload in rounds that alternate with Fiamma's: bench/run.ts).
current = {'key': None, 'run': None}


def measure(w):
    key = (w['key'], tuple(w['size']))
    if current['key'] != key:
        current['key'], current['run'] = None, None  # the previous tensors go before the next are made
        current['run'] = WORKLOADS[w['key']](w['size'])
        current['key'] = key
    run = current['run']
    batch = w['batch']
    for _ in range(w['warmup']):
        run(batch)
    samples = []
    for _ in range(w['batches']):
        t0 = time.perf_counter()
        run(batch)
        samples.append((time.perf_counter() - t0) / batch)
    return samples


def reply(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main():
    hello = json.loads(sys.stdin.readline())
    torch.set_num_threads(hello['threads'])
    reply({'torch': torch.__version__, 'threads': torch.get_num_threads()})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        w = json.loads(line)
        reply({'key': w['key'], 'samples': measure(w)})


if __name__ == '__main__':
    main()
