// Loss functions (nn.functional's losses) with PyTorch's options: reduction, weight,
// ignoreIndex, labelSmoothing, posWeight. Compositions of Tensor ops, so every one has gradients.
import { Tensor } from '../tensor/tensor.js';
import * as fm from '../index.js';
import { DTypeError, ShapeError, ValueError, asOpError } from '../errors.js';
import { fmtShape } from '../tensor/shape.js';
import { applyOp, backendOf } from '../ops/dispatch.js';
import { autocastActiveFor, autocastFloat32 } from '../amp/autocast.js';
import { isFloating } from '../dtype.js';

export type Reduction = 'mean' | 'sum' | 'none';

/** The reduction, checked before any work is done. */
function checkReduction(op: string, reduction: string | undefined, allowed: readonly string[] = ['mean', 'sum', 'none']): void {
  if (reduction !== undefined && !allowed.includes(reduction)) throw new ValueError(op, `reduction must be ${allowed.map((r) => `'${r}'`).join(', ')}, got '${String(reduction)}'`);
}

function reduce(op: string, l: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkReduction(op, reduction);
  return reduction === 'mean' ? l.mean() : reduction === 'sum' ? l.sum() : l;
}

/** Checks that target has input's shape (Fiamma does not broadcast them, where PyTorch warns and broadcasts), and the reduction. */
function sameShape(op: string, input: Tensor, target: Tensor, reduction?: string): void {
  if (input.shape.join() !== target.shape.join()) {
    throw new ShapeError(op, `target size ${fmtShape(target.shape)} must be the same as input size ${fmtShape(input.shape)}`);
  }
  checkReduction(op, reduction);
}

/** Mean squared error. Example: `F.mseLoss(pred, target)`. */
export function mseLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('mseLoss', input, target, opts.reduction);
  return reduce('mseLoss', input.sub(target).square(), opts.reduction);
}

/** Mean absolute error. */
export function l1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('l1Loss', input, target, opts.reduction);
  return reduce('l1Loss', input.sub(target).abs(), opts.reduction);
}

/** 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta. */
export function smoothL1Loss(input: Tensor, target: Tensor, opts: { reduction?: Reduction; beta?: number } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('smoothL1Loss', input, target, opts.reduction);
  const beta = opts.beta ?? 1;
  const d = input.sub(target).abs();
  const l = beta === 0 ? d : fm.where(d.lt(beta), d.square().mul(0.5 / beta), d.sub(0.5 * beta));
  return reduce('smoothL1Loss', l, opts.reduction);
}

/** 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta). */
export function huberLoss(input: Tensor, target: Tensor, opts: { reduction?: Reduction; delta?: number } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('huberLoss', input, target, opts.reduction);
  const delta = opts.delta ?? 1;
  const d = input.sub(target).abs();
  return reduce('huberLoss', fm.where(d.lt(delta), d.square().mul(0.5), d.sub(0.5 * delta).mul(delta)), opts.reduction);
}

export interface NllOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  reduction?: Reduction;
}

/** The class dim's position and a check that target fits input ([N, C, ...] with target [N, ...], or [C] with []). */
function classDim(op: string, input: Tensor, target: Tensor): number {
  if (target.dtype !== 'int64' && target.dtype !== 'int32' && target.dtype !== 'uint8') throw new DTypeError(op, `expected integer class indices as target, got ${target.dtype}`);
  const cd = input.ndim === 1 ? 0 : 1;
  const expect = input.shape.filter((_, d) => d !== cd);
  if (target.shape.join() !== expect.join()) throw new ShapeError(op, `expected target of shape ${fmtShape(expect)} for input of shape ${fmtShape(input.shape)}, got ${fmtShape(target.shape)}`);
  return cd;
}

/**
 * Negative log likelihood of log-probabilities [N, C, ...] (or [C]) at integer targets; targets
 * equal to ignoreIndex (default -100) count for nothing; 'mean' divides by the targets' total weight.
 */
export function nllLoss(input: Tensor, target: Tensor, opts: NllOptions = {}): Tensor {
  [input] = autocastFloat32(input);
  return nll('nllLoss', input, target, opts);
}

