// Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya, "Multi-Task Learning
// as a Bargaining Game", ICML 2022), on the shared parameters: the update d = sum_t alpha_t g_t is
// the Nash bargaining solution among the tasks, characterised in the paper by
//   (G G^T) alpha = 1 / alpha   elementwise,   alpha > 0,
// i.e. every task's utility g_t . d equals 1 / alpha_t. The paper approximates it by a sequence of
// convex programs; here the system is solved directly by damped Newton (fair-system.ts: float64,
// Cholesky, positivity safeguard, to steps below 1e-12 relative or float64's rounding, at most 100
// iterations). Each head keeps its own task's gradient. Degenerate gradients: a zero one gets
// weight 0 and the others bargain among themselves; where no solution exists (anti-parallel
// gradients) a 1e-10 relative diagonal regularisation picks a finite one, so no NaN.
// Distributed-specific: the g_t are the all-reduced global means, identical on every rank, and
// every rank solves the same T x T system from their Gram matrix in float64 in a fixed order with
// a deterministic stopping rule, so all find the same alpha.
//
// Scale: the paper's, the solution of the system itself. Then alpha^T G G^T alpha = T: the shared
// update has norm sqrt(T) whatever the gradients' scale (sqrt of the number of tasks with a
// non-zero gradient; a little less where the regularisation acts), so the weights sum to no fixed
// value, as MGDA's and Aligned-MTL's.
import type { Aggregator, AggregatorContext } from './base';
import { solveFairSystem } from './fair-system';
import { combineByGram } from './vectors';

/** Nash-MTL's alpha from the Gram matrix `G` (T x T, row-major) of the task gradients. */
export function nashWeights(G: Float64Array, T: number): Float64Array {
  return solveFairSystem(G, T, 1).weights;
}

export class NashMtlAggregator implements Aggregator {
  readonly name = 'nash';
  readonly kind = 'stacked' as const;
  /** The weights of the g_t in the last step's shared gradient (for logs and tests). */
  lastWeights: Float64Array = new Float64Array(0);

  combine(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, _ctx: AggregatorContext): void {
    this.lastWeights = combineByGram('nash', stacked, numTasks, shared, out, (G) => nashWeights(G, numTasks));
  }
}
