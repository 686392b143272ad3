// Gradient Vaccine, GradVac (Wang, Tsvetkov, Firat and Cao, "Gradient Vaccine: Investigating and
// Improving Multi-task Optimization in Massively Multilingual Models", ICLR 2021), over the whole
// shared range as one group. Each task i starts from its own gradient, g_i' = g_i, and goes through
// the other tasks j in a random order: with phi = cos(g_i', g_j), if phi is below the target
// phi_hat_ij, g_j is added with the weight that brings the cosine up to the target,
//   g_i' += g_j |g_i'| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2)) / (|g_j| sqrt(1 - phi_hat^2)),
// and then phi_hat_ij <- (1 - beta) phi_hat_ij + beta phi (the cosine before the change). The shared
// update is sum_i g_i'; each head keeps its own task's gradient. Every g_i' stays a combination of
// the original gradients, so the whole procedure runs on their T x T Gram matrix and the update is
// sum_t alpha_t g_t (alpha_t = 1 for all t when nothing is changed, as `equal`).
// Distributed-specific: the g_t are the all-reduced global means, identical on every rank, the
// order is drawn from (seed, step) like pcgrad's and the arithmetic is float64 in a fixed order,
// so every rank finds the same update; the targets phi_hat (T x T, starting at 0) are state, kept
// in checkpoints through state()/loadState() and restored on resume and on an elastic re-form.
import { createRng } from '../rng';
import type { Aggregator, AggregatorContext } from './base';
import { shuffled } from './pcgrad';
import { combineByGram } from './vectors';

/**
 * One GradVac step on the Gram matrix `G` (T x T) of the task gradients: updates the targets
 * `phiHat` (T x T, row i holds task i's targets towards every j) in place and returns the weights
 * alpha of the original gradients in the shared update. `order(i)` lists the tasks task i goes
 * through, in order.
 */
export function gradVacStep(G: Float64Array, T: number, phiHat: Float64Array, beta: number, order: (i: number) => number[]): Float64Array {
  const alpha = new Float64Array(T);
  const a = new Float64Array(T); // g_i' = sum_k a_k g_k
  const aG = new Float64Array(T); // (a G)_j = g_i' . g_j
  for (let i = 0; i < T; i++) {
    a.fill(0);
    a[i] = 1;
    for (const j of order(i)) {
      if (j === i) continue;
      for (let c = 0; c < T; c++) {
        let s = 0;
        for (let k = 0; k < T; k++) s += a[k]! * G[k * T + c]!;
        aG[c] = s;
      }
      let ni2 = 0;
      for (let k = 0; k < T; k++) ni2 += a[k]! * aG[k]!;
      const ni = Math.sqrt(Math.max(0, ni2));
      const nj = Math.sqrt(Math.max(0, G[j * T + j]!));
      // A zero gradient (a task without labels in this batch) has no direction: it neither
      // changes g_i' nor moves the target.
      if (!(ni > 0) || !(nj > 0)) continue;
      const phi = Math.min(1, Math.max(-1, aG[j]! / (ni * nj)));
      const target = phiHat[i * T + j]!;
      const sinTarget = Math.sqrt(Math.max(0, 1 - target * target));
      // A target of cosine 1 cannot be reached by adding a finite multiple of g_j: leave g_i' as it is.
      if (phi < target && sinTarget > 1e-12) {
        a[j] += (ni * (target * Math.sqrt(Math.max(0, 1 - phi * phi)) - phi * sinTarget)) / (nj * sinTarget);
      }
      phiHat[i * T + j] = (1 - beta) * target + beta * phi;
    }
    for (let k = 0; k < T; k++) alpha[k] += a[k]!;
  }
  return alpha;
}

export class GradVacAggregator implements Aggregator {
  readonly name = 'gradvac';
  readonly kind = 'stacked' as const;
  /** phi_hat, T x T row-major; the diagonal is unused and stays 0. */
  private readonly phiHat: Float64Array;
  /** The weights of the g_t in the last step's shared gradient (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  constructor(
    private readonly tasks: string[],
    readonly beta = 0.5,
    private readonly seed = 0,
  ) {
    if (!tasks.length) throw new Error('gradvac needs at least one task');
    if (!Number.isFinite(beta) || beta <= 0 || beta > 1) throw new Error(`gradvac beta must be a number in (0, 1], got ${beta}`);
    this.phiHat = new Float64Array(tasks.length * tasks.length);
  }

  /** The current targets phi_hat[i][j] (for logs and tests). */
  targets(): number[][] {
    const T = this.tasks.length;
    return Array.from({ length: T }, (_, i) => Array.from(this.phiHat.subarray(i * T, (i + 1) * T)));
  }

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void {
    if (numTasks !== this.tasks.length) throw new Error(`gradvac: ${numTasks} stacked gradients for ${this.tasks.length} tasks`);
    const rng = createRng(this.seed * 1_000_003 + ctx.step);
    this.lastWeights = combineByGram('gradvac', stacked, numTasks, shared, out, (G) => gradVacStep(G, numTasks, this.phiHat, this.beta, () => shuffled(numTasks, rng)));
  }

  state(): number[] {
    return Array.from(this.phiHat);
  }

  loadState(s: number[]): void {
    const T = this.tasks.length;
    if (s.length !== T * T || s.some((v) => !Number.isFinite(v) || v < -1 || v > 1)) {
      throw new Error(`gradvac: a saved state of ${s.length} values does not fit ${T} tasks (expected ${T * T} cosines in [-1, 1])`);
    }
    this.phiHat.set(s);
  }
}
