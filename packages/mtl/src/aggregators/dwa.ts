// Dynamic Weight Average (Liu, Johns and Davison, "End-to-End Multi-Task Learning with
// Attention", CVPR 2019), as LibMTL computes it: from the third epoch on, task k's weight is
//   w_k = K * exp(r_k / T) / sum_j exp(r_j / T),   r_k = L_k(e-1) / L_k(e-2)
// where L_k(e) is task k's training loss averaged over the steps of epoch e; before that every
// weight is 1. Distributed, the losses it sees are the all-reduced global losses, identical on
// every rank, so every rank derives the same weights.
import type { Aggregator, AggregatorContext } from './base';

export class DwaAggregator implements Aggregator {
  readonly name = 'dwa';
  readonly kind = 'linear' as const;
  readonly temperature: number;
  /** Epoch means of the last two completed epochs per task, oldest first. */
  private readonly means = new Map<string, number[]>();
  private readonly sums = new Map<string, number>();
  private steps = 0;

  constructor(temperature = 2) {
    if (!Number.isFinite(temperature) || temperature <= 0) throw new Error(`dwa temperature must be a positive number, got ${temperature}`);
    this.temperature = temperature;
  }

  weights(ctx: AggregatorContext): Record<string, number> {
    const w: Record<string, number> = {};
    const ready = ctx.tasks.every((t) => (this.means.get(t.name)?.length ?? 0) >= 2);
    if (!ready) {
      for (const t of ctx.tasks) w[t.name] = 1;
      return w;
    }
    const r = ctx.tasks.map((t) => {
      const [older, last] = this.means.get(t.name)!;
      return last! / older!;
    });
    // softmax(r / T), shifted by the largest term so no exp overflows
    const top = Math.max(...r.map((x) => x / this.temperature));
    const e = r.map((x) => Math.exp(x / this.temperature - top));
    const total = e.reduce((a, b) => a + b, 0);
    ctx.tasks.forEach((t, k) => (w[t.name] = (ctx.tasks.length * e[k]!) / total));
    return w;
  }

  observe(losses: Record<string, number>, epochEnd: boolean): void {
    for (const [task, loss] of Object.entries(losses)) this.sums.set(task, (this.sums.get(task) ?? 0) + loss);
    this.steps++;
    if (!epochEnd) return;
    for (const [task, sum] of this.sums) {
      const m = this.means.get(task) ?? [];
      m.push(sum / this.steps);
      if (m.length > 2) m.shift();
      this.means.set(task, m);
    }
    this.sums.clear();
    this.steps = 0;
  }
}
