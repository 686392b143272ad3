// CAGrad, conflict-averse gradient descent (Liu, Liu, Jin, Stone and Liu, NeurIPS 2021), on the
// shared parameters, as its authors' code states it: with G the Gram matrix of the task gradients,
// g0 their mean and c = alpha |g0|, the weights x on the simplex minimise
//   x^T G b + c sqrt(x^T G x)      (b = 1/T, the mean)
// and the update is (g0 + c / |g_x| * g_x) / (1 + alpha^2), g_x = sum_t x_t g_t. The authors solve
// the small problem with SciPy's SLSQP; here it is projected gradient descent on the simplex with
// backtracking, in float64 and a fixed number of steps, so every rank finds the same x. Each head
// keeps its own task's gradient.
import type { Aggregator, AggregatorContext } from './base';
import { sharedGram, stackedHeads } from './vectors';

const ITERATIONS = 500;

/** Euclidean projection onto the probability simplex (sort-based). */
export function projectSimplex(v: Float64Array): Float64Array {
  const u = Array.from(v).sort((a, b) => b - a);
  let css = 0;
  let theta = 0;
  for (let i = 0; i < u.length; i++) {
    css += u[i]!;
    const t = (css - 1) / (i + 1);
    if (u[i]! - t > 0) theta = t;
  }
  return v.map((x) => Math.max(0, x - theta));
}

/** argmin over the simplex of x^T G b + c sqrt(x^T G x + 1e-8), b = 1/T. */
export function cagradWeights(G: Float64Array, T: number, c: number): Float64Array {
  const Gb = new Float64Array(T);
  for (let r = 0; r < T; r++) for (let k = 0; k < T; k++) Gb[r] += G[r * T + k]! / T;
  const f = (x: Float64Array) => {
    let lin = 0;
    let q = 0;
    for (let r = 0; r < T; r++) {
      lin += x[r]! * Gb[r]!;
      let s = 0;
      for (let k = 0; k < T; k++) s += G[r * T + k]! * x[k]!;
      q += x[r]! * s;
    }
    return { value: lin + c * Math.sqrt(Math.max(0, q) + 1e-8), q };
  };
  let x: Float64Array = new Float64Array(T).fill(1 / T);
  let cur = f(x);
  let step = 1 / Math.max(1e-12, Math.max(...Array.from({ length: T }, (_, t) => G[t * T + t]!)));
  for (let it = 0; it < ITERATIONS; it++) {
    const grad = new Float64Array(T);
    const root = Math.sqrt(Math.max(0, cur.q) + 1e-8);
    for (let r = 0; r < T; r++) {
      let s = 0;
      for (let k = 0; k < T; k++) s += G[r * T + k]! * x[k]!;
      grad[r] = Gb[r]! + (c * s) / root;
    }
    // Backtracking: halve the step until the projected point does not increase the objective.
    let moved = false;
    for (let tries = 0; tries < 40; tries++) {
      const next = projectSimplex(x.map((v, r) => v - step * grad[r]!));
      const val = f(next);
      if (val.value <= cur.value) {
        const change = next.reduce((m, v, r) => Math.max(m, Math.abs(v - x[r]!)), 0);
        x = next;
        cur = val;
        moved = change > 1e-12;
        step *= 1.5;
        break;
      }
      step /= 2;
    }
    if (!moved) break;
  }
  return x;
}

export class CaGradAggregator implements Aggregator {
  readonly name = 'cagrad';
  readonly kind = 'stacked' as const;
  lastWeights: Float64Array = new Float64Array(0);

  constructor(readonly alpha = 0.5) {
    if (!Number.isFinite(alpha) || alpha < 0) throw new Error(`cagrad alpha must be a number >= 0, got ${alpha}`);
  }

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    const { P, lo, hi } = stackedHeads('cagrad', stacked, numTasks, shared, out);
    const T = numTasks;
    const G = sharedGram(stacked, T, P, lo, hi);
    const g0norm = Math.sqrt(G.reduce((s, v) => s + v, 0) / (T * T) + 1e-8);
    const c = this.alpha * g0norm + 1e-8;
    const x = cagradWeights(G, T, c);
    this.lastWeights = x;
    let gx2 = 0;
    for (let a = 0; a < T; a++) for (let b = 0; b < T; b++) gx2 += x[a]! * x[b]! * G[a * T + b]!;
    const lambda = c / (Math.sqrt(Math.max(0, gx2)) + 1e-8);
    const rescale = 1 + this.alpha * this.alpha;
    for (let i = lo; i < hi; i++) {
      let mean = 0;
      let gx = 0;
      for (let t = 0; t < T; t++) {
        const v = stacked[t * P + i]!;
        mean += v / T;
        gx += x[t]! * v;
      }
      out[i] = (mean + lambda * gx) / rescale;
    }
  }
}
