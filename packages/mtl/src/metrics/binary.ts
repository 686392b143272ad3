// Binary: accuracy (threshold 0.5), log loss and AUC. AUC is computed like Keras' AUC
// (ROC, trapezoidal interpolation between thresholds) from per-class histograms of the
// predicted probability over AUC_BINS equal bins: a histogram is a sum, so it merges
// exactly across ranks. Examples whose scores fall in the same bin count as ties (half
// credit), so the result equals the exact ROC AUC of scores rounded down to 1/AUC_BINS.
// AUC is NaN when the labelled set lacks positives or negatives.
import { checkState, clipProb, type TaskMetric } from './base';

export const AUC_BINS = 1000;
const COUNT = 0, CORRECT = 1, LOGLOSS = 2, POS = 3, NEG = 3 + AUC_BINS;
const SIZE = 3 + 2 * AUC_BINS;

function bin(p: number): number {
  const b = Math.floor(p * AUC_BINS);
  return b < 0 || Number.isNaN(b) ? 0 : b >= AUC_BINS ? AUC_BINS - 1 : b;
}

export const binaryMetric: TaskMetric = {
  stateSize: SIZE,
  accumulate(state, pred, labels, mask, n) {
    checkState(state, SIZE);
    for (let i = 0; i < n; i++) {
      const m = mask[i];
      if (m === 0) continue;
      const p = pred[i];
      const positive = labels[i] >= 0.5;
      state[COUNT] += m;
      if ((p >= 0.5) === positive) state[CORRECT] += m;
      const y = labels[i];
      const q = clipProb(p);
      state[LOGLOSS] -= m * (y * Math.log(q) + (1 - y) * Math.log(1 - q));
      state[(positive ? POS : NEG) + bin(p)] += m;
    }
  },
  finalize(state) {
    checkState(state, SIZE);
    const c = state[COUNT];
    if (c === 0) return { accuracy: NaN, auc: NaN, logloss: NaN, count: 0 };
    // Walk thresholds from the highest bin down, adding trapezoids under the ROC curve.
    let tp = 0, fp = 0, area = 0;
    for (let b = AUC_BINS - 1; b >= 0; b--) {
      const dp = state[POS + b], dn = state[NEG + b];
      area += dn * (tp + dp / 2);
      tp += dp;
      fp += dn;
    }
    return {
      accuracy: state[CORRECT] / c,
      auc: tp > 0 && fp > 0 ? area / (tp * fp) : NaN,
      logloss: state[LOGLOSS] / c,
      count: c,
    };
  },
};
