// Random loss weighting, RLW (Lin, Ye, Xu, Shi and Zhang, "Reasonable Effectiveness of Random
// Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022), with the paper's normal
// distribution: every step, task weights are the softmax of T standard-normal draws. Scale: the
// softmax is multiplied by T, so the weights sum to T and each averages 1 over the steps, as
// `equal` (all 1), dwa and gradnorm do; the paper's softmax alone sums to 1. Distributed-specific:
// the draws come from a generator seeded by (run seed, step), so every rank, and a run resumed
// from a checkpoint, draws the same weights at the same step with no state and no communication;
// the weights fold into the one fused gradient of the linear path (one all-reduce).
import { createRng } from '../rng';
import type { Aggregator, AggregatorContext } from './base';

/** T standard-normal draws for (seed, step) (Box-Muller), the same on every process. */
export function normalDraws(seed: number, step: number, T: number): Float64Array {
  // A stream of its own per step; the salt keeps it apart from pcgrad's and gradvac's orders.
  const rng = createRng(seed * 1_000_003 + step + 0x52_4c_57);
  const z = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const u1 = 1 - rng(); // (0, 1]: the logarithm stays finite
    const u2 = rng();
    z[t] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return z;
}

/** RLW's weights of one step, T softmax(z), in task order. */
export function rlwWeights(seed: number, step: number, T: number): Float64Array {
  const z = normalDraws(seed, step, T);
  const top = Math.max(...z);
  const e = z.map((x) => Math.exp(x - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => (T * x) / total);
}

export class RlwAggregator implements Aggregator {
  readonly name = 'rlw';
  readonly kind = 'linear' as const;

  constructor(private readonly seed = 0) {
    if (!Number.isFinite(seed)) throw new Error(`rlw seed must be a finite number, got ${seed}`);
  }

  weights(ctx: AggregatorContext): Record<string, number> {
    const w = rlwWeights(this.seed, ctx.step, ctx.tasks.length);
    return Object.fromEntries(ctx.tasks.map((t, k) => [t.name, w[k]!]));
  }
}
