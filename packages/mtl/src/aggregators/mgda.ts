// MGDA-UB's min-norm step (Sener and Koltun, "Multi-Task Learning as Multi-Objective
// Optimization", NeurIPS 2018) on the shared parameters: the task weights alpha on the simplex
// that minimise |sum_t alpha_t g_t|, found from the Gram matrix of the task gradients (exactly
// up to 12 tasks, else by the paper's Frank-Wolfe); the shared update is sum_t alpha_t g_t and each head keeps its own task's gradient. The gradients are the
// all-reduced global means, identical on every rank, and every product is taken in float64 in a
// fixed order, so every rank finds the same alpha.
import type { Aggregator, AggregatorContext } from './base';
import { combineByGram } from './vectors';

const MAX_ITERATIONS = 1000;
const STOP = 1e-7;
/** Up to this many tasks the minimum is found exactly, over the faces of the simplex. */
const EXACT_TASKS = 12;

/**
 * Minimum-norm point of the convex hull of the vectors whose Gram matrix is `G` (T x T,
 * row-major): weights alpha >= 0 summing to 1. Up to 12 tasks exactly: on each face of the
 * simplex (each subset of tasks) the affine minimum solves a small linear system, and the face
 * whose minimum has non-negative weights and satisfies the optimality condition (no task gradient
 * has a smaller inner product with it than its squared norm) holds the answer. Beyond, Frank-Wolfe
 * with exact line search (the paper's Algorithm 2).
 */
export function minNormWeights(G: Float64Array, T: number): Float64Array {
  if (T === 1) return Float64Array.of(1);
  return T <= EXACT_TASKS ? exactMinNorm(G, T) : frankWolfe(G, T);
}

function quad(G: Float64Array, T: number, a: Float64Array): { Ga: Float64Array; aa: number } {
  const Ga = new Float64Array(T);
  let aa = 0;
  for (let r = 0; r < T; r++) {
    let s = 0;
    for (let c = 0; c < T; c++) s += G[r * T + c]! * a[c]!;
    Ga[r] = s;
    aa += a[r]! * s;
  }
  return { Ga, aa };
}

function exactMinNorm(G: Float64Array, T: number): Float64Array {
  let best: Float64Array | undefined;
  let bestNorm = Infinity;
  const scale = Math.max(1e-300, ...Array.from({ length: T }, (_, t) => G[t * T + t]!));
  for (let mask = 1; mask < 1 << T; mask++) {
    const S: number[] = [];
    for (let t = 0; t < T; t++) if (mask & (1 << t)) S.push(t);
    const a = affineMinimum(G, T, S);
    if (!a) continue;
    const { Ga, aa } = quad(G, T, a);
    // Optimal on the hull: every vertex is at least as far along theta as theta itself.
    if (!Array.from(Ga).every((x) => x >= aa - 1e-9 * scale)) continue;
    if (aa < bestNorm) {
      bestNorm = aa;
      best = a;
    }
  }
  return best ?? frankWolfe(G, T);
}

/** argmin of |sum alpha_t g_t| with sum alpha = 1 over the tasks in S, if every weight is >= 0. */
function affineMinimum(G: Float64Array, T: number, S: number[]): Float64Array | undefined {
  const n = S.length + 1;
  // [G_SS 1; 1^T 0] [alpha; lambda] = [0; 1]
  const A = new Float64Array(n * (n + 1));
  S.forEach((r, i) => {
    S.forEach((c, j) => (A[i * (n + 1) + j] = G[r * T + c]!));
    A[i * (n + 1) + S.length] = 1;
  });
  for (let j = 0; j < S.length; j++) A[S.length * (n + 1) + j] = 1;
  A[S.length * (n + 1) + n] = 1;
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(A[r * (n + 1) + col]!) > Math.abs(A[piv * (n + 1) + col]!)) piv = r;
    if (Math.abs(A[piv * (n + 1) + col]!) < 1e-14) return undefined;
    if (piv !== col) for (let k = 0; k <= n; k++) [A[col * (n + 1) + k], A[piv * (n + 1) + k]] = [A[piv * (n + 1) + k]!, A[col * (n + 1) + k]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = A[r * (n + 1) + col]! / A[col * (n + 1) + col]!;
      if (f !== 0) for (let k = col; k <= n; k++) A[r * (n + 1) + k] -= f * A[col * (n + 1) + k]!;
    }
  }
  const alpha = new Float64Array(T);
  for (let i = 0; i < S.length; i++) {
    const v = A[i * (n + 1) + n]! / A[i * (n + 1) + i]!;
    if (v < -1e-12) return undefined;
    alpha[S[i]!] = Math.max(0, v);
  }
  const sum = alpha.reduce((x, y) => x + y, 0);
  for (let t = 0; t < T; t++) alpha[t] /= sum;
  return alpha;
}

function frankWolfe(G: Float64Array, T: number): Float64Array {
  const alpha = new Float64Array(T).fill(1 / T);
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    const { Ga, aa } = quad(G, T, alpha);
    // The vertex the current point's norm decreases fastest towards.
    let t = 0;
    for (let r = 1; r < T; r++) if (Ga[r]! < Ga[t]!) t = r;
    const at = Ga[t]!; // <theta, g_t>
    const tt = G[t * T + t]!; // |g_t|^2
    // min over gamma of |(1 - gamma) theta + gamma g_t|^2
    const gamma = at >= aa ? 0 : at >= tt ? 1 : (aa - at) / (aa + tt - 2 * at);
    if (gamma <= 0) break;
    for (let r = 0; r < T; r++) alpha[r] = (1 - gamma) * alpha[r]!;
    alpha[t] += gamma;
    if (gamma < STOP) break;
  }
  return alpha;
}

export class MgdaAggregator implements Aggregator {
  readonly name = 'mgda';
  readonly kind = 'stacked' as const;
  /** The weights of the last step (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    this.lastWeights = combineByGram('mgda', stacked, numTasks, shared, out, (G) => minNormWeights(G, numTasks));
  }
}
