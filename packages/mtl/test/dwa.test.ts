import { describe, expect, it } from 'vitest';
import { DwaAggregator, createAggregator } from '../src/aggregators';

const tasks = [
  { name: 'a', type: 'regression' as const },
  { name: 'b', type: 'binary' as const },
  { name: 'c', type: 'multiclass:3' as const },
];

/** The formula of Liu et al. / LibMTL written out once more, in float64. */
function expected(prev: number[], last: number[], T: number): number[] {
  const e = last.map((l, k) => Math.exp(l / prev[k]! / T));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((x) => (3 * x) / s);
}

describe('DWA aggregator', () => {
  it('weights every task 1 until two epochs are complete, then K softmax(r / T) of the last two epoch means', () => {
    const dwa = new DwaAggregator(2);
    const epoch = (losses: Array<[number, number, number]>) =>
      losses.forEach(([a, b, c], i) => dwa.observe({ a, b, c }, i === losses.length - 1));
    expect(dwa.weights({ tasks, step: 0 })).toEqual({ a: 1, b: 1, c: 1 });
    epoch([[4, 2, 1], [2, 2, 1]]); // means 3, 2, 1
    expect(dwa.weights({ tasks, step: 2 })).toEqual({ a: 1, b: 1, c: 1 });
    epoch([[1, 2, 1], [2, 2, 0.5], [0, 2, 0.9]]); // means 1, 2, 0.8
    const w = dwa.weights({ tasks, step: 5 });
    const want = expected([3, 2, 1], [1, 2, 0.8], 2);
    expect([w.a, w.b, w.c].map((x) => x!.toFixed(12))).toEqual(want.map((x) => x.toFixed(12)));
    expect(w.a! + w.b! + w.c!).toBeCloseTo(3, 12);
    // The task whose loss fell least (b: ratio 1) gets the largest weight.
    expect(w.b).toBeGreaterThan(w.c!);
    expect(w.c).toBeGreaterThan(w.a!);
    // Mid-epoch steps do not move the weights; the next epoch end does, using only the last two epochs.
    dwa.observe({ a: 10, b: 10, c: 10 }, false);
    expect(dwa.weights({ tasks, step: 6 })).toEqual(w);
    dwa.observe({ a: 0.5, b: 1, c: 0.8 }, true); // means 5.25, 5.5, 5.4
    const w2 = dwa.weights({ tasks, step: 7 });
    const want2 = expected([1, 2, 0.8], [5.25, 5.5, 5.4], 2);
    expect([w2.a, w2.b, w2.c].map((x) => x!.toFixed(12))).toEqual(want2.map((x) => x.toFixed(12)));
  });

  it('a lower temperature sharpens the weights; large ratios do not overflow', () => {
    const run = (T: number, scale: number) => {
      const d = new DwaAggregator(T);
      d.observe({ a: 1, b: 1, c: 1 }, true);
      d.observe({ a: 1 * scale, b: 2 * scale, c: 0.5 * scale }, true);
      return d.weights({ tasks, step: 2 });
    };
    expect(run(0.5, 1).b! - run(0.5, 1).c!).toBeGreaterThan(run(4, 1).b! - run(4, 1).c!);
    const big = run(0.01, 1e6);
    expect(big.b).toBeCloseTo(3, 9);
    expect(Number.isFinite(big.a!) && Number.isFinite(big.c!)).toBe(true);
  });

  it('is made by createAggregator and refuses a bad temperature', () => {
    expect(createAggregator({ name: 'dwa' })).toBeInstanceOf(DwaAggregator);
    expect((createAggregator({ name: 'dwa', temperature: 3 }) as DwaAggregator).temperature).toBe(3);
    expect(() => new DwaAggregator(0)).toThrow(/dwa temperature must be a positive number, got 0/);
  });
});
