// A cost model of data-parallel training with bucketed ring all-reduce (docs/scaling.md derives
// it), and a script that prints predicted weak scaling of the benchmark models over 1-64 nodes:
//   node dist/bench/scaling_model.js [--measured file.json]
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A link: bandwidth per direction and the latency of one message. Example: `{ name: 'IB NDR', bytesPerSec: 50e9, latencySec: 5e-6 }`. */
export interface Link {
  name: string;
  bytesPerSec: number;
  latencySec: number;
}

/** The links of the tables. Ethernet 10 Gb/s latency is assumed equal to 100 Gb/s's: the TCP stack, not the line rate, sets it. */
export const LINKS = {
  nvlink: { name: 'NVLink 4', bytesPerSec: 450e9, latencySec: 5e-6 },
  ibNdr: { name: 'IB NDR 400G', bytesPerSec: 50e9, latencySec: 5e-6 },
  eth100: { name: 'Eth 100G', bytesPerSec: 12.5e9, latencySec: 20e-6 },
  eth10: { name: 'Eth 10G', bytesPerSec: 1.25e9, latencySec: 20e-6 },
} as const satisfies Record<string, Link>;

/** PyTorch DDP's default bucket_cap_mb (25 MiB). */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

/**
 * Seconds of a ring all-reduce of `bytes` over `ranks` ranks: reduce-scatter then all-gather, each
 * p-1 steps moving bytes/p per rank, so 2(p-1)/p * bytes cross each rank's slowest link and
 * 2(p-1) messages pay the latency. One rank: no communication.
 * Example: `ringAllReduceSeconds(1e9, 8, 100e9, 0)` is 0.0175 (17.5 ms).
 */
export function ringAllReduceSeconds(bytes: number, ranks: number, linkBytesPerSec: number, latencySec: number): number {
  if (ranks <= 1) return 0;
  return (2 * (ranks - 1) / ranks) * bytes / linkBytesPerSec + 2 * (ranks - 1) * latencySec;
}

/** The two tiers of a cluster. `nicsPerNode` (default 1) inter-node links serve a node in parallel (8 on a DGX H100/H200). */
export interface ClusterLinks {
  intra: Link;
  inter: Link;
  nicsPerNode?: number;
}

/**
 * Seconds of a hierarchical all-reduce on nodes x gpusPerNode: a ring reduce-scatter inside each
 * node (each GPU then owns bytes/g), g concurrent inter-node ring all-reduces of bytes/g (sharing
 * min(nics, g) NICs), and a ring all-gather inside each node.
 *   T = 2(g-1)/g * S/B_intra + 2(g-1) a_intra + 2(N-1)/N * S/(min(nics, g) * B_inter) + 2(N-1) a_inter
 * Example: `hierarchicalAllReduceSeconds(44.7e6, 8, 8, { intra: LINKS.nvlink, inter: LINKS.ibNdr })`.
 */
export function hierarchicalAllReduceSeconds(bytes: number, nodes: number, gpusPerNode: number, links: ClusterLinks): number {
  const g = gpusPerNode;
  const rails = Math.min(links.nicsPerNode ?? 1, g);
  // Reduce-scatter + all-gather inside the node move (g-1)/g * S each: one ring all-reduce's worth.
  const intra = ringAllReduceSeconds(bytes, g, links.intra.bytesPerSec, links.intra.latencySec);
  const inter = ringAllReduceSeconds(bytes / g, nodes, links.inter.bytesPerSec * rails / g, links.inter.latencySec);
  return intra + inter;
}

/** Inputs of predictStep: single-GPU step phases (ms), gradient bytes, bucket size, cluster shape. */
export interface StepInputs {
  fwdMs: number;
  bwdMs: number;
  optMs: number;
  /** Bytes of gradients all-reduced per step (4 x parameters in fp32). */
  paramBytes: number;
  /** Gradient bucket size (default: PyTorch's 25 MiB). */
  bucketBytes?: number;
  nodes: number;
  gpusPerNode: number;
  links: ClusterLinks;
}