/** nllLoss, with errors naming `op` (crossEntropy calls it). */
function nll(op: string, input: Tensor, target: Tensor, opts: NllOptions): Tensor {
  const cd = classDim(op, input, target);
  checkReduction(op, opts.reduction);
  checkWeight(op, opts.weight, input.shape[cd]!);
  const ignore = opts.ignoreIndex ?? -100;
  const keep = target.ne(ignore);
  const safe = fm.where(keep, target, 0).to('int64');
  let picked: Tensor;
  try {
    picked = input.gather(cd, safe.unsqueeze(cd)).squeeze(cd).neg();
  } catch (e) {
    throw asOpError(e, op); // a target out of range (gather checks, on every device)
  }
  const w = (opts.weight ? opts.weight.indexSelect(0, safe.flatten()).reshape(safe.shape) : fm.onesLike(picked)).mul(keep.to(input.dtype));
  // Ignored rows count 0 whatever their input (NaN or infinite logits included), as PyTorch's.
  const l = picked.mul(w).where(keep, 0);
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'mean') return weightedMean(l.sum(), w.sum());
  return reduce(op, l, reduction);
}

/** A class weight must be a vector of C values. */
function checkWeight(op: string, weight: Tensor | null | undefined, c: number): void {
  if (weight && (weight.ndim !== 1 || weight.shape[0] !== c)) throw new ShapeError(op, `weight must be a vector of ${c} values (one per class), got shape ${fmtShape(weight.shape)}`);
}

/**
 * total / weight, NaN where the weight is 0 (every target ignored), as PyTorch; the gradient is then 0 rather
 * than 0 * inf = NaN (PyTorch's too).
 */
function weightedMean(total: Tensor, weight: Tensor): Tensor {
  const some = weight.ne(0);
  return fm.where(some, total.div(fm.where(some, weight, 1)), NaN);
}

export interface CrossEntropyOptions extends NllOptions {
  labelSmoothing?: number;
}

/**
 * Cross entropy of logits [N, C, ...] (or [C]) against class indices or class probabilities
 * (a float target of the input's shape), as PyTorch's F.cross_entropy.
 * Example: `F.crossEntropy(logits, labels, { labelSmoothing: 0.1 })`.
 */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  if (input.ndim < 1) throw new ShapeError('crossEntropy', `expected input [C] or [N, C, ...], got ${fmtShape(input.shape)}`);
  const cd = input.ndim === 1 ? 0 : 1;
  const eps = opts.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) throw new ValueError('crossEntropy', `labelSmoothing must be between 0.0 and 1.0, got ${eps}`);
  checkReduction('crossEntropy', opts.reduction);
  checkWeight('crossEntropy', opts.weight, input.shape[cd]!);
  const reduction = opts.reduction ?? 'mean';
  const indices = !isFloating(target.dtype);
  if (indices && eps === 0 && !opts.weight && backendOf(input).crossEntropy && isFloating(input.dtype)) {
    classDim('crossEntropy', input, target);
    return fusedCrossEntropy(input, target, opts.ignoreIndex ?? -100, reduction);
  }
  const logp = input.logSoftmax(cd);
  const c = input.shape[cd]!;
  const wShape = input.shape.map((s, d) => (d === cd ? s : 1));
  if (!indices) {
    sameShape('crossEntropy', input, target);
    const t = eps > 0 ? target.mul(1 - eps).add(eps / c) : target;
    let l = logp.mul(t);
    if (opts.weight) l = l.mul(opts.weight.reshape(wShape));
    const per = l.sum(cd).neg();
    if (reduction === 'mean') return per.sum().div(input.numel() / c);
    return reduce('crossEntropy', per, reduction);
  }
  classDim('crossEntropy', input, target);
  const nllL = nll('crossEntropy', logp, target, { ...opts, reduction });
  if (eps === 0) return nllL;
  // Label smoothing: (1 - eps) nll + eps / C * (-sum_c w_c logp_c), ignored targets counting 0.
  const keep = target.ne(opts.ignoreIndex ?? -100);
  let smooth = opts.weight ? logp.mul(opts.weight.reshape(wShape)) : logp;
  smooth = smooth.sum(cd).neg().mul(keep.to(input.dtype));
  let s: Tensor;
  if (reduction === 'mean') {
    const denom = opts.weight ? opts.weight.indexSelect(0, fm.where(keep, target, 0).to('int64').flatten()).reshape(target.shape).mul(keep.to(input.dtype)).sum() : keep.sum().to(input.dtype);
    s = weightedMean(smooth.sum(), denom);
  } else s = reduce('crossEntropy', smooth, reduction);
  return nllL.mul(1 - eps).add(s.mul(eps / c));
}

