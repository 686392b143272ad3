import { describe, expect, it } from 'vitest';
import { CaGradAggregator, createAggregator } from '../src/aggregators';
import { cagradWeights, projectSimplex } from '../src/aggregators/cagrad';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const gram = (gs: number[][]) => Float64Array.from(gs.flatMap((a) => gs.map((b) => a.reduce((s, x, i) => s + x * b[i]!, 0))));

describe('CAGrad', () => {
  it('projects onto the simplex', () => {
    expect(Array.from(projectSimplex(Float64Array.of(0.2, 0.3, 0.5)))).toEqual([0.2, 0.3, 0.5]);
    expect(Array.from(projectSimplex(Float64Array.of(2, 0, 0)))).toEqual([1, 0, 0]);
    const p = projectSimplex(Float64Array.of(0.9, 0.6, -1));
    expect(p[0]).toBeCloseTo(0.65, 12);
    expect(p[1]).toBeCloseTo(0.35, 12);
    expect(p[2]).toBe(0);
  });

  it('two orthogonal gradients of equal norm: symmetric weights, the mean scaled by (1 + alpha|g0|/|g0|) / (1 + alpha^2)', () => {
    // P = 4: 0-1 shared; 2 head of t0; 3 head of t1.
    const stacked = Float32Array.from([1, 0, 5, 0, /* t1 */ 0, 1, 0, 7]);
    const out = new Float32Array(4);
    const agg = createAggregator({ name: 'cagrad' }) as CaGradAggregator;
    agg.combine(stacked, 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    expect(agg.lastWeights[0]).toBeCloseTo(0.5, 9);
    // mean (0.5, 0.5); c = 0.5 |mean|, so lambda = 0.5 and g = 1.5 mean / 1.25 = (0.6, 0.6)
    expect(out[0]).toBeCloseTo(0.6, 6);
    expect(out[1]).toBeCloseTo(0.6, 6);
    expect([out[2], out[3]]).toEqual([5, 7]);
  });

  it('finds the minimum over the simplex (no grid point lower) and alpha = 0 is the plain mean', () => {
    let seed = 5;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let trial = 0; trial < 10; trial++) {
      const gs = Array.from({ length: 3 }, () => Array.from({ length: 6 }, rnd));
      const G = gram(gs);
      const c = 0.4;
      const obj = (x: number[]) => {
        let lin = 0, q = 0;
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
          lin += (x[a]! * G[a * 3 + b]!) / 3;
          q += x[a]! * x[b]! * G[a * 3 + b]!;
        }
        return lin + c * Math.sqrt(q + 1e-8);
      };
      const x = Array.from(cagradWeights(G, 3, c));
      expect(x.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 9);
      let best = Infinity;
      for (let i = 0; i <= 100; i++) for (let j = 0; i + j <= 100; j++) best = Math.min(best, obj([i / 100, j / 100, (100 - i - j) / 100]));
      expect(obj(x)).toBeLessThanOrEqual(best + 1e-9);
    }
    const stacked = Float32Array.from([1, 2, -3, 0.5]);
    const out = new Float32Array(2);
    new CaGradAggregator(0).combine(stacked, 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    expect(out[0]).toBeCloseTo(-1, 6);
    expect(out[1]).toBeCloseTo(1.25, 6);
    expect(() => new CaGradAggregator(-1)).toThrow(/cagrad alpha must be a number >= 0, got -1/);
  });
});
