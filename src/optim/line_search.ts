// The strong Wolfe line search of LBFGS (ported from PyTorch, itself from torch/optim's
// lswolfe.lua): bracketing, then zoom with safeguarded cubic interpolation.
import type { Tensor } from '../tensor/tensor.js';

/**
 * The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to the bounds (by
 * default the interval between x1 and x2); the middle of the bounds where the cubic has none.
 * Example: `cubicInterpolate(0, f0, g0, 1, f1, g1)`.
 */
export function cubicInterpolate(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number, bounds?: [number, number]): number {
  const [lo, hi] = bounds ?? (x1 <= x2 ? [x1, x2] : [x2, x1]);
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2Square = d1 ** 2 - g1 * g2;
  if (d2Square >= 0) {
    const d2 = Math.sqrt(d2Square);
    const minPos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    // Python's min(max(a, lo), hi): NaN compares false and passes through as PyTorch's does.
    const clampedLo = lo > minPos ? lo : minPos;
    return clampedLo > hi ? hi : clampedLo;
  }
  return (lo + hi) / 2;
}

/** The loss and flat gradient at x + t d (the parameters are restored to x afterwards). Example: `(t, d) => ({ loss, grad })`. */
export type DirectionalEvaluate = (t: number, d: Tensor) => { loss: number; grad: Tensor };

/** What the line search found: the loss and flat gradient at the step t, and how many evaluations it made. Example: `const { t } = strongWolfe(...)`. */
export interface LineSearchResult {
  loss: number;
  grad: Tensor;
  t: number;
  evals: number;
}

/**
 * A step t along d satisfying the strong Wolfe conditions (sufficient decrease c1, curvature c2),
 * from loss f, flat gradient g and directional derivative gtd at t = 0.
 * Example: `const { loss, grad, t, evals } = strongWolfe(evaluate, 1, d, f, g, gtd)`.
 */
export function strongWolfe(objFunc: DirectionalEvaluate, t: number, d: Tensor, f: number, g: Tensor, gtd: number, c1 = 1e-4, c2 = 0.9, toleranceChange = 1e-9, maxLs = 25): LineSearchResult {
  const dNorm = d.abs().max().item();
  g = g.clone();
  let { loss: fNew, grad: gNew } = objFunc(t, d);
  let evals = 1;
  let gtdNew = gNew.dot(d).item();

  // Bracket an interval containing a point satisfying the Wolfe criteria.
  let tPrev = 0;
  let fPrev = f;
  let gPrev = g;
  let gtdPrev = gtd;
  let done = false;
  let lsIter = 0;
  let bracket: number[] = [];
  let bracketF: number[] = [];
  let bracketG: Tensor[] = [];
  let bracketGtd: number[] = [];
  while (lsIter < maxLs) {
    if (fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev)) {
      [bracket, bracketF, bracketG, bracketGtd] = [[tPrev, t], [fPrev, fNew], [gPrev, gNew.clone()], [gtdPrev, gtdNew]];
      break;
    }
    if (Math.abs(gtdNew) <= -c2 * gtd) {
      [bracket, bracketF, bracketG] = [[t], [fNew], [gNew]];
      done = true;
      break;
    }
    if (gtdNew >= 0) {
      [bracket, bracketF, bracketG, bracketGtd] = [[tPrev, t], [fPrev, fNew], [gPrev, gNew.clone()], [gtdPrev, gtdNew]];
      break;
    }
    // Interpolate, extrapolating at most 10 times the step.
    const minStep = t + 0.01 * (t - tPrev);
    const maxStep = t * 10;
    const tmp = t;
    t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, [minStep, maxStep]);
    tPrev = tmp;
    fPrev = fNew;
    gPrev = gNew.clone();
    gtdPrev = gtdNew;
    ({ loss: fNew, grad: gNew } = objFunc(t, d));
    evals += 1;
    gtdNew = gNew.dot(d).item();
    lsIter += 1;
  }
  if (lsIter === maxLs) {
    [bracket, bracketF, bracketG] = [[0, t], [f, fNew], [g, gNew]];
  }

  // Zoom: shrink the bracket until a point satisfies the criteria.
  let insufProgress = false;
  let [lowPos, highPos] = bracketF[0]! <= bracketF[bracketF.length - 1]! ? [0, 1] : [1, 0];
  while (!done && lsIter < maxLs) {
    if (Math.abs(bracket[1]! - bracket[0]!) * dNorm < toleranceChange) break;
    t = cubicInterpolate(bracket[0]!, bracketF[0]!, bracketGtd[0]!, bracket[1]!, bracketF[1]!, bracketGtd[1]!);
    // NOTE: a t too close to an end of the bracket makes little progress: after one such step
    // (or when t is at an end) move it to 0.1 of the bracket's length from that end.
    const bMax = Math.max(...bracket);
    const bMin = Math.min(...bracket);
    const eps = 0.1 * (bMax - bMin);
    if (Math.min(bMax - t, t - bMin) < eps) {
      if (insufProgress || t >= bMax || t <= bMin) {
        t = Math.abs(t - bMax) < Math.abs(t - bMin) ? bMax - eps : bMin + eps;
        insufProgress = false;
      } else {
        insufProgress = true;
      }
    } else {
      insufProgress = false;
    }
    ({ loss: fNew, grad: gNew } = objFunc(t, d));
    evals += 1;
    gtdNew = gNew.dot(d).item();
    lsIter += 1;
    if (fNew > f + c1 * t * gtd || fNew >= bracketF[lowPos]!) {
      // Armijo condition not met, or not lower than the lowest point: t becomes the high end.
      bracket[highPos] = t;
      bracketF[highPos] = fNew;
      bracketG[highPos] = gNew.clone();
      bracketGtd[highPos] = gtdNew;
      [lowPos, highPos] = bracketF[0]! <= bracketF[1]! ? [0, 1] : [1, 0];
    } else {
      if (Math.abs(gtdNew) <= -c2 * gtd) {
        done = true;
      } else if (gtdNew * (bracket[highPos]! - bracket[lowPos]!) >= 0) {
        // The old high end becomes the new low end.
        bracket[highPos] = bracket[lowPos]!;
        bracketF[highPos] = bracketF[lowPos]!;
        bracketG[highPos] = bracketG[lowPos]!;
        bracketGtd[highPos] = bracketGtd[lowPos]!;
      }
      bracket[lowPos] = t;
      bracketF[lowPos] = fNew;
      bracketG[lowPos] = gNew.clone();
      bracketGtd[lowPos] = gtdNew;
    }
  }
  return { loss: bracketF[lowPos]!, grad: bracketG[lowPos]!, t: bracket[lowPos]!, evals };
}
