// Regression: mse, mae and r2 from the sums [count, Σy, Σy², Σ(ŷ-y)², Σ|ŷ-y|].
import { checkState, type TaskMetric } from './base';

const COUNT = 0, SUM_Y = 1, SUM_Y2 = 2, SUM_E2 = 3, SUM_AE = 4;

export const regressionMetric: TaskMetric = {
  stateSize: 5,
  accumulate(state, pred, labels, mask, n) {
    checkState(state, 5);
    for (let i = 0; i < n; i++) {
      const m = mask[i];
      if (m === 0) continue;
      const y = labels[i];
      const e = pred[i] - y;
      state[COUNT] += m;
      state[SUM_Y] += m * y;
      state[SUM_Y2] += m * y * y;
      state[SUM_E2] += m * e * e;
      state[SUM_AE] += m * Math.abs(e);
    }
  },
  finalize(state) {
    checkState(state, 5);
    const c = state[COUNT];
    if (c === 0) return { mse: NaN, mae: NaN, r2: NaN, count: 0 };
    // Total sum of squares about the mean; r2 is undefined (NaN) for constant targets.
    const sst = state[SUM_Y2] - (state[SUM_Y] * state[SUM_Y]) / c;
    return {
      mse: state[SUM_E2] / c,
      mae: state[SUM_AE] / c,
      r2: sst > 0 ? 1 - state[SUM_E2] / sst : NaN,
      count: c,
    };
  },
};