/** What predictStep returns; times in ms. */
export interface StepPrediction {
  /** T(p) = fwd + max(bwd, overlappable) + lastBucket + opt. */
  stepMs: number;
  /** Weak scaling efficiency T(1) / T(p). */
  efficiency: number;
  buckets: number;
  /** All-reduce time of every bucket but the last, which can run during backward. */
  overlappableMs: number;
  /** All-reduce time of the last bucket, which starts only when backward ends. */
  lastBucketMs: number;
  /** Communication not hidden by backward: stepMs - T(1). */
  exposedMs: number;
}

/**
 * Predicted step time and weak scaling efficiency of data-parallel training (fixed batch per GPU).
 * Assumes backward produces gradients at a steady rate, buckets are all-reduced one after another
 * as they fill, and communication does not slow compute (see docs/scaling.md).
 * Example: `predictStep({ fwdMs: 2, bwdMs: 4, optMs: 0.5, paramBytes: 44.7e6, nodes: 8, gpusPerNode: 8, links: { intra: LINKS.nvlink, inter: LINKS.ibNdr } })`.
 */
export function predictStep(inp: StepInputs): StepPrediction {
  const bucket = inp.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  const buckets = Math.max(1, Math.ceil(inp.paramBytes / bucket));
  // Buckets fill in reverse parameter order; the remainder is the last one, holding the first layers.
  const lastBytes = inp.paramBytes - (buckets - 1) * bucket;
  const ms = (bytes: number) => 1e3 * hierarchicalAllReduceSeconds(bytes, inp.nodes, inp.gpusPerNode, inp.links);
  // Each bucket is its own collective, so each pays the latency terms again.
  const overlappableMs = (buckets - 1) * ms(bucket);
  const lastBucketMs = ms(lastBytes);
  const t1 = inp.fwdMs + inp.bwdMs + inp.optMs;
  const stepMs = inp.fwdMs + Math.max(inp.bwdMs, overlappableMs) + lastBucketMs + inp.optMs;
  return { stepMs, efficiency: t1 / stepMs, buckets, overlappableMs, lastBucketMs, exposedMs: stepMs - t1 };
}

/** Forward, backward and optimizer shares of a measured step: opt = optShare, the rest 1/3 forward, 2/3 backward. */
export function splitStep(stepMs: number, optShare = 0.05): { fwdMs: number; bwdMs: number; optMs: number } {
  const compute = stepMs * (1 - optShare);
  return { fwdMs: compute / 3, bwdMs: (2 * compute) / 3, optMs: stepMs * optShare };
}

// --- parameter counts --------------------------------------------------------------------------

const linear = (i: number, o: number) => i * o + o;
const conv = (i: number, o: number, k: number, bias = true) => i * o * k * k + (bias ? o : 0);

/** Parameters of the MLP 784-256-256-10: 269,322. */
export function mlpParams(): number {
  return linear(784, 256) + linear(256, 256) + linear(256, 10);
}

/** Parameters of the LeNet-style CNN (conv 1-32 3x3, conv 32-64 3x3, maxpool 2, linear 9216-128, linear 128-10): 1,199,882. */
export function lenetParams(): number {
  return conv(1, 32, 3) + conv(32, 64, 3) + linear(9216, 128) + linear(128, 10);
}

/**
 * Parameters of torchvision's ResNet-18 with `numClasses` outputs (11,181,642 for 10): 7x7 stem,
 * BatchNorm weight and bias (its running statistics are buffers, not gradients).
 */
export function resnet18Params(numClasses = 10): number {
  const bn = (c: number) => 2 * c;
  const block = (i: number, o: number) => conv(i, o, 3, false) + bn(o) + conv(o, o, 3, false) + bn(o) + (i !== o ? conv(i, o, 1, false) + bn(o) : 0);
  let n = conv(3, 64, 7, false) + bn(64);
  for (const [i, o] of [[64, 64], [64, 128], [128, 256], [256, 512]] as const) n += block(i, o) + block(o, o);
  return n + linear(512, numClasses);
}

