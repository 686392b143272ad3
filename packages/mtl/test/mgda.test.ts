import { describe, expect, it } from 'vitest';
import { MgdaAggregator, createAggregator } from '../src/aggregators';
import { minNormWeights } from '../src/aggregators/mgda';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const gram = (gs: number[][]) => Float64Array.from(gs.flatMap((a) => gs.map((b) => a.reduce((s, x, i) => s + x * b[i]!, 0))));
const combine = (gs: number[][], alpha: ArrayLike<number>) => gs[0]!.map((_, i) => gs.reduce((s, g, t) => s + alpha[t]! * g[i]!, 0));
const norm2 = (v: number[]) => v.reduce((s, x) => s + x * x, 0);

describe('MGDA min-norm weights', () => {
  it('two tasks: the closed form (orthogonal unit gradients meet halfway; a dominated direction is dropped)', () => {
    expect(Array.from(minNormWeights(gram([[1, 0], [0, 1]]), 2))).toEqual([0.5, 0.5]);
    const a = minNormWeights(gram([[1, 0], [3, 0]]), 2);
    expect(Array.from(a)).toEqual([1, 0]);
    // g1 = (2, 0), g2 = (0, 1): alpha_1 = 1/5 gives the point (0.4, 0.8) of norm^2 0.8.
    const b = minNormWeights(gram([[2, 0], [0, 1]]), 2);
    expect(b[0]).toBeCloseTo(0.2, 12);
    expect(norm2(combine([[2, 0], [0, 1]], b))).toBeCloseTo(0.8, 12);
  });

  it('more tasks: a point of the simplex satisfying the optimality condition, no worse than a fine grid', () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let trial = 0; trial < 20; trial++) {
      const gs = Array.from({ length: 3 }, () => Array.from({ length: 5 }, rnd));
      const alpha = minNormWeights(gram(gs), 3);
      expect(alpha.every((x) => x >= 0)).toBe(true);
      expect(alpha.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
      const theta = combine(gs, alpha);
      const n2 = norm2(theta);
      // Optimality on the hull: no task gradient has a smaller inner product with theta than |theta|^2.
      for (const g of gs) expect(g.reduce((s, x, i) => s + x * theta[i]!, 0)).toBeGreaterThanOrEqual(n2 - 1e-4 * Math.max(1, n2));
      let best = Infinity;
      for (let i = 0; i <= 100; i++) for (let j = 0; i + j <= 100; j++) best = Math.min(best, norm2(combine(gs, [i / 100, j / 100, (100 - i - j) / 100])));
      expect(n2).toBeLessThanOrEqual(best + 1e-9);
    }
  });

  it('beyond 12 tasks (Frank-Wolfe): close to optimal', () => {
    let seed = 11;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const gs = Array.from({ length: 14 }, () => Array.from({ length: 4 }, rnd));
    const alpha = minNormWeights(gram(gs), 14);
    expect(alpha.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9);
    const theta = combine(gs, alpha);
    const n2 = norm2(theta);
    for (const g of gs) expect(g.reduce((s, x, i) => s + x * theta[i]!, 0)).toBeGreaterThanOrEqual(n2 - 1e-3);
  });

  it('combines the shared range with the weights, keeps each head, and is deterministic', () => {
    // P = 4: 0-1 shared; 2 head of t0; 3 head of t1.
    const stacked = Float32Array.from([1, 0, 5, 0, /* t1 */ 0, 1, 0, 7]);
    const out = new Float32Array(4);
    const agg = createAggregator({ name: 'mgda' }) as MgdaAggregator;
    expect(agg.kind).toBe('stacked');
    agg.combine(stacked, 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    expect(Array.from(out)).toEqual([0.5, 0.5, 5, 7]);
    expect(Array.from(agg.lastWeights)).toEqual([0.5, 0.5]);
    const again = new Float32Array(4);
    agg.combine(stacked, 2, { offset: 0, size: 2 }, again, { tasks: tasks(2), step: 1 });
    expect(Array.from(again)).toEqual(Array.from(out));
    expect(() => agg.combine(new Float32Array(3), 2, { offset: 0, size: 1 }, new Float32Array(2), { tasks: tasks(2), step: 0 })).toThrow(/mgda: stacked gradients hold 3 values, expected 2\*2/);
  });
});
