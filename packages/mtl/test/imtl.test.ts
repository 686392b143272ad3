import { describe, expect, it } from 'vitest';
import { ImtlAggregator, createAggregator } from '../src/aggregators';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

/** Determinant by cofactor expansion (m <= 3 here). */
function det(A: number[][]): number {
  if (A.length === 1) return A[0]![0]!;
  return A[0]!.reduce((s, a, j) => s + (j % 2 ? -1 : 1) * a * det(A.slice(1).map((r) => r.filter((_, k) => k !== j))), 0);
}

/**
 * The paper's closed form in float64 on explicit vectors, solved by Cramer's rule:
 * alpha_{2..T} = g_1 U^T (D U^T)^{-1}, alpha_1 = 1 - sum; the alphas sum to 1.
 */
function reference(gs: number[][]): number[] {
  const T = gs.length;
  const u = gs.map((g) => g.map((x) => x / norm(g)));
  const D = gs.slice(1).map((g) => gs[0]!.map((x, k) => x - g[k]!));
  const U = u.slice(1).map((v) => u[0]!.map((x, k) => x - v[k]!));
  const DU = D.map((d) => U.map((w) => dot(d, w))); // (D U^T)[r][c]
  const b = U.map((w) => dot(gs[0]!, w)); // g_1 U^T
  // x (D U^T) = b  <=>  (D U^T)^T x^T = b^T
  const At = DU[0]!.map((_, c) => DU.map((row) => row[c]!));
  const d0 = det(At);
  const x = b.map((_, i) => det(At.map((row, r) => row.map((v, c) => (c === i ? b[r]! : v)))) / d0);
  return [1 - x.reduce((s, v) => s + v, 0), ...x];
}

function randomCase(T: number, shared: number, seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  // P = shared + T: parameter shared + t is task t's head.
  const P = shared + T;
  const stacked = new Float32Array(T * P);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < shared; k++) stacked[t * P + k] = rnd();
    stacked[t * P + shared + t] = rnd();
  }
  const gs = Array.from({ length: T }, (_, t) => Array.from(stacked.subarray(t * P, t * P + shared)));
  return { P, stacked, gs };
}

describe('IMTL-G', () => {
  for (const T of [2, 3, 4]) {
    it(`T = ${T}: the paper's weights (scaled to sum to T), equal projections on every unit gradient, heads kept`, () => {
      for (let trial = 0; trial < 10; trial++) {
        const shared = 6;
        const { P, stacked, gs } = randomCase(T, shared, 100 * T + trial + 1);
        const agg = createAggregator({ name: 'imtl' }) as ImtlAggregator;
        expect(agg.kind).toBe('stacked');
        const out = new Float32Array(P);
        agg.combine(stacked, T, { offset: 0, size: shared }, out, { tasks: tasks(T), step: trial });
        const ref = reference(gs);
        const w = Array.from(agg.lastWeights);
        expect(w).toHaveLength(T);
        for (let t = 0; t < T; t++) expect(w[t]).toBeCloseTo(T * ref[t]!, 8);
        expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(T, 10);
        // The shared update is sum_t w_t g_t.
        for (let k = 0; k < shared; k++) expect(out[k]).toBeCloseTo(gs.reduce((s, g, t) => s + T * ref[t]! * g[k]!, 0), 4);
        // Each head keeps its own task's gradient.
        for (let t = 0; t < T; t++) expect(out[shared + t]).toBe(stacked[t * P + shared + t]);
        // The paper's defining property: d . u_t is the same for every task.
        const d = Array.from(out.subarray(0, shared));
        const proj = gs.map((g) => dot(d, g) / norm(g));
        for (const p of proj) expect(Math.abs(p - proj[0]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(proj[0]!)));
      }
    });
  }

  it('two tasks: the closed form alpha = (|g2|, |g1|) / (|g1| + |g2|) (times T), so the projections are equal', () => {
    // g1 = (3, 4) (norm 5), g2 = (1, 0) (norm 1).
    const stacked = Float32Array.from([3, 4, /* t1 */ 1, 0]);
    const out = new Float32Array(2);
    const agg = new ImtlAggregator();
    agg.combine(stacked, 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    expect(agg.lastWeights[0]).toBeCloseTo((2 * 1) / 6, 12);
    expect(agg.lastWeights[1]).toBeCloseTo((2 * 5) / 6, 12);
    // d = (1/3)(3,4) + (5/3)(1,0) = (8/3, 4/3): d.u1 = (8 + 16/3)/5 = 8/3 = d.u2
    expect(out[0]).toBeCloseTo(8 / 3, 6);
    expect(out[1]).toBeCloseTo(4 / 3, 6);
  });

  it('one task, identical, parallel or zero gradients: equal weights (weight 1 each), never NaN', () => {
    const agg = new ImtlAggregator();
    const one = new Float32Array(3);
    agg.combine(Float32Array.from([1, 2, 3]), 1, { offset: 0, size: 2 }, one, { tasks: tasks(1), step: 0 });
    expect(Array.from(one)).toEqual([1, 2, 3]);
    expect(Array.from(agg.lastWeights)).toEqual([1]);
    const cases: Array<[string, number[][]]> = [
      ['identical', [[1, 2, 0.5], [1, 2, 0.5], [-1, 0, 2]]],
      ['parallel', [[1, 2, 0.5], [2, 4, 1], [-1, 0, 2]]],
      ['zero', [[1, 2, 0.5], [0, 0, 0], [-1, 0, 2]]],
      ['all zero', [[0, 0, 0], [0, 0, 0], [0, 0, 0]]],
    ];
    for (const [name, gs] of cases) {
      const out = new Float32Array(3);
      agg.combine(Float32Array.from(gs.flat()), 3, { offset: 0, size: 3 }, out, { tasks: tasks(3), step: 0 });
      expect(Array.from(agg.lastWeights), name).toEqual([1, 1, 1]);
      expect(Array.from(out), name).toEqual([0, 1, 2].map((k) => Math.fround(gs.reduce((s, g) => s + g[k]!, 0))));
    }
  });

  it('is deterministic and checks the buffer size', () => {
    const { P, stacked } = randomCase(3, 5, 9);
    const a = new Float32Array(P);
    const b = new Float32Array(P);
    new ImtlAggregator().combine(stacked, 3, { offset: 0, size: 5 }, a, { tasks: tasks(3), step: 0 });
    new ImtlAggregator().combine(stacked, 3, { offset: 0, size: 5 }, b, { tasks: tasks(3), step: 7 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(() => new ImtlAggregator().combine(new Float32Array(5), 2, { offset: 0, size: 1 }, new Float32Array(3), { tasks: tasks(2), step: 0 })).toThrow(/imtl: stacked gradients hold 5 values, expected 2\*3/);
  });
});