/**
 * Parameters of a GPT as examples/char_transformer.ts builds it: token and learned position
 * embeddings, pre-norm blocks (LayerNorm, fused qkv Linear, output Linear, LayerNorm, 4x MLP), all
 * with biases, a final LayerNorm and an untied head. 6 layers, width 384, context 256, vocab 65:
 * 10,795,841 (nanoGPT's variant, no biases and a tied head, has 10,745,088).
 */
export function gptParams({ layers = 6, width = 384, context = 256, vocab = 65 } = {}): number {
  const ln = 2 * width;
  const blk = ln + linear(width, 3 * width) + linear(width, width) + ln + linear(width, 4 * width) + linear(4 * width, width);
  return vocab * width + context * width + layers * blk + ln + linear(width, vocab);
}

/** A benchmark model: its parameter count and single-GPU step time (H200, PyTorch 2.11 eager, ../shared/device/README.md). */
export interface BenchModel {
  name: string;
  params: number;
  stepMs: number;
}

/** The models of the table. */
export const BENCH_MODELS: readonly BenchModel[] = [
  { name: 'MLP 784-256-256-10, batch 128', params: mlpParams(), stepMs: 1.17 },
  { name: 'LeNet-style CNN, batch 64', params: lenetParams(), stepMs: 1.54 },
  { name: 'ResNet-18 (10 classes), batch 256', params: resnet18Params(10), stepMs: 8.25 },
  { name: 'GPT 6x384, T256, batch 32, AdamW fp32', params: gptParams(), stepMs: 18.9 },
];

/** The inter-node setups compared: one NIC per node, and a DGX's eight NDR rails. */
export const SETUPS: readonly { label: string; links: ClusterLinks }[] = [
  { label: 'IB NDR x8', links: { intra: LINKS.nvlink, inter: LINKS.ibNdr, nicsPerNode: 8 } },
  { label: 'IB NDR x1', links: { intra: LINKS.nvlink, inter: LINKS.ibNdr } },
  { label: 'Eth 100G', links: { intra: LINKS.nvlink, inter: LINKS.eth100 } },
  { label: 'Eth 10G', links: { intra: LINKS.nvlink, inter: LINKS.eth10 } },
];

// --- the script --------------------------------------------------------------------------------

const NODES = [1, 2, 4, 8, 16, 32, 64];
const GPUS_PER_NODE = 8;

/** The weak scaling table of one model as text lines. */
export function scalingTable(m: BenchModel): string[] {
  const phases = splitStep(m.stepMs);
  const cols = SETUPS.map((s) => s.label.padStart(17));
  const lines = [`${m.name}: ${m.params.toLocaleString('en-US')} params, ${((m.params * 4) / 1e6).toFixed(2)} MB of fp32 gradients, T(1) = ${m.stepMs} ms`];
  lines.push(`${'nodes'.padStart(5)} ${'GPUs'.padStart(5)} ${cols.join(' ')}`);
  lines.push(`${''.padStart(11)} ${SETUPS.map(() => 'step ms   eff'.padStart(17)).join(' ')}`);
  for (const nodes of NODES) {
    const cells = SETUPS.map(({ links }) => {
      const p = predictStep({ ...phases, paramBytes: m.params * 4, nodes, gpusPerNode: GPUS_PER_NODE, links });
      return `${p.stepMs.toFixed(2).padStart(9)} ${(100 * p.efficiency).toFixed(0).padStart(4)}%`.padStart(17);
    });
    lines.push(`${String(nodes).padStart(5)} ${String(nodes * GPUS_PER_NODE).padStart(5)} ${cells.join(' ')}`);
  }
  return lines;
}

