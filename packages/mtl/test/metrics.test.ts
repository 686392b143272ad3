import { describe, expect, it } from 'vitest';
import { AUC_BINS, metricsFor, primaryMetric, type TaskSpec } from '../src';
import { lcg } from './helpers/reference';

const f32 = (a: number[]) => Float32Array.from(a);

function evaluate(task: TaskSpec, pred: number[], labels: number[], mask?: number[]) {
  const m = metricsFor(task);
  const s = new Float64Array(m.stateSize);
  m.accumulate(s, f32(pred), f32(labels), f32(mask ?? labels.map(() => 1)), labels.length);
  return m.finalize(s);
}

/** Exact AUC by pair counting (ties half). */
function pairAuc(scores: number[], labels: number[]): number {
  let num = 0, den = 0;
  scores.forEach((si, i) => scores.forEach((sj, j) => {
    if (labels[i] === 1 && labels[j] === 0) {
      den++;
      num += si > sj ? 1 : si === sj ? 0.5 : 0;
    }
  }));
  return num / den;
}

describe('metrics on known inputs', () => {
  it('regression: mse, mae, r2 with masked rows ignored', () => {
    const r = evaluate({ name: 'r', type: 'regression' }, [1, 2, 4, 100], [1, 3, 2, NaN], [1, 1, 1, 0]);
    expect(r.mse).toBeCloseTo((0 + 1 + 4) / 3, 12);
    expect(r.mae).toBeCloseTo((0 + 1 + 2) / 3, 12);
    // mean y = 2, SST = 1 + 1 + 0 = 2, SSE = 5
    expect(r.r2).toBeCloseTo(1 - 5 / 2, 12);
    expect(r.count).toBe(3);
  });

  it('binary: accuracy, logloss and AUC (equal to pair counting for distinct bins)', () => {
    const p = [0.9, 0.8, 0.3, 0.6, 0.2, 0.05];
    const y = [1, 1, 0, 0, 1, 0];
    const r = evaluate({ name: 'b', type: 'binary' }, p, y);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    const ll = -y.reduce((s, yi, i) => s + (yi ? Math.log(p[i]) : Math.log(1 - p[i])), 0) / 6;
    expect(r.logloss).toBeCloseTo(ll, 6);
    expect(r.auc).toBeCloseTo(pairAuc(p, y), 12);
    expect(r.auc).toBeCloseTo(7 / 9, 12);
    // Same bin => tie, half credit.
    expect(evaluate({ name: 'b', type: 'binary' }, [0.5001, 0.5002], [1, 0]).auc).toBe(0.5);
    expect(evaluate({ name: 'b', type: 'binary' }, [0.7, 0.8], [1, 1]).auc).toBeNaN();
    expect(metricsFor({ name: 'b', type: 'binary' }).stateSize).toBe(3 + 2 * AUC_BINS);
  });

  it('multiclass: accuracy and logloss', () => {
    const pred = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.3, 0.4, 0.3];
    const r = evaluate({ name: 'c', type: 'multiclass:3' }, pred, [0, 1, 1]);
    expect(r.accuracy).toBeCloseTo(2 / 3, 12);
    expect(r.logloss).toBeCloseTo(-(Math.log(0.7) + Math.log(0.3) + Math.log(0.4)) / 3, 6);
  });

  it('primary metrics', () => {
    expect(primaryMetric({ name: 'r', type: 'regression' })).toEqual({ name: 'mse', higherIsBetter: false });
    expect(primaryMetric({ name: 'b', type: 'binary' })).toEqual({ name: 'auc', higherIsBetter: true });
    expect(primaryMetric({ name: 'c', type: 'multiclass:10' })).toEqual({ name: 'accuracy', higherIsBetter: true });
  });
});

describe('sharded accumulate + sum + finalize equals unsharded', () => {
  const r = lcg(99);
  const n = 500;
  const cases: { task: TaskSpec; k: number; label: () => number }[] = [
    { task: { name: 'r', type: 'regression' }, k: 1, label: () => 3 * r() - 1 },
    { task: { name: 'b', type: 'binary' }, k: 1, label: () => (r() < 0.4 ? 1 : 0) },
    { task: { name: 'c', type: 'multiclass:4' }, k: 4, label: () => Math.floor(r() * 4) },
  ];
  for (const { task, k, label } of cases) {
    it(task.type, () => {
      const m = metricsFor(task);
      const labels = Float32Array.from({ length: n }, label);
      const mask = Float32Array.from({ length: n }, () => (r() < 0.1 ? 0 : 1));
      const pred = Float32Array.from({ length: n * k }, () => r());
      const whole = new Float64Array(m.stateSize);
      m.accumulate(whole, pred, labels, mask, n);
      // Three uneven shards (strided would do as well: only the multiset of examples matters).
      const cuts = [0, 123, 124, n];
      const sum = new Float64Array(m.stateSize);
      for (let s = 0; s < 3; s++) {
        const [a, b] = [cuts[s], cuts[s + 1]];
        const st = new Float64Array(m.stateSize);
        m.accumulate(st, pred.slice(a * k, b * k), labels.slice(a, b), mask.slice(a, b), b - a);
        for (let i = 0; i < st.length; i++) sum[i] += st[i];
      }
      const A = m.finalize(whole), B = m.finalize(sum);
      for (const key of Object.keys(A)) expect(B[key]).toBeCloseTo(A[key], 10);
    });
  }
});
