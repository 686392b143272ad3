import { describe, expect, it } from 'vitest';
import { NashMtlAggregator, createAggregator } from '../src/aggregators';
import { randomGrads } from './helpers/gradients';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const gramOf = (gs: number[][]) => gs.map((a) => gs.map((b) => dot(a, b)));

/**
 * The paper's system (G G^T) alpha = 1/alpha, alpha > 0, solved independently of the
 * implementation: it is the stationarity condition of the strictly convex
 * 1/2 a^T M a - sum log a_t, minimised here by exact cyclic coordinate descent (each coordinate
 * solves M_tt a_t^2 + c_t a_t - 1 = 0, c_t = sum_{s != t} M_ts a_s, in closed form) until nothing
 * moves.
 */
function reference(M: number[][]): number[] {
  const T = M.length;
  const a = M.map((row, t) => 1 / Math.sqrt(row[t]!));
  for (let sweep = 0; sweep < 200000; sweep++) {
    let change = 0;
    for (let t = 0; t < T; t++) {
      let c = 0;
      for (let s = 0; s < T; s++) if (s !== t) c += M[t]![s]! * a[s]!;
      const m = M[t]![t]!;
      // The positive root, written to avoid cancellation when c > 0.
      const next = c >= 0 ? 2 / (c + Math.sqrt(c * c + 4 * m)) : (-c + Math.sqrt(c * c + 4 * m)) / (2 * m);
      change = Math.max(change, Math.abs(next - a[t]!) / next);
      a[t] = next;
    }
    if (change < 1e-15) break;
  }
  return a;
}


/** Task-major stacked gradients: the shared range first, then one head parameter per task. */
function stackOf(gs: number[][], heads?: number[]) {
  const T = gs.length;
  const S = gs[0]!.length;
  const P = S + T;
  const stacked = new Float32Array(T * P);
  gs.forEach((g, t) => {
    stacked.set(g, t * P);
    stacked[t * P + S + t] = heads?.[t] ?? t + 1;
  });
  return { stacked, P, S };
}

function run(gs: number[][]) {
  const { stacked, P, S } = stackOf(gs);
  const agg = new NashMtlAggregator();
  const out = new Float32Array(P);
  agg.combine(stacked, gs.length, { offset: 0, size: S }, out, { tasks: tasks(gs.length), step: 0 });
  return { alpha: Array.from(agg.lastWeights), out, S, stacked, P };
}

