import { describe, expect, it } from 'vitest';
import { RlwAggregator, createAggregator } from '../src/aggregators';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const weightsAt = (agg: RlwAggregator | ReturnType<typeof createAggregator>, T: number, step: number) => {
  const w = agg.weights!({ tasks: tasks(T), step });
  return tasks(T).map((t) => w[t.name]!);
};

describe('RLW', () => {
  it('is linear; positive weights summing to T at every step', () => {
    for (const T of [1, 2, 3, 4]) {
      const agg = createAggregator({ name: 'rlw', seed: 42 });
      expect(agg.kind).toBe('linear');
      for (let step = 0; step < 200; step++) {
        const w = weightsAt(agg, T, step);
        expect(w.every((x) => x > 0 && Number.isFinite(x))).toBe(true);
        expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(T, 12);
      }
    }
    expect(weightsAt(new RlwAggregator(1), 1, 5)).toEqual([1]);
  });

  it('the same (seed, step) gives the same weights on any instance (every rank, a resumed run); other steps and seeds differ', () => {
    const a = new RlwAggregator(7);
    const b = new RlwAggregator(7);
    // b sees the steps in another order, as a run resumed at step 50 would.
    for (let step = 99; step >= 0; step--) expect(weightsAt(b, 3, step)).toEqual(weightsAt(a, 3, step));
    const seen = new Set<string>();
    for (let step = 0; step < 100; step++) seen.add(JSON.stringify(weightsAt(a, 3, step)));
    expect(seen.size).toBe(100);
    expect(weightsAt(new RlwAggregator(8), 3, 10)).not.toEqual(weightsAt(a, 3, 10));
  });

  it('over many steps: each weight averages 1 (uniform), and log(w_i / w_j) is the difference of two standard normals, N(0, 2)', () => {
    const T = 4;
    const N = 20000;
    const agg = new RlwAggregator(3);
    const sum = new Array(T).fill(0);
    let m = 0;
    let m2 = 0;
    for (let step = 0; step < N; step++) {
      const w = weightsAt(agg, T, step);
      w.forEach((x, t) => (sum[t] += x));
      const l = Math.log(w[0]! / w[1]!);
      m += l;
      m2 += l * l;
    }
    for (const s of sum) expect(Math.abs(s / N - 1)).toBeLessThan(0.03);
    const mean = m / N;
    const variance = m2 / N - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 2)).toBeLessThan(0.1);
  });

  it('refuses a non-finite seed', () => {
    expect(() => new RlwAggregator(Number.NaN)).toThrow(/rlw seed must be a finite number/);
  });
});