/** The measured 2-process CPU run that `--measured` reads. */
export interface Measured {
  mlpStepMs1: number;
  mlpStepMs2: number;
  /** Ring link bandwidth; for 2 ranks equal to bytes / all-reduce time (nccl-tests' busbw = algbw). */
  allReduceBytesPerSec: number;
  /** The ring model's per-message latency a; a 2-rank all-reduce's fixed cost is 2a. */
  allReduceLatencySec: number;
  paramBytes: number;
}

/** Reads and checks a `--measured` file. */
export function parseMeasured(text: string, file = 'measured file'): Measured {
  const j = JSON.parse(text) as Record<string, unknown>;
  for (const k of ['mlpStepMs1', 'mlpStepMs2', 'allReduceBytesPerSec', 'allReduceLatencySec', 'paramBytes'] as const) {
    const v = j[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k !== 'allReduceLatencySec' && v === 0)) {
      throw new Error(`${file}: "${k}" should be a ${k === 'allReduceLatencySec' ? 'non-negative' : 'positive'} number, got ${JSON.stringify(v)}`);
    }
  }
  return j as unknown as Measured;
}

/** The prediction for the measured run beside the measurement, as text lines. */
export function measuredReport(m: Measured): string[] {
  const link: Link = { name: 'measured', bytesPerSec: m.allReduceBytesPerSec, latencySec: m.allReduceLatencySec };
  const p = predictStep({ ...splitStep(m.mlpStepMs1), paramBytes: m.paramBytes, nodes: 1, gpusPerNode: 2, links: { intra: link, inter: link } });
  const err = (pred: number, meas: number) => `${pred >= meas ? '+' : ''}${((100 * (pred - meas)) / meas).toFixed(1)}%`;
  const lines = [
    `Measured 2-process CPU run (MLP): ${m.paramBytes.toLocaleString('en-US')} gradient bytes in ${p.buckets} bucket(s), all-reduce ${(m.allReduceBytesPerSec / 1e9).toFixed(2)} GB/s, latency ${(m.allReduceLatencySec * 1e6).toFixed(1)} us`,
    `  1 process      measured ${m.mlpStepMs1.toFixed(3)} ms`,
    `  2 processes    predicted ${p.stepMs.toFixed(3)} ms   measured ${m.mlpStepMs2.toFixed(3)} ms   relative error ${err(p.stepMs, m.mlpStepMs2)}`,
    `  efficiency     predicted ${(100 * p.efficiency).toFixed(1)}%   measured ${((100 * m.mlpStepMs1) / m.mlpStepMs2).toFixed(1)}%`,
    `  exposed communication predicted ${p.exposedMs.toFixed(3)} ms; the model assumes each process computes as fast as the single one (two processes sharing one CPU's cores break that)`,
  ];
  if (m.paramBytes !== mlpParams() * 4) lines.push(`  note: paramBytes ${m.paramBytes} differs from the MLP's ${mlpParams() * 4} fp32 gradient bytes`);
  return lines;
}

function main(argv: readonly string[]): void {
  let measured: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--measured' && i + 1 < argv.length) measured = argv[++i];
    else if (a.startsWith('--measured=')) measured = a.slice('--measured='.length);
    else throw new Error(`unknown argument ${a}; usage: node dist/bench/scaling_model.js [--measured file.json]`);
  }
  console.log(`Predicted weak scaling, ${GPUS_PER_NODE} GPUs per node on NVLink 4; hierarchical ring all-reduce, ${DEFAULT_BUCKET_BYTES / 2 ** 20} MiB buckets;`);
  console.log('single-GPU steps from H200 PyTorch figures, split 5% optimizer, then 1/3 forward, 2/3 backward. eff = T(1) / T(p).\n');
  for (const m of BENCH_MODELS) console.log(scalingTable(m).join('\n') + '\n');
  if (measured !== undefined) console.log(measuredReport(parseMeasured(readFileSync(measured, 'utf8'), measured)).join('\n'));
}

// Run only as a script: importing the module (the tests do) must not print or read argv.
function isEntry(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // import.meta.url is the real path (Node resolves symlinks of ES modules); argv[1] may not be.
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}
if (isEntry()) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  }
}
