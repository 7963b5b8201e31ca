// The benchmark's workloads: each builds its inputs, checks Fiamma's result once against plain
// JS, and returns the timed loop; the same keys name the PyTorch side in torch_peer.py.
import * as fm from '../src/index.js';
import { loadNative } from '../src/backend/cpu/native.js';
import { cnnStep, mlpStep } from './models.js';

/** A figure reads as a time per op (lower is better) or as a rate (higher is better). */
export type Unit = 'us/op' | 'ms/op' | 'GB/s' | 'GFLOP/s';

/** One workload, run with the same batch sizes on both sides. */
export interface Workload {
  /** The key shared with torch_peer.py. */
  key: string;
  label: string;
  unit: Unit;
  /** Bytes or flops per op that a rate counts (rates only). */
  work?: number;
  /** Sizes handed to the peer: n for 1-D workloads, [m, k] for 2-D. */
  size: number[];
  /** Ops per timed batch. */
  batch: number;
  /** Timed batches; the figure is their median. Beside PyTorch they run in rounds (bench/run.ts), ceil(batches / 3) each. */
  batches: number;
  /**
   * Untimed batches first (JIT, allocator, caches), the same on every side. Training steps and the
   * ops they run get thousands of calls: V8 tiers the dispatch path up over the first few hundred
   * to few thousand calls, and the figure meant is the steady state a training run spends its time
   * in. Measured: a plain MLP loop 5 ms per step over its first 40 steps, 1.2-1.3 ms after 600;
   * cross-entropy forward + backward 40-90 us per call over its first 3,000 calls, 13-15 after
   * 5,000; an Adam step 100-380 us over its first 500, 66-75 after 700. So those warm up for 1,000
   * steps or 8,000 calls (they had 500, 2,000 and 20, and timed the tiering).
   */
  warmup: number;
  /** A machine reference rather than a Fiamma op (the Fiamma column is plain JS or C). */
  reference?: true;
  /** Has no PyTorch counterpart. */
  noPeer?: true;
  /** Builds the inputs, checks the op's result once, and returns a function running `reps` ops. */
  setup: () => (reps: number) => void;
}

/** The per-batch timings of one side: seconds per op of each timed batch. */
export interface Timing {
  secondsPerOp: number;
  samples: number[];
}

export const N4M = 1 << 22;
const N1M = 1 << 20;

// --- checks: each Fiamma op is verified once against plain JS before it is timed ---------------

function expectClose(what: string, got: number, want: number, rtol = 1e-5, atol = 1e-6): void {
  if (!(Math.abs(got - want) <= atol + rtol * Math.abs(want))) throw new Error(`bench check failed: ${what}: got ${got}, expected ${want}`);
}

/** Indices spread across a tensor of n elements, for spot checks. */
function probes(n: number): number[] {
  return [0, 1, n >> 1, n - 1, Math.floor(n / 3), Math.floor((2 * n) / 3)];
}

function f32(t: fm.Tensor): Float32Array {
  return t.data() as Float32Array;
}

// --- workloads -----------------------------------------------------------------------------
// Every op loop past the tiny op runs each call in fm.scope, which frees its output at once, as
// PyTorch's reference counting frees an unused result; the next call then reuses that buffer. Left
// to the garbage collector, each output was fresh memory (page faults, cold lines): add 4M measured
// 20-35 GB/s that way against 41-43 scoped, and matmul 256 13% slower. The tiny op stays bare: its
// 4-byte output never reaches the buffer pool, and the figure is the dispatch cost alone.

/** A function of the native kernel library (the bench's FMA probe). */
function nativeFn(name: string, result: string, args: string[]): (...a: unknown[]) => unknown {
  return loadNative().fn(name, result, args);
}
function vectorFloats(): number {
  return Number(nativeFn('fm_vector_floats', 'int', [])());
}