describe('Nash-MTL', () => {
  for (const T of [1, 2, 3, 4]) {
    it(`T = ${T}: the paper's system solved (residual, positivity), against an independent solver; |update|^2 = T; heads kept`, () => {
      for (let trial = 0; trial < 10; trial++) {
        const gs = randomGrads(T, 8, 300 * T + trial + 1);
        const agg = createAggregator({ name: 'nash' }) as NashMtlAggregator;
        expect(agg.kind).toBe('stacked');
        const { stacked, P, S } = stackOf(gs);
        const out = new Float32Array(P);
        agg.combine(stacked, T, { offset: 0, size: S }, out, { tasks: tasks(T), step: trial });
        const alpha = Array.from(agg.lastWeights);
        const M = gramOf(gs);
        const ref = reference(M);
        for (let t = 0; t < T; t++) {
          expect(alpha[t]).toBeGreaterThan(0);
          expect(Math.abs(alpha[t]! - ref[t]!) / ref[t]!).toBeLessThan(1e-8);
          // The system itself: (M alpha)_t = 1 / alpha_t.
          expect(Math.abs(dot(M[t]!, alpha) * alpha[t]! - 1)).toBeLessThan(1e-8);
        }
        // The update is sum_t alpha_t g_t on the shared range, of squared norm alpha^T M alpha = T.
        const d = gs[0]!.map((_, k) => gs.reduce((s, g, t) => s + alpha[t]! * g[k]!, 0));
        for (let k = 0; k < S; k++) expect(out[k]).toBeCloseTo(d[k]!, 5);
        expect(dot(d, d)).toBeCloseTo(T, 7);
        for (let t = 0; t < T; t++) expect(out[S + t]).toBe(t + 1);
      }
    });
  }

  it('closed forms: one task alpha = 1/|g|, orthogonal gradients alpha_t = 1/|g_t|, identical gradients alpha_t = 1/(sqrt(T)|g|), parallel ones in proportion', () => {
    const one = run([[3, 4]]);
    expect(one.alpha[0]).toBeCloseTo(1 / 5, 10);
    expect(one.out[0]).toBeCloseTo(3 / 5, 6);
    expect(one.out[1]).toBeCloseTo(4 / 5, 6);
    const orth = run([
      [2, 0, 0],
      [0, 0.5, 0],
      [0, 0, 10],
    ]);
    [0.5, 2, 0.1].forEach((a, t) => expect(orth.alpha[t]).toBeCloseTo(a, 9));
    for (const T of [2, 3, 4]) {
      const same = run(Array.from({ length: T }, () => [1, 2, 2]));
      for (const a of same.alpha) expect(a).toBeCloseTo(1 / (Math.sqrt(T) * 3), 8);
      // The update: sqrt(T) times the unit gradient.
      [1, 2, 2].forEach((g, k) => expect(same.out[k]).toBeCloseTo((Math.sqrt(T) * g) / 3, 5));
    }
    // g2 = 2 g1: alpha = (s/2, s/4), s = sqrt(2)/|g1| (maximise log a1 + log a2 on a1 + 2 a2 = s).
    const par = run([
      [0, 3, 4],
      [0, 6, 8],
    ]);
    const s = Math.sqrt(2) / 5;
    expect(par.alpha[0]).toBeCloseTo(s / 2, 8);
    expect(par.alpha[1]).toBeCloseTo(s / 4, 8);
  });

  it('scale-free: gradients times c give alpha / c and the same update', () => {
    const gs = randomGrads(3, 6, 4242);
    const base = run(gs);
    for (const c of [1e-4, 16, 1e5]) {
      const scaled = run(gs.map((g) => g.map((v) => Math.fround(v * c))));
      scaled.alpha.forEach((a, t) => expect((a * c) / base.alpha[t]!).toBeCloseTo(1, 6));
      for (let k = 0; k < base.S; k++) expect(scaled.out[k]).toBeCloseTo(base.out[k]!, 4);
    }
  });

  it('degenerate inputs: zero gradients get weight 0 and the rest bargain alone; anti-parallel and Pareto-stationary gradients give a finite, bounded update; never NaN', () => {
    // A zero gradient (a task without labels in the batch): the other two as if alone.
    const withZero = run([
      [1, 2, 0.5],
      [0, 0, 0],
      [-1, 0, 2],
    ]);
    const alone = run([
      [1, 2, 0.5],
      [-1, 0, 2],
    ]);
    expect(withZero.alpha[1]).toBe(0);
    expect(withZero.alpha[0]).toBeCloseTo(alone.alpha[0]!, 12);
    expect(withZero.alpha[2]).toBeCloseTo(alone.alpha[1]!, 12);
    // All zero: weights 0, shared update 0, heads kept.
    const zero = run([
      [0, 0],
      [0, 0],
    ]);
    expect(zero.alpha).toEqual([0, 0]);
    expect(Array.from(zero.out)).toEqual([0, 0, 1, 2]);
    // Systems without a solution (0 in the convex hull of the gradients): regularised, finite.
    const cases: Array<[string, number[][]]> = [
      ['anti-parallel', [[1, 2, 0.5], [-1, -2, -0.5]]],
      ['anti-parallel, scaled', [[1, 2, 0.5], [-3, -6, -1.5]]],
      ['pareto-stationary', [[1, 0, 0], [0, 1, 0], [-1, -1, 0]]],
      ['identical and opposite', [[1, 1, 1], [1, 1, 1], [-1, -1, -1]]],
    ];
    for (const [name, gs] of cases) {
      const { alpha, out, S } = run(gs);
      expect(alpha.every((a) => Number.isFinite(a) && a > 0), name).toBe(true);
      expect(Array.from(out).every(Number.isFinite), name).toBe(true);
      const d = Array.from(out.subarray(0, S));
      expect(dot(d, d), name).toBeLessThanOrEqual(gs.length + 1e-6);
    }
  });

  it('is deterministic and checks the buffer size', () => {
    const gs = randomGrads(4, 7, 99);
    const a = run(gs);
    const b = run(gs);
    expect(Array.from(a.out)).toEqual(Array.from(b.out));
    expect(a.alpha).toEqual(b.alpha);
    expect(() => new NashMtlAggregator().combine(new Float32Array(5), 2, { offset: 0, size: 1 }, new Float32Array(3), { tasks: tasks(2), step: 0 })).toThrow(/nash: stacked gradients hold 5 values, expected 2\*3/);
  });
});
