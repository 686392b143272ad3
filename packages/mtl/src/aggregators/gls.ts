// Geometric loss strategy, GLS (Chennupati, Sistu, Yogamani and Rawashdeh, "MultiNet++:
// Multi-Stream Feature Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR
// Workshops 2019): the objective is the geometric mean of the task losses, (prod_t L_t)^(1/T),
// whose gradient is sum_t w_t grad L_t with w_t = (prod L)^(1/T) / (T L_t). It weighs a task by the
// inverse of its loss, so no task's scale dominates. It is applied to every parameter as the
// gradient of the objective is: a head's gradient is its own task's scaled by that task's w_t
// (only that task's loss depends on it), the trunk's is sum_t w_t g_t. Distributed-specific: the
// weights need this step's global mean losses, which exist only after the all-reduce, so GLS takes
// the stacked path (T gradients all-reduced; ctx.losses holds the all-reduced means, identical on
// every rank); every rank computes the same weights in float64 (logarithms summed in task order)
// and the same combination in task order.
//
// Scale: the gradient of T (prod L)^(1/T), T times the paper's objective, so w_t = GM / L_t (GM the
// geometric mean). It stays the exact gradient of an objective (a constant factor changes neither
// the minimisers nor the direction), and it meets the project's convention where the convention has
// a fixed point: with equal losses every weight is 1 and the update is `equal`'s, as T GM is to GM
// what the sum is to the mean. The weights sum to T GM / HM >= T (HM the harmonic mean), T exactly
// when the losses are equal; renormalising them to sum to T every step would divide by a factor
// that changes from step to step and follow the gradient of no objective.
//
// Zero and non-positive losses: the geometric mean's gradient does not exist at a zero loss (the
// weights of the others vanish and its own is infinite). A task whose global mean loss is <= 0
// (no labelled example in the global batch, where the trainer reports 0 and a zero gradient, or a
// loss at its minimum, whose gradient is zero too) is left out of the product: weight 0, and the
// others take the gradient of K (prod L)^(1/K) over the K tasks left. All of them out: every weight
// 0 and a zero update. A loss that is not finite is an error naming the task.
import type { Aggregator, AggregatorContext } from './base';
import { weightedShared } from './vectors';

/** GLS's weights GM / L_t from the global mean losses in task order (0 for a loss <= 0). */
export function glsWeights(losses: ArrayLike<number>): Float64Array {
  const T = losses.length;
  const w = new Float64Array(T);
  let logSum = 0;
  let kept = 0;
  for (let t = 0; t < T; t++) {
    if (losses[t]! > 0) {
      logSum += Math.log(losses[t]!);
      kept++;
    }
  }
  if (kept === 0) return w;
  const logMean = logSum / kept;
  // exp(log GM - log L_t): no product of T losses that could over- or underflow.
  for (let t = 0; t < T; t++) if (losses[t]! > 0) w[t] = Math.exp(logMean - Math.log(losses[t]!));
  return w;
}

export class GlsAggregator implements Aggregator {
  readonly name = 'gls';
  readonly kind = 'stacked' as const;
  /** The weights of the last step (trunk and heads alike), for logs and tests. */
  lastWeights: Float64Array = new Float64Array(0);

  combine(stacked: Float32Array, numTasks: number, _shared: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void {
    const P = out.length;
    if (stacked.length !== numTasks * P) throw new Error(`gls: stacked gradients hold ${stacked.length} values, expected ${numTasks}*${P}`);
    if (ctx.tasks.length !== numTasks) throw new Error(`gls: ${numTasks} stacked gradients for ${ctx.tasks.length} tasks`);
    const losses = ctx.losses;
    if (!losses) throw new Error("gls needs the step's per-task losses");
    const L = ctx.tasks.map(({ name }) => {
      const v = losses[name];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`gls: no finite loss for task '${name}' at step ${ctx.step} (got ${v})`);
      return v;
    });
    const w = glsWeights(L);
    this.lastWeights = w;
    // Every parameter, trunk and heads: sum_t w_t grad L_t (a head's row is non-zero for its own task only).
    weightedShared(stacked, numTasks, P, 0, P, w, out);
  }
}
