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


WORKLOADS = {
    'tiny_add': tiny_add,
    'tiny_mul_backward': tiny_mul_backward,
    'add_4m': add,
    'copy_4m': copy,
    'matmul_256': matmul,
    'sum_4m': sum_,
    'exp_1m': exp,
    'softmax_1024': softmax,
}


def measure(w):
    run = WORKLOADS[w['key']](w['size'])
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
