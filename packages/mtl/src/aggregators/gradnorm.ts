// GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient Normalization for
// Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018). Task weights w_i, all 1 at the
// start, scale each task's gradient on the shared parameters; after every step they move by one
// gradient step on
//   L_grad = sum_i | w_i |g_i| - mean_j(w_j |g_j|) * r_i^alpha |,   r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))
// with the target term held constant, as in the paper, and are renormalised to sum to T. |g_i|
// is the norm of task i's gradient over all shared parameters (LibMTL's default; the paper's
// cheaper variant takes the last shared layer only), L_i(0) the loss of the first step. Heads keep
// their own task's gradient, as in LibMTL. Distributed, g_i and L_i are the all-reduced global
// means, identical on every rank, and all arithmetic is float64 in a fixed order, so every rank
// derives the same weights; they are state, kept in checkpoints (state()/loadState()).
import type { Aggregator, AggregatorContext } from './base';
import { dot32, stackedHeads } from './vectors';

export class GradNormAggregator implements Aggregator {
  readonly name = 'gradnorm';
  readonly kind = 'stacked' as const;
  private readonly w: Float64Array;
  /** Each task's loss at the first step, once seen. */
  private initial?: Float64Array;
  /** The weights the last combine() used. */
  lastWeights: Float64Array = new Float64Array(0);

  constructor(
    private readonly tasks: string[],
    readonly alpha = 1.5,
    readonly lr = 0.025,
  ) {
    if (!tasks.length) throw new Error('gradnorm needs at least one task');
    if (!Number.isFinite(alpha) || alpha < 0) throw new Error(`gradnorm alpha must be a number >= 0, got ${alpha}`);
    if (!Number.isFinite(lr) || lr <= 0) throw new Error(`gradnorm lr must be a positive number, got ${lr}`);
    this.w = new Float64Array(tasks.length).fill(1);
  }

  /** The current task weights, by task name. */
  weightsNow(): Record<string, number> {
    return Object.fromEntries(this.tasks.map((t, i) => [t, this.w[i]!]));
  }

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void {
    if (numTasks !== this.tasks.length) throw new Error(`gradnorm: ${numTasks} stacked gradients for ${this.tasks.length} tasks`);
    const losses = ctx.losses;
    if (!losses) throw new Error('gradnorm needs the step\'s per-task losses');
    const { P, lo, hi } = stackedHeads('gradnorm', stacked, numTasks, shared, out);
    const T = numTasks;
    const view = (t: number) => stacked.subarray(t * P + lo, t * P + hi);
    const norm = Array.from({ length: T }, (_, t) => Math.sqrt(dot32(view(t), view(t))));
    // The shared update with this step's weights.
    this.lastWeights = Float64Array.from(this.w);
    const acc = new Float64Array(hi - lo);
    for (let t = 0; t < T; t++) {
      const g = view(t);
      const wt = this.w[t]!;
      for (let k = 0; k < acc.length; k++) acc[k] += wt * g[k]!;
    }
    for (let k = 0; k < acc.length; k++) out[lo + k] = acc[k]!;
    // Then the weights for the next step.
    const L = this.tasks.map((name) => {
      const v = losses[name];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`gradnorm: no finite loss for task '${name}' at step ${ctx.step}`);
      return v;
    });
    if (!this.initial) this.initial = Float64Array.from(L);
    const ratio = L.map((l, t) => (this.initial![t]! > 0 ? l / this.initial![t]! : 1));
    const meanRatio = ratio.reduce((a, b) => a + b, 0) / T;
    const G = norm.map((n, t) => this.w[t]! * n);
    const meanG = G.reduce((a, b) => a + b, 0) / T;
    for (let t = 0; t < T; t++) {
      const r = meanRatio > 0 ? ratio[t]! / meanRatio : 1;
      const target = meanG * Math.pow(r, this.alpha);
      const grad = Math.sign(G[t]! - target) * norm[t]!;
      this.w[t] = Math.max(this.w[t]! - this.lr * grad, 1e-8);
    }
    const sum = this.w.reduce((a, b) => a + b, 0);
    for (let t = 0; t < T; t++) this.w[t] = (this.w[t]! * T) / sum;
  }

  state(): number[] {
    return [...this.w, ...(this.initial ?? [])];
  }

  loadState(s: number[]): void {
    const T = this.tasks.length;
    if ((s.length !== T && s.length !== 2 * T) || s.some((v) => !Number.isFinite(v))) {
      throw new Error(`gradnorm: a saved state of ${s.length} values does not fit ${T} tasks (expected ${T} or ${2 * T} finite numbers)`);
    }
    this.w.set(s.slice(0, T));
    this.initial = s.length === 2 * T ? Float64Array.from(s.slice(T)) : undefined;
  }
}
