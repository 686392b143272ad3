// FairGrad (Ban and Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024), on the
// shared parameters: the update d = sum_t w_t g_t maximises the alpha-fair utility
// sum_t (g_t . d)^(1-alpha) / (1-alpha) (log for alpha = 1) over a ball, which the paper reduces to
//   (G G^T) w = w^(-1/alpha)   elementwise,   w > 0.
// alpha = 1 is proportional fairness, Nash-MTL's system; alpha -> 0 tends to equal weights, large
// alpha towards max-min fairness (the same g_t . d for every task). The system is solved directly
// by damped Newton on the equivalent convex problem (fair-system.ts: float64, Cholesky, positivity
// safeguard, to steps below 1e-12 relative or float64's rounding, at most 100 iterations). Each
// head keeps its own task's gradient. Degenerate gradients as in nash.ts: a zero one gets weight 0,
// and a 1e-10 relative diagonal regularisation gives a finite solution where none exists.
// Distributed-specific: the g_t are the all-reduced global means, identical on every rank, and
// every rank solves the same T x T system from their Gram matrix in float64 in a fixed order with
// a deterministic stopping rule, so all find the same w.
//
// alpha is limited to [0.01, 10], the range the solver is tested on (beyond 10 the weights can
// span more orders of magnitude than float64 holds).
//
// Scale: the paper's, the solution of the system itself (w^T G G^T w = sum_t w_t^(1-1/alpha)); the
// weights sum to no fixed value, as Nash-MTL's, MGDA's and Aligned-MTL's.
import type { Aggregator, AggregatorContext } from './base';
import { solveFairSystem } from './fair-system';
import { combineByGram } from './vectors';

/**
 * The alphas the solver is tested for: beyond 10 the weights of the solution can span more orders
 * of magnitude than float64 holds (fair-system.ts); near 0 FairGrad is equal weighting anyway.
 */
export const FAIRGRAD_ALPHA_MIN = 0.01;
export const FAIRGRAD_ALPHA_MAX = 10;

/** FairGrad's w from the Gram matrix `G` (T x T, row-major) of the task gradients. */
export function fairGradWeights(G: Float64Array, T: number, alpha: number): Float64Array {
  return solveFairSystem(G, T, 1 / alpha).weights;
}

export class FairGradAggregator implements Aggregator {
  readonly name = 'fairgrad';
  readonly kind = 'stacked' as const;
  /** The weights of the g_t in the last step's shared gradient (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  constructor(readonly alpha = 1) {
    if (!(alpha >= FAIRGRAD_ALPHA_MIN && alpha <= FAIRGRAD_ALPHA_MAX)) throw new Error(`fairgrad alpha must be a number in [${FAIRGRAD_ALPHA_MIN}, ${FAIRGRAD_ALPHA_MAX}], got ${alpha}`);
  }

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    this.lastWeights = combineByGram('fairgrad', stacked, numTasks, shared, out, (G) => fairGradWeights(G, numTasks, this.alpha));
  }
}