/**
 * Cross-entropy at class indices through the backend's fused kernels (one registry op over rows
 * [M, C], the class dim moved last): the same values as the composite.
 */
function fusedCrossEntropy(input: Tensor, target: Tensor, ignoreIndex: number, reduction: Reduction): Tensor {
  const c = input.shape[input.ndim === 1 ? 0 : 1]!;
  const rows = input.ndim === 1 ? input.unsqueeze(0) : input.ndim === 2 ? input : input.movedim(1, -1).reshape([-1, c]);
  const l = applyOp('crossEntropy', [rows, target.reshape([-1]).to('int64')], { ignoreIndex, reduction });
  return reduction === 'none' ? l.reshape(target.shape) : l;
}

/** Binary cross entropy of probabilities (logs clamped at -100, as PyTorch). */
export function binaryCrossEntropy(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  if (input.device.type === 'cuda' && autocastActiveFor(input)) {
    throw new ValueError('binaryCrossEntropy', 'binaryCrossEntropy (BCELoss) is unsafe to autocast, as in PyTorch: use binaryCrossEntropyWithLogits (BCEWithLogitsLoss), which takes the logits and is safe, or run it outside autocast on float32 inputs');
  }
  [input, target] = autocastFloat32(input, target);
  sameShape('binaryCrossEntropy', input, target, opts.reduction);
  const l = target.mul(input.log().clampMin(-100)).add(target.neg().add(1).mul(input.neg().add(1).log().clampMin(-100))).neg();
  return reduce('binaryCrossEntropy', opts.weight ? l.mul(opts.weight) : l, opts.reduction);
}

/**
 * Binary cross entropy of logits, computed stably: (1 - y) x + (1 + (pw - 1) y)(log(1 + e^-|x|) + max(-x, 0)).
 * Example: `F.binaryCrossEntropyWithLogits(logits, y, { posWeight })`.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('binaryCrossEntropyWithLogits', input, target, opts.reduction);
  const softplusNeg = input.abs().neg().exp().log1p().add(input.neg().clampMin(0));
  const logWeight = opts.posWeight ? opts.posWeight.sub(1).mul(target).add(1) : null;
  let l = target.neg().add(1).mul(input).add(logWeight ? logWeight.mul(softplusNeg) : softplusNeg);
  if (opts.weight) l = l.mul(opts.weight);
  return reduce('binaryCrossEntropyWithLogits', l, opts.reduction);
}

/**
 * Kullback-Leibler divergence with input as log-probabilities: target (log target - input), 0
 * where target is 0. 'batchmean' divides the sum by the batch size (the mathematically right mean).
 * NOTE: where target is 0 its gradient is 0 here, NaN in PyTorch (log 0 + 1 - input).
 */
export function klDiv(input: Tensor, target: Tensor, opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}): Tensor {
  [input, target] = autocastFloat32(input, target);
  sameShape('klDiv', input, target);
  checkReduction('klDiv', opts.reduction, ['mean', 'batchmean', 'sum', 'none']);
  const l = opts.logTarget
    ? target.exp().mul(target.sub(input))
    : fm.where(target.gt(0), target.mul(fm.where(target.gt(0), target, 1).log().sub(input)), input.mul(0));
  if (opts.reduction === 'batchmean') return l.sum().div(input.ndim > 0 ? input.shape[0]! : 1);
  return reduce('klDiv', l, opts.reduction as Reduction | undefined);
}

/** max(0, -y (x1 - x2) + margin). */
export function marginRankingLoss(x1: Tensor, x2: Tensor, y: Tensor, opts: { margin?: number; reduction?: Reduction } = {}): Tensor {
  [x1, x2, y] = autocastFloat32(x1, x2, y);
  if (x1.shape.join() !== x2.shape.join() || x1.shape.join() !== y.shape.join()) {
    throw new ShapeError('marginRankingLoss', `x1, x2 and y must have the same shape, got ${fmtShape(x1.shape)}, ${fmtShape(x2.shape)} and ${fmtShape(y.shape)}`);
  }
  checkReduction('marginRankingLoss', opts.reduction);
  return reduce('marginRankingLoss', y.neg().mul(x1.sub(x2)).add(opts.margin ?? 0).clampMin(0), opts.reduction);
}

