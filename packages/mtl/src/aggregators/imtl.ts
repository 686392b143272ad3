// IMTL-G, the gradient half of impartial multi-task learning (Liu, Li, Kuang, Xue, Chen, Yang,
// Liao and Zhang, "Towards Impartial Multi-task Learning", ICLR 2021): on the shared parameters,
// the combination g = sum_t alpha_t g_t whose projections onto every task's unit gradient
// u_t = g_t / |g_t| are equal. With D the rows g_1 - g_t and U the rows u_1 - u_t (t = 2..T), the
// paper's closed form is alpha_{2..T} = g_1 U^T (D U^T)^{-1}, alpha_1 = 1 - sum alpha_{2..T}. Each
// head keeps its own task's gradient. Distributed-specific: the g_t are the all-reduced global
// means, identical on every rank, and the small system is built from their Gram matrix and solved
// in float64 in a fixed order, so every rank finds the same alpha.
//
// Scale: the paper's alphas sum to 1; here they are multiplied by T, so they sum to T like the
// weights of `equal` (all 1), dwa, uw and gradnorm. A run's learning rate then means the same for
// every weighting, and where IMTL-G has nothing to balance (one task, or all gradients along one
// direction) its update is exactly equal weighting's.
import type { Aggregator, AggregatorContext } from './base';
import { combineByGram } from './vectors';

/** A pivot below this fraction of the largest gradient norm counts as zero: D U^T is singular. */
const SINGULAR = 1e-10;

/**
 * IMTL-G's weights from the Gram matrix `G` (T x T, row-major) of the task gradients, scaled to
 * sum to T; `equal` says the closed form did not apply and every weight is 1.
 */
export function imtlWeights(G: Float64Array, T: number): { weights: Float64Array; equal: boolean } {
  const equal = () => ({ weights: new Float64Array(T).fill(1), equal: true });
  // One task: nothing to balance.
  if (T === 1) return equal();
  const n = Array.from({ length: T }, (_, t) => Math.sqrt(Math.max(0, G[t * T + t]!)));
  const nMax = Math.max(...n);
  // A zero gradient (e.g. a task without a label in this batch) has no direction u_t: the
  // projections cannot be equalised, so fall back to equal weights (NaN-free, and harmless: the
  // zero gradient contributes nothing whatever its weight).
  if (!n.every((x) => x > 0 && Number.isFinite(x))) return equal();
  // A = D U^T and b = g_1 U^T, from inner products only:
  //   (g_1 - g_r) . (u_1 - u_c) = (G_11 - G_r1) / n_1 - (G_1c - G_rc) / n_c,   b_c = G_11 / n_1 - G_1c / n_c
  const m = T - 1;
  const A = new Float64Array(m * m);
  const b = new Float64Array(m);
  for (let c = 1; c < T; c++) {
    b[c - 1] = G[0]! / n[0]! - G[c]! / n[c]!;
    for (let r = 1; r < T; r++) A[(r - 1) * m + (c - 1)] = (G[0]! - G[r * T]!) / n[0]! - (G[c]! - G[r * T + c]!) / n[c]!;
  }
  // alpha' A = b, i.e. A^T alpha'^T = b^T: Gaussian elimination with partial pivoting on [A^T | b].
  const W = m + 1;
  const M = new Float64Array(m * W);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < m; c++) M[r * W + c] = A[c * m + r]!;
    M[r * W + m] = b[r]!;
  }
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(M[r * W + col]!) > Math.abs(M[piv * W + col]!)) piv = r;
    // Singular D U^T: two gradients point the same way (identical gradients, or all along one
    // line), so no unique impartial combination exists: fall back to equal weights.
    if (!(Math.abs(M[piv * W + col]!) > SINGULAR * nMax)) return equal();
    if (piv !== col) for (let k = 0; k < W; k++) [M[col * W + k], M[piv * W + k]] = [M[piv * W + k]!, M[col * W + k]!];
    for (let r = 0; r < m; r++) {
      if (r === col) continue;
      const f = M[r * W + col]! / M[col * W + col]!;
      if (f !== 0) for (let k = col; k < W; k++) M[r * W + k] -= f * M[col * W + k]!;
    }
  }
  const alpha = new Float64Array(T);
  let rest = 0;
  for (let r = 0; r < m; r++) {
    alpha[r + 1] = M[r * W + m]! / M[r * W + r]!;
    rest += alpha[r + 1]!;
  }
  alpha[0] = 1 - rest;
  if (!alpha.every(Number.isFinite)) return equal();
  for (let t = 0; t < T; t++) alpha[t] *= T;
  return { weights: alpha, equal: false };
}

export class ImtlAggregator implements Aggregator {
  readonly name = 'imtl';
  readonly kind = 'stacked' as const;
  /** The weights of the last step's shared gradient, summing to T (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    this.lastWeights = combineByGram('imtl', stacked, numTasks, shared, out, (G) => imtlWeights(G, numTasks).weights);
  }
}
