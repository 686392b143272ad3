// Uncertainty weighting (Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
// Losses", CVPR 2018), as LibMTL implements it: a learned log-scale s_k per task, the objective
//   sum_k L_k / (2 exp(s_k)) + s_k / 2,   s_k starting at -0.5,
// so task k's gradient is weighted by 1 / (2 exp(s_k)), and s is trained by the run's optimizer
// with d/ds_k = 1/2 - L_k / (2 exp(s_k)). The L_k are the step's global, all-reduced losses, the
// same on every rank, so every rank updates s identically (no extra communication), and a resumed
// run recovers s by replaying the losses of the steps before its checkpoint.
import { createOptimizer, type Optimizer, type OptimizerSpec } from '../optimizers';
import type { Aggregator, AggregatorContext } from './base';

export const UW_INIT = -0.5;

export class UwAggregator implements Aggregator {
  readonly name = 'uw';
  readonly kind = 'linear' as const;
  private readonly s: Float32Array;
  private readonly optimizer: Optimizer;

  /** `tasks`: the run's task names, in order; `optimizer`: the run's optimizer, which trains s too. */
  constructor(private readonly tasks: string[], spec: OptimizerSpec) {
    if (!tasks.length) throw new Error('uw aggregator needs at least one task');
    this.s = new Float32Array(tasks.length).fill(UW_INIT);
    this.optimizer = createOptimizer([{ offset: 0, size: tasks.length, spec }]);
  }

  /** The current log-scales, by task (for logs and tests). */
  logScales(): Record<string, number> {
    return Object.fromEntries(this.tasks.map((n, k) => [n, this.s[k]!]));
  }

  weights(ctx: AggregatorContext): Record<string, number> {
    const w: Record<string, number> = {};
    for (const t of ctx.tasks) {
      const k = this.tasks.indexOf(t.name);
      if (k < 0) throw new Error(`uw aggregator has no log-scale for task '${t.name}'`);
      w[t.name] = 1 / (2 * Math.exp(this.s[k]!));
    }
    return w;
  }

  observe(losses: Record<string, number>): void {
    const g = new Float32Array(this.tasks.length);
    this.tasks.forEach((n, k) => (g[k] = 0.5 - (losses[n] ?? 0) / (2 * Math.exp(this.s[k]!))));
    this.optimizer.step(this.s, g);
  }
}
