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
}

export interface Aggregator {
  readonly name: string;
  readonly kind: 'linear' | 'stacked';
  weights?(ctx: AggregatorContext): Record<string, number>;
  /** stacked: task-major [numTasks][...]; combine `segment` of each task into `out` (same segment). */
  combine?(stacked: Float32Array, numTasks: number, segment: { offset: number; size: number }, out: Float32Array, ctx: AggregatorContext): void;
}
