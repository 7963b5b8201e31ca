"""The PyTorch side of the DDP scaling bench (bench/ddp.ts): the MLP 784-256-256-10 in
DistributedDataParallel over gloo, batch 128 of fixed random data per process, SGD lr 0.01, timed
as bench/ddp_worker.ts times Fiamma's. Starts --nproc processes of --threads threads each with
torch.multiprocessing; rank 0 prints one line, DDP_WORKER_RESULT followed by JSON.

    python3 bench/torch_ddp_peer.py --nproc 2 --threads 1 [--steps 150] [--warmup 20] [--allreduce]
"""
import argparse
import contextlib
import json
import os
import socket
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

RESULT_PREFIX = 'DDP_WORKER_RESULT '
ALL_REDUCE_BIG_NUMEL = 1 << 20  # 4 MiB of float32, as bench/ddp.ts
BLOCK = 25  # steps of one mode between barriers


def summary(samples):
    totals = [f + b + o for f, b, o in samples]
    return {
        'stepMs': statistics.median(totals),
        'meanStepMs': statistics.fmean(totals),
        'forwardMs': statistics.median(s[0] for s in samples),
        'backwardMs': statistics.median(s[1] for s in samples),
        'optimizerMs': statistics.median(s[2] for s in samples),
    }


def time_all_reduce(numel, iters, warm):
    """Seconds of each of `iters` back-to-back all-reduces (sum) of float32 zeros."""
    t = torch.zeros(numel)
    for _ in range(warm):
        dist.all_reduce(t)
    dist.barrier()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        dist.all_reduce(t)
        samples.append(time.perf_counter() - t0)
    return samples


def run(rank, args, port):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    torch.set_num_threads(args.threads)
    dist.init_process_group('gloo', rank=rank, world_size=args.nproc)
    world = dist.get_world_size()
    torch.manual_seed(0)  # DDP broadcasts rank 0's weights anyway
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    torch.manual_seed(1 + rank)
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))

    def step(sync):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with contextlib.nullcontext() if sync else ddp.no_sync():
            loss = F.cross_entropy(ddp(x), y)
            t1 = time.perf_counter()
            loss.backward()
        t2 = time.perf_counter()
        opt.step()
        loss.item()
        t3 = time.perf_counter()
        return (1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e3 * (t3 - t2))

    for _ in range(args.warmup):
        step(True)
        step(False)
    phases = {True: [], False: []}
    # Blocks of each mode in turn (ABBA), as bench/ddp_worker.ts.
    for start in range(0, args.steps, BLOCK):
        for sync in ((True, False) if start // BLOCK % 2 == 0 else (False, True)):
            dist.barrier()
            for _ in range(start, min(args.steps, start + BLOCK)):
                phases[sync].append(step(sync))
    mine = {'ddp': summary(phases[True]), 'noSync': summary(phases[False])}

    ar = None
    if args.allreduce and world > 1:
        ar = {'big': time_all_reduce(ALL_REDUCE_BIG_NUMEL, 60, 10), 'tiny': time_all_reduce(1, 1000, 100)}

    keys = ('stepMs', 'meanStepMs', 'forwardMs', 'backwardMs', 'optimizerMs')
    local = torch.tensor([mine[m][k] for m in ('ddp', 'noSync') for k in keys], dtype=torch.float64)
    gathered = [torch.zeros_like(local) for _ in range(world)]
    dist.all_gather(gathered, local)
    if rank == 0:
        unpack = lambda v: dict(zip(keys, v))  # noqa: E731
        result = {
            'nproc': world, 'threads': torch.get_num_threads(), 'torch': torch.__version__,
            'steps': args.steps, 'warmup': args.warmup, 'buckets': None,
            'ddp': mine['ddp'], 'noSync': mine['noSync'],
            'perRank': [{'ddp': unpack(g.tolist()[:5]), 'noSync': unpack(g.tolist()[5:])} for g in gathered],
            'allReduce': ar and {
                'bigBytes': 4 * ALL_REDUCE_BIG_NUMEL, 'bigSec': statistics.median(ar['big']),
                'tinySec': statistics.median(ar['tiny']), 'bigSamplesSec': ar['big'],
            },
        }
        print(RESULT_PREFIX + json.dumps(result), flush=True)
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--nproc', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--steps', type=int, default=150)
    p.add_argument('--warmup', type=int, default=20)
    p.add_argument('--allreduce', action='store_true')
    args = p.parse_args()
    # Gloo would otherwise look up the host name's address, which in a container may not route.
    os.environ.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    mp.spawn(run, args=(args, free_port()), nprocs=args.nproc, join=True)


if __name__ == '__main__':
    main()