export const workloads: Workload[] = [
  {
    key: 'tiny_add', label: 'tiny op: a.add(b), 1 element', unit: 'us/op', size: [1], batch: 20000, batches: 15, warmup: 5,
    setup() {
      const a = fm.tensor([1.5]);
      const b = fm.tensor([2.25]);
      expectClose('tiny add', a.add(b).item(), 3.75);
      return (reps) => {
        for (let i = 0; i < reps; i++) a.add(b);
      };
    },
  },
  {
    key: 'tiny_mul_backward', label: 'tiny fwd+bwd: a.mul(b).backward(), 1 element', unit: 'us/op', size: [1], batch: 20000, batches: 15, warmup: 5,
    setup() {
      const a = fm.tensor([1.5], { requiresGrad: true });
      const b = fm.tensor([2.25], { requiresGrad: true });
      const step = (): void => {
        a.grad = null;
        b.grad = null;
        const c = a.mul(b);
        c.backward();
      };
      step();
      expectClose('tiny backward da', a.grad!.item(), 2.25);
      expectClose('tiny backward db', b.grad!.item(), 1.5);
      return (reps) => {
        for (let i = 0; i < reps; i++) step();
      };
    },
  },
  {
    key: 'add_4m', label: 'add 4M f32 (3 x 4 B/elem)', unit: 'GB/s', work: 3 * 4 * N4M, size: [N4M], batch: 5, batches: 9, warmup: 1,
    setup() {
      const a = fm.rand([N4M]);
      const b = fm.rand([N4M]);
      const [x, y, z] = [f32(a), f32(b), f32(a.add(b))];
      for (const i of probes(N4M)) expectClose(`add[${i}]`, z[i]!, Math.fround(x[i]! + y[i]!));
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { a.add(b); });
      };
    },
  },
  {
    key: 'copy_4m', label: 'ref: memory copy 4M f32 (2 x 4 B/elem); JS TypedArray.set | torch copy_', unit: 'GB/s', work: 2 * 4 * N4M,
    size: [N4M], batch: 20, batches: 9, warmup: 2, reference: true,
    setup() {
      const src = new Float32Array(N4M).map((_, i) => i);
      const dst = new Float32Array(N4M);
      dst.set(src);
      for (const i of probes(N4M)) expectClose(`copy[${i}]`, dst[i]!, src[i]!);
      return (reps) => {
        for (let i = 0; i < reps; i++) dst.set(src);
      };
    },
  },
  ...[256, 1024, 2048].map((n): Workload => ({
    key: `matmul_${n}`, label: `matmul ${n}x${n} f32 (2n^3 flop)`, unit: 'GFLOP/s', work: 2 * n ** 3, size: [n, n],
    batch: n <= 256 ? 20 : n <= 1024 ? 2 : 1, batches: n <= 1024 ? 9 : 5, warmup: n <= 256 ? 10 : n <= 1024 ? 5 : 2,
    setup() {
      const a = fm.randn([n, n]);
      const b = fm.randn([n, n]);
      const [x, y, z] = [f32(a), f32(b), f32(a.matmul(b))];
      for (const [i, j] of [[0, 0], [17, n - 56], [n - 1, n - 1], [n >> 1, 3]] as const) {
        let s = 0;
        for (let k = 0; k < n; k++) s += x[i * n + k]! * y[k * n + j]!;
        expectClose(`matmul${n}[${i},${j}]`, z[i * n + j]!, s, 1e-4, 1e-3);
      }
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { a.matmul(b); });
      };
    },
  })),
  ...[1, 0].map((single): Workload => {
    const threads = single ? 1 : fm.getNumThreads();
    const iters = 2_000_000;
    return {
      key: `fma_peak_${threads}t`, label: `ref: fp32 FMA peak, ${threads} thread${threads > 1 ? 's' : ''} (C, -O3 -march=native)`, unit: 'GFLOP/s',
      work: 2 * vectorFloats() * 12 * iters * threads, size: [threads], batch: 1, batches: 7, warmup: 1, reference: true, noPeer: true,
      setup() {
        const probe = nativeFn('fm_fma_probe', 'double', ['int64_t', 'int']);
        return (reps) => {
          for (let i = 0; i < reps; i++) probe(iters, threads);
        };
      },
    };
  }),
  {
    key: 'sum_4m', label: 'sum of 4M f32', unit: 'ms/op', size: [N4M], batch: 5, batches: 9, warmup: 1,
    setup() {
      const a = fm.rand([N4M]);
      const want = f32(a).reduce((s, v) => s + v, 0);
      expectClose('sum', a.sum().item(), want, 1e-4);
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { a.sum(); });
      };
    },
  },
  {
    key: 'exp_1m', label: 'exp of 1M f32', unit: 'ms/op', size: [N1M], batch: 5, batches: 9, warmup: 1,
    setup() {
      const a = fm.randn([N1M]);
      const [x, z] = [f32(a), f32(a.exp())];
      for (const i of probes(N1M)) expectClose(`exp[${i}]`, z[i]!, Math.exp(x[i]!), 1e-5);
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { a.exp(); });
      };
    },
  },
  {
    key: 'softmax_1024', label: 'softmax [1024, 1024], last dim', unit: 'ms/op', size: [1024, 1024], batch: 3, batches: 9, warmup: 1,
    setup() {
      const a = fm.randn([1024, 1024]);
      const [x, z] = [f32(a), f32(a.softmax(-1))];
      for (const r of [0, 511, 1023]) {
        const row = Array.from(x.subarray(r * 1024, (r + 1) * 1024));
        const m = Math.max(...row);
        const den = row.reduce((s, v) => s + Math.exp(v - m), 0);
        for (const c of [0, 100, 1023]) expectClose(`softmax[${r},${c}]`, z[r * 1024 + c]!, Math.exp(row[c]! - m) / den, 1e-4, 1e-7);
      }
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { a.softmax(-1); });
      };
    },
  },
  {
    // Native uniform random numbers (the ts Philox streams to the bit): dropout's draw.
    key: 'rand_1m', label: 'rand of 1M f32 (uniform)', unit: 'ms/op', size: [N1M], batch: 5, batches: 9, warmup: 2,
    setup() {
      fm.manualSeed(0);
      const r = f32(fm.rand([N1M]));
      const mean = r.reduce((s, v) => s + v, 0) / N1M;
      expectClose('rand mean', mean, 0.5, 0.01, 0.01);
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => { fm.rand([N1M]); });
      };
    },
  },
  {
    // The fused cross-entropy (ops/prims/cross_entropy.ts): a classifier's loss, forward and backward.
    key: 'cross_entropy', label: 'F.crossEntropy [128, 10] forward + backward', unit: 'us/op', size: [128, 10], batch: 200, batches: 9, warmup: 40,
    setup() {
      fm.manualSeed(0);
      const x = fm.randn([128, 10]).requiresGrad_();
      const y = fm.randint(0, 10, [128]);
      const loss = fm.nn.functional.crossEntropy(x, y).item();
      const expected = fm.noGrad(() => x.logSoftmax(1).gather(1, y.unsqueeze(1)).mean().neg().item());
      expectClose('crossEntropy', loss, expected, 1e-6, 1e-7);
      return (reps) => {
        // The gradient is let go inside the scope, which frees it at once (see layer_norm).
        for (let i = 0; i < reps; i++) {
          fm.scope(() => {
            fm.nn.functional.crossEntropy(x, y).backward();
            x.grad = null;
          });
        }
      };
    },
  },
  {
    // The same loss as the composite the MLP and CNN steps write (log_softmax, gather, mean, neg), forward
    // and backward: the fused softmax gradient (ops/prims/softmax.ts) and gather's (ops/prims/index.ts).
    key: 'log_softmax_nll', label: 'logSoftmax + gather + mean [128, 10] forward + backward', unit: 'us/op', size: [128, 10], batch: 200, batches: 9, warmup: 40,
    setup() {
      fm.manualSeed(0);
      const x = fm.randn([128, 10]).requiresGrad_();
      const y = fm.randint(0, 10, [128]).unsqueeze(1);
      const loss = () => x.logSoftmax(1).gather(1, y).mean().neg();
      loss().backward();
      const grad = f32(x.grad!);
      x.grad = null;
      expectClose('loss', loss().item(), fm.noGrad(() => fm.nn.functional.crossEntropy(x, y.squeeze(1))).item(), 1e-6, 1e-7);
      // The same gradient as the fused cross-entropy's.
      fm.nn.functional.crossEntropy(x, y.squeeze(1)).backward();
      const want = f32(x.grad!);
      for (const i of probes(grad.length)) expectClose(`d loss / d x[${i}]`, grad[i]!, want[i]!, 1e-5, 1e-8);
      x.grad = null;
      return (reps) => {
        for (let i = 0; i < reps; i++) {
          fm.scope(() => {
            loss().backward();
            x.grad = null;
          });
        }
      };
    },
  },
  {
    // The fused layer norm (ops/prims/layer_norm.ts): a transformer block's, width 384, 2048 tokens.
    key: 'layer_norm', label: 'F.layerNorm [2048, 384] forward + backward (weight, bias)', unit: 'ms/op', size: [2048, 384], batch: 10, batches: 9, warmup: 20,
    setup() {
      fm.manualSeed(0);
      const x = fm.randn([2048, 384]).requiresGrad_();
      const w = fm.randn([384]).requiresGrad_();
      const b = fm.randn([384]).requiresGrad_();
      const g = fm.randn([2048, 384]);
      const row = f32(x.index(0));
      const m = row.reduce((s, v) => s + v, 0) / 384;
      const v = row.reduce((s, u) => s + (u - m) ** 2, 0) / 384;
      const y0 = f32(fm.noGrad(() => fm.nn.functional.layerNorm(x, [384], w, b)).index(0));
      expectClose('layerNorm[0,5]', y0[5]!, ((row[5]! - m) / Math.sqrt(v + 1e-5)) * f32(w)[5]! + f32(b)[5]!, 1e-4, 1e-6);
      // The gradients are let go inside the scope, as the MLP and CNN steps' SGD does: the scope
      // then frees them at once, as PyTorch frees a gradient set to None. Set to null after the
      // scope, they are left to the collector, and each step wrote fresh, cold memory (1.74 ms).
      return (reps) => {
        for (let i = 0; i < reps; i++) {
          fm.scope(() => {
            fm.nn.functional.layerNorm(x, [384], w, b).backward(g);
            x.grad = w.grad = b.grad = null;
          });
        }
      };
    },
  },
  {
    // The fused optimizer kernel's case (optim/fused.ts): Adam over the MLP's 269,322 parameters.
    key: 'adam_step', label: 'Adam step over the MLP\'s parameters (269,322)', unit: 'ms/op', size: [], batch: 10, batches: 9, warmup: 100,
    setup() {
      fm.manualSeed(0);
      const ps = [[256, 784], [256], [256, 256], [256], [10, 256], [10]].map((s) => fm.randn(s).requiresGrad_());
      for (const p of ps) p.grad = fm.randn(p.shape);
      const opt = new fm.optim.Adam(ps, { lr: 1e-3 });
      const before = ps[0]!.clone();
      opt.step();
      if (!(ps[0]!.sub(before).abs().max().item() > 0)) throw new Error('bench check failed: Adam did not move the parameters');
      return (reps) => {
        for (let i = 0; i < reps; i++) fm.scope(() => opt.step());
      };
    },
  },
  ...([['mlp_step', 'MLP 784-256-256-10 train step, batch 128 (SGD)', mlpStep], ['cnn_step', 'CNN conv 1-32-64 3x3 + pool, 1600-128-10 train step, batch 64', cnnStep]] as const).map(
    ([key, label, make]): Workload => ({
      key, label, unit: 'ms/op', size: [], batch: key === 'mlp_step' ? 20 : 3, batches: 7, warmup: key === 'mlp_step' ? 50 : 20,
      setup() {
        const step = make();
        const first = step();
        let last = first;
        for (let i = 0; i < 5; i++) last = step();
        if (!(last < first)) throw new Error(`bench check failed: ${key} loss did not decrease (${first} -> ${last})`);
        return (reps) => {
          for (let i = 0; i < reps; i++) step();
        };
      },
    }),
  ),
];
