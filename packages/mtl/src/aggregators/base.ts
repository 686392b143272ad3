// Aggregators turn per-task trunk gradients into one update (LibMTL's "weighting").
// linear: every rank computes the same task weights from all-reduced statistics and the
//   model folds them into one fused gradient (one all-reduce).
// stacked: the T per-task gradients are all-reduced as one stacked buffer, then combine()
//   runs the same deterministic surgery on every rank.
import type { TaskSpec } from '../types';

export interface AggregatorContext {
  tasks: TaskSpec[];
  step: number;
  lossHistory?: Record<string, number[]>;
  /** stacked: this step's global per-task mean losses (for weightings that use them: GradNorm, GLS). */
  losses?: Record<string, number>;
}

export interface Aggregator {
  readonly name: string;
  readonly kind: 'linear' | 'stacked';
  weights?(ctx: AggregatorContext): Record<string, number>;
  /**
   * Stateful weightings (DWA): after every step, the global per-task mean training losses of that
   * step, identical on every rank, and whether it ended an epoch. A resumed run replays the steps
   * before its checkpoint from metrics.jsonl, so the state never needs a checkpoint of its own.
   */
  observe?(losses: Record<string, number>, epochEnd: boolean): void;
  /**
   * stacked: `stacked` holds each task's global mean gradient, task-major ([numTasks][P], P =
   * out.length); write the combined gradient into `out`. `shared` is the range of the parameters
   * every task shares (the trunk); the rest belongs to one head each.
   */
  combine?(stacked: Float32Array, numTasks: number, shared: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void;
  /**
   * State that the losses alone cannot rebuild (GradNorm's weights and GradVac's cosine targets
   * follow the gradients): saved with every checkpoint and handed back on resume and on an elastic
   * re-form, identical on every rank. An aggregator with loadState() refuses a checkpoint without it.
   */
  state?(): number[];
  loadState?(s: number[]): void;
  /**
   * stacked: the task weights the last combine() gave the shared gradient, in task order, where it
   * has them (MGDA, CAGrad, GradNorm, IMTL-G, Aligned-MTL, GradVac, GLS, Nash-MTL, FairGrad): for
   * all but CAGrad the shared gradient is sum_t lastWeights[t] g_t (GLS scales the heads too).
   */
  readonly lastWeights?: Float64Array;
}
