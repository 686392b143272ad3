// Aligned-MTL (Senushkin, Patakin, Kuznetsov and Konushin, "Independent Component Alignment for
// Multi-Task Learning", CVPR 2023), on the shared parameters: the task gradients (rows of G) are
// replaced by aligned components, orthogonal and all of the norm sigma_min (G's smallest singular
// value), which makes the linear system of the gradients perfectly conditioned; the update is the
// sum of the aligned components (the paper's task weights, all 1). From the Gram matrix
// M = G G^T = V Lambda V^T the aligned components are B G with B = sqrt(lambda_min) V Lambda^{-1/2} V^T,
// so the shared update is sum_t alpha_t g_t with alpha = B 1. Eigenvalues below a relative
// tolerance are dropped (rank-deficient gradients); lambda_min is the smallest one kept. Each head
// keeps its own task's gradient. Distributed-specific: the g_t are the all-reduced global means,
// identical on every rank, and the T x T eigenproblem is solved by cyclic Jacobi in float64 with a
// fixed sweep order, so every rank finds the same alpha.
//
// Scale: the paper's own. Sum of T aligned components, each task weighted 1 as in `equal`; the
// alphas reported are those of the g_t in the update and sum to no fixed value.
import type { Aggregator, AggregatorContext } from './base';
import { combineByGram } from './vectors';

/**
 * Eigenvalues below this fraction of the largest are dropped as zero. The Gram matrix of float32
 * gradients is only known to about 1e-7 of its largest entry, so smaller eigenvalues are noise;
 * the margin keeps such a direction from shrinking the whole update to sqrt(noise).
 */
export const ALIGNED_REL_TOL = 1e-6;
const MAX_SWEEPS = 100;

/**
 * Eigen decomposition of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations in
 * float64: `values[i]` with eigenvector column i of `vectors` (row-major n x n, V[r * n + i]).
 */
export function symmetricEigen(S: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(S);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += A[i]! * A[i]!;
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! * A[p * n + q]!;
    if (off <= 1e-32 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        // The rotation J (J_pp = J_qq = c, J_pq = s, J_qp = -s) that zeroes A_pq in J^T A J.
        const tau = (A[q * n + q]! - A[p * n + p]!) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        A[p * n + q] = A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!;
          const vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => A[i * n + i]!), vectors: V };
}

/** Aligned-MTL's weights alpha = B 1 from the Gram matrix `M` (T x T, row-major) of the task gradients. */
export function alignedWeights(M: Float64Array, T: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(M, T);
  const top = Math.max(...values);
  // All gradients zero (or nothing finite to align): any weights give the zero update; report 1s.
  if (!(top > 0) || !Number.isFinite(top)) return new Float64Array(T).fill(1);
  const kept: number[] = [];
  for (let i = 0; i < T; i++) if (values[i]! > ALIGNED_REL_TOL * top) kept.push(i);
  const sigma = Math.sqrt(Math.min(...kept.map((i) => values[i]!)));
  // alpha = sigma sum_i v_i (v_i . 1) / sqrt(lambda_i), over the eigenpairs kept.
  const alpha = new Float64Array(T);
  for (const i of kept) {
    let v1 = 0;
    for (let r = 0; r < T; r++) v1 += V[r * T + i]!;
    const f = (sigma * v1) / Math.sqrt(values[i]!);
    for (let r = 0; r < T; r++) alpha[r] += f * V[r * T + i]!;
  }
  return alpha;
}

export class AlignedMtlAggregator implements Aggregator {
  readonly name = 'aligned';
  readonly kind = 'stacked' as const;
  /** The weights of the g_t in the last step's shared gradient (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    this.lastWeights = combineByGram('aligned', stacked, numTasks, shared, out, (G) => alignedWeights(G, numTasks));
  }
}
