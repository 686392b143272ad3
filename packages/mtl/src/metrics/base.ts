// Metrics exact under sharding: each rank accumulates sufficient statistics into a flat
// state vector, ranks SUM the states (all-reduce), then anyone finalizes. Nothing here
// depends on how examples were split between ranks, only on which examples were seen.
// The mask value weights each example (0 = unlabelled, skipped; 1 = labelled).

export interface TaskMetric {
  readonly stateSize: number;
  accumulate(state: Float64Array, pred: Float32Array, labels: Float32Array, mask: Float32Array, n: number): void;
  finalize(state: Float64Array): Record<string, number>;
}

/** Probability clip for log loss (Keras' epsilon), so a confident miss is large but finite. */
export const LOG_EPS = 1e-7;

export function clipProb(p: number): number {
  return p < LOG_EPS ? LOG_EPS : p > 1 - LOG_EPS ? 1 - LOG_EPS : p;
}

export function checkState(state: Float64Array, size: number): void {
  if (state.length !== size) throw new Error(`metric state has length ${state.length}, expected ${size}`);
}