/** 1 - cos(x1, x2) where y = 1, max(0, cos - margin) where y = -1. */
export function cosineEmbeddingLoss(x1: Tensor, x2: Tensor, y: Tensor, opts: { margin?: number; reduction?: Reduction } = {}): Tensor {
  [x1, x2] = autocastFloat32(x1, x2);
  if (x1.shape.join() !== x2.shape.join() || (x1.ndim !== 1 && x1.ndim !== 2) || y.shape.join() !== x1.shape.slice(0, -1).join()) {
    throw new ShapeError('cosineEmbeddingLoss', `expected x1 and x2 [N, D] (or [D]) and y [N] (or []), got ${fmtShape(x1.shape)}, ${fmtShape(x2.shape)} and ${fmtShape(y.shape)}`);
  }
  checkReduction('cosineEmbeddingLoss', opts.reduction);
  const EPS = 1e-12;
  const d = x1.ndim - 1;
  const cos = x1.mul(x2).sum(d).div(x1.square().sum(d).add(EPS).mul(x2.square().sum(d).add(EPS)).sqrt());
  const l = fm.where(y.eq(1), cos.neg().add(1), fm.where(y.eq(-1), cos.sub(opts.margin ?? 0).clampMin(0), cos.mul(0)));
  return reduce('cosineEmbeddingLoss', l, opts.reduction);
}

/** max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance (swap: use the closer of d(a, n), d(p, n)). */
export function tripletMarginLoss(anchor: Tensor, positive: Tensor, negative: Tensor, opts: { margin?: number; p?: number; eps?: number; swap?: boolean; reduction?: Reduction } = {}): Tensor {
  [anchor, positive, negative] = autocastFloat32(anchor, positive, negative);
  if (anchor.ndim !== positive.ndim || anchor.ndim !== negative.ndim || anchor.shape[anchor.ndim - 1] !== positive.shape[positive.ndim - 1] || anchor.shape[anchor.ndim - 1] !== negative.shape[negative.ndim - 1]) {
    throw new ShapeError('tripletMarginLoss', `anchor, positive and negative must have the same number of dims and features, got ${fmtShape(anchor.shape)}, ${fmtShape(positive.shape)} and ${fmtShape(negative.shape)}`);
  }
  checkReduction('tripletMarginLoss', opts.reduction);
  const p = opts.p ?? 2;
  const eps = opts.eps ?? 1e-6;
  const dist = (a: Tensor, b: Tensor) => fm.norm(a.sub(b).add(eps), p, -1);
  let dn = dist(anchor, negative);
  if (opts.swap) dn = fm.minimum(dn, dist(positive, negative));
  return reduce('tripletMarginLoss', dist(anchor, positive).sub(dn).add(opts.margin ?? 1).clampMin(0), opts.reduction);
}

/**
 * Connectionist temporal classification loss, as PyTorch's F.ctc_loss: logProbs [T, N, C]
 * (log-softmax outputs), targets [N, S] (padded) or 1-D (concatenated), lengths per sample.
 * The forward (alpha) recursion runs in log space with Tensor ops, so gradients come from
 * autograd. 'mean' divides each loss by its target length, then averages over the batch.
 * NOTE: impossible alignments use -1e30 rather than -inf inside the recursion (so that no
 * gradient is NaN); their loss is reported as Infinity, or 0 with zeroInfinity.
 * Example: `F.ctcLoss(logits.logSoftmax(2), targets, inputLengths, targetLengths)`.
 */
