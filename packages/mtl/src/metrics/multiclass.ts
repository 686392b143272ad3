// Multiclass: accuracy (argmax, first maximum wins ties) and log loss from [count, correct, Σ -log p_y].
import { checkState, clipProb, type TaskMetric } from './base';

export function multiclassMetric(k: number): TaskMetric {
  return {
    stateSize: 3,
    accumulate(state, pred, labels, mask, n) {
      checkState(state, 3);
      for (let i = 0; i < n; i++) {
        const m = mask[i];
        if (m === 0) continue;
        const row = i * k;
        let best = 0;
        for (let j = 1; j < k; j++) if (pred[row + j] > pred[row + best]) best = j;
        const y = labels[i];
        state[0] += m;
        if (best === y) state[1] += m;
        state[2] -= m * Math.log(clipProb(pred[row + y] ?? 0));
      }
    },
    finalize(state) {
      checkState(state, 3);
      const c = state[0];
      if (c === 0) return { accuracy: NaN, logloss: NaN, count: 0 };
      return { accuracy: state[1] / c, logloss: state[2] / c, count: c };
    },
  };
}
