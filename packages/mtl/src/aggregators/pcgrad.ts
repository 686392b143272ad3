// PCGrad, gradient surgery (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020),
// on the shared parameters as LibMTL applies it: each task's gradient, going through the tasks in
// an order shuffled afresh for it, loses its component along every task's original gradient it
// conflicts with (negative dot product; divided by |g_j|^2 + 1e-8); the shared update is the sum
// of the projected gradients. Each head keeps its own task's gradient. Distributed, the per-task gradients are the all-reduced global
// means, identical on every rank, and the order is drawn from (seed, step), so every rank
// computes the same update.
import { createRng } from '../rng';
import type { Aggregator, AggregatorContext } from './base';
import { dot32, dot64, stackedHeads } from './vectors';

export class PcGradAggregator implements Aggregator {
  readonly name = 'pcgrad';
  readonly kind = 'stacked' as const;

  constructor(private readonly seed = 0) {}

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void {
    const { P, lo, hi } = stackedHeads('pcgrad', stacked, numTasks, shared, out);
    const view = (t: number) => stacked.subarray(t * P + lo, t * P + hi);
    // Dot products in float64, always in the same order, so every rank gets the same bits.
    const norms = Array.from({ length: numTasks }, (_, t) => dot32(view(t), view(t)));
    const rng = createRng(this.seed * 1_000_003 + ctx.step);
    const pc = new Float64Array(hi - lo);
    for (let i = 0; i < numTasks; i++) {
      const gi = view(i);
      for (let k = 0; k < pc.length; k++) pc[k] = gi[k]!;
      for (const j of shuffled(numTasks, rng)) {
        const gj = view(j);
        const d = dot64(pc, gj);
        if (d >= 0) continue;
        const c = d / (norms[j]! + 1e-8);
        for (let k = 0; k < pc.length; k++) pc[k] -= c * gj[k]!;
      }
      for (let k = 0; k < pc.length; k++) out[lo + k] += pc[k]!;
    }
  }
}

/** Fisher-Yates over 0..n-1 from the given uniform source (GradVac shares it). */
export function shuffled(n: number, rng: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