export function ctcLoss(logProbs: Tensor, targets: Tensor, inputLengths: number[] | Tensor, targetLengths: number[] | Tensor,
  opts: { blank?: number; reduction?: Reduction; zeroInfinity?: boolean } = {}): Tensor {
  const op = 'ctcLoss';
  const blank = opts.blank ?? 0;
  if (logProbs.ndim !== 3) throw new ShapeError(op, `expected logProbs of shape [T, N, C], got ${fmtShape(logProbs.shape)}`);
  const [T, N, C] = logProbs.shape as [number, number, number];
  const list = (v: number[] | Tensor) => (Array.isArray(v) ? v : [...(v.to('int64').data() as BigInt64Array)].map(Number));
  const inLen = list(inputLengths);
  const tgLen = list(targetLengths);
  if (inLen.length !== N || tgLen.length !== N) throw new ShapeError(op, `expected ${N} input and target lengths, got ${inLen.length} and ${tgLen.length}`);
  if (blank < 0 || blank >= C) throw new ValueError(op, `blank must be in [0, ${C}), got ${blank}`);
  inLen.forEach((l) => {
    if (l < 0 || l > T) throw new ValueError(op, `input lengths must be in [0, ${T}], got ${l}`);
  });
  // Targets per sample, on the host (the alignment structure is bookkeeping, not math).
  const flatT = [...(targets.to('int64').data() as BigInt64Array)].map(Number);
  let at = 0;
  const seqs = tgLen.map((l, b) => {
    if (targets.ndim === 2) {
      if (l > targets.shape[1]!) throw new ValueError(op, `target length ${l} exceeds the padded target size ${targets.shape[1]}`);
      return flatT.slice(b * targets.shape[1]!, b * targets.shape[1]! + l);
    }
    const s = flatT.slice(at, at + l);
    at += l;
    return s;
  });
  for (const s of seqs) for (const c of s) if (c < 0 || c >= C || c === blank) throw new ValueError(op, `target ${c} must be a class in [0, ${C}) other than the blank (${blank})`);
  const L = 2 * Math.max(0, ...tgLen) + 1;
  const ext = seqs.map((s) => [...Array(L).keys()].map((i) => (i % 2 === 0 || (i - 1) / 2 >= s.length ? blank : s[(i - 1) / 2]!)));
  const skip = ext.map((e, b) => e.map((c, i) => i >= 2 && i < 2 * tgLen[b]! + 1 && c !== blank && c !== e[i - 2]));
  const dev = logProbs.device;
  const NEG = -1e30;
  const extT = fm.tensor(ext.flat(), { dtype: 'int64', device: dev }).reshape([1, N, L]).expand([T, N, L]);
  const lp = logProbs.gather(2, extT); // [T, N, L]: log p of each extended label at each step
  const skipM = fm.tensor(skip.flat().map(Number), { dtype: 'bool', device: dev }).reshape([N, L]);
  const pad = (a: Tensor, k: number) => fm.cat([fm.full([N, k], NEG, { dtype: a.dtype, device: dev }), a.narrow(1, 0, L - k)], 1);
  const start = fm.tensor(ext.map((_, b) => [...Array(L).keys()].map((i) => (i === 0 || (i === 1 && tgLen[b]! > 0) ? 0 : NEG))).flat(), { dtype: logProbs.dtype, device: dev }).reshape([N, L]);
  const lens = fm.tensor(inLen, { dtype: 'int64', device: dev }).unsqueeze(1);
  let alpha = T > 0 ? fm.where(lens.gt(0), lp.select(0, 0).add(start), start) : start;
  for (let t = 1; t < T; t++) {
    const prev = fm.stack([alpha, pad(alpha, 1), fm.where(skipM, pad(alpha, 2), NEG)]);
    const m = prev.amax(0).detach();
    const next = prev.sub(m).exp().sum(0).log().add(m).add(lp.select(0, t));
    alpha = fm.where(lens.gt(t), next, alpha);
  }
  // The end: the last label or the blank after it, at each sample's last step.
  const endIdx = fm.tensor(tgLen.flatMap((l) => [2 * l, Math.max(2 * l - 1, 0)]), { dtype: 'int64', device: dev }).reshape([N, 2]);
  const ends = alpha.gather(1, endIdx);
  const same = fm.tensor(tgLen.map((l) => l === 0), { dtype: 'bool', device: dev }).unsqueeze(1);
  const endsOk = fm.where(fm.cat([same.logicalNot(), same.logicalNot()], 1).logicalOr(fm.tensor([[true, false]], { dtype: 'bool', device: dev })), ends, NEG);
  const m = endsOk.amax(1, { keepdim: true }).detach();
  let loss = endsOk.sub(m).exp().sum(1).log().add(m.squeeze(1)).neg();
  // Nothing happens in zero steps: the empty target has probability 1, others 0.
  const impossible = loss.detach().gt(1e29).logicalOr(fm.tensor(inLen.map((l, b) => l === 0 && tgLen[b]! > 0), { dtype: 'bool', device: dev }));
  loss = fm.where(impossible, opts.zeroInfinity ? 0 : Infinity, loss);
  if (opts.zeroInfinity) loss = fm.where(impossible, loss.detach(), loss);
  const reduction = opts.reduction ?? 'mean';
  if (reduction === 'mean') return loss.div(fm.tensor(tgLen.map((l) => Math.max(l, 1)), { dtype: loss.dtype, device: dev })).mean();
  return reduce(op, loss, reduction);
}
