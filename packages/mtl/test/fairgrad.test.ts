import { describe, expect, it } from 'vitest';
import { FairGradAggregator, NashMtlAggregator, createAggregator } from '../src/aggregators';
import { MAX_ITER, solveFairSystem } from '../src/aggregators/fair-system';
import { randomGrads } from './helpers/gradients';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const gramOf = (gs: number[][]) => gs.map((a) => gs.map((b) => dot(a, b)));

/**
 * The paper's system (G G^T) w = w^(-1/alpha), w > 0, solved independently of the
 * implementation: exact cyclic coordinate descent on the convex function whose stationarity
 * condition it is; each coordinate solves M_tt w_t + c_t = w_t^(-1/alpha) (c_t = sum_{s != t}
 * M_ts w_s; the left side increases and the right decreases in w_t) by bisection on log w_t.
 */
function reference(M: number[][], alpha: number): number[] {
  const T = M.length;
  const p = 1 / alpha;
  const w = new Array(T).fill(1);
  for (let sweep = 0; sweep < 100000; sweep++) {
    let change = 0;
    for (let t = 0; t < T; t++) {
      let c = 0;
      for (let s = 0; s < T; s++) if (s !== t) c += M[t]![s]! * w[s]!;
      const phi = (lw: number) => M[t]![t]! * Math.exp(lw) + c - Math.exp(-p * lw);
      let lo = -60;
      let hi = 60;
      for (let i = 0; i < 200; i++) {
        const mid = (lo + hi) / 2;
        if (phi(mid) > 0) hi = mid;
        else lo = mid;
      }
      const next = Math.exp((lo + hi) / 2);
      change = Math.max(change, Math.abs(next - w[t]!) / next);
      w[t] = next;
    }
    if (change < 1e-14) break;
  }
  return w;
}


function run(gs: number[][], alpha?: number) {
  const T = gs.length;
  const S = gs[0]!.length;
  const P = S + T;
  const stacked = new Float32Array(T * P);
  gs.forEach((g, t) => {
    stacked.set(g, t * P);
    stacked[t * P + S + t] = -(t + 1);
  });
  const agg = alpha === undefined ? (createAggregator({ name: 'fairgrad' }) as FairGradAggregator) : (createAggregator({ name: 'fairgrad', alpha }) as FairGradAggregator);
  const out = new Float32Array(P);
  agg.combine(stacked, T, { offset: 0, size: S }, out, { tasks: tasks(T), step: 0 });
  return { w: Array.from(agg.lastWeights), out, S, stacked, P, agg };
}

describe('FairGrad', () => {
  for (const alpha of [0.5, 1, 2, 5]) {
    for (const T of [1, 2, 3, 4]) {
      it(`alpha = ${alpha}, T = ${T}: the paper's system solved (residual, positivity), against an independent solver; heads kept`, () => {
        for (let trial = 0; trial < 6; trial++) {
          const gs = randomGrads(T, 8, 500 * T + Math.round(37 * alpha) + trial + 1);
          const { w, out, S, agg } = run(gs, alpha);
          expect(agg.kind).toBe('stacked');
          const M = gramOf(gs);
          const ref = reference(M, alpha);
          for (let t = 0; t < T; t++) {
            expect(w[t]).toBeGreaterThan(0);
            expect(Math.abs(w[t]! - ref[t]!) / ref[t]!).toBeLessThan(1e-8);
            // (M w)_t = w_t^(-1/alpha), relative.
            expect(Math.abs(dot(M[t]!, w) / Math.pow(w[t]!, -1 / alpha) - 1)).toBeLessThan(1e-8);
          }
          const d = gs[0]!.map((_, k) => gs.reduce((s, g, t) => s + w[t]! * g[k]!, 0));
          for (let k = 0; k < S; k++) expect(out[k]).toBeCloseTo(d[k]!, 5);
          for (let t = 0; t < T; t++) expect(out[S + t]).toBe(-(t + 1));
        }
      });
    }
  }

  it('alpha = 1 (the default) is Nash-MTL\'s system: the same weights and update', () => {
    for (const T of [1, 2, 3, 4]) {
      const gs = randomGrads(T, 6, 77 + T);
      const fair = run(gs);
      expect(fair.agg.alpha).toBe(1);
      const nash = new NashMtlAggregator();
      const out = new Float32Array(fair.P);
      nash.combine(fair.stacked, T, { offset: 0, size: fair.S }, out, { tasks: tasks(T), step: 0 });
      fair.w.forEach((v, t) => expect(v / nash.lastWeights[t]!).toBeCloseTo(1, 12));
      for (let k = 0; k < fair.P; k++) expect(fair.out[k]).toBeCloseTo(out[k]!, 6);
      // And Nash-MTL's defining property alpha_t (M alpha)_t = 1.
      const M = gramOf(gs);
      for (let t = 0; t < T; t++) expect(dot(M[t]!, fair.w) * fair.w[t]!).toBeCloseTo(1, 8);
    }
  });

  it('closed forms: one task or orthogonal gradients w_t = |g_t|^(-2 alpha / (alpha + 1)); gradients times c give w c^(-2 alpha / (alpha + 1))', () => {
    for (const alpha of [0.3, 1, 3]) {
      const e = (2 * alpha) / (alpha + 1);
      expect(run([[3, 4]], alpha).w[0]).toBeCloseTo(Math.pow(5, -e), 10);
      const orth = run(
        [
          [2, 0, 0],
          [0, 0.5, 0],
          [0, 0, 10],
        ],
        alpha,
      );
      [2, 0.5, 10].forEach((n, t) => expect(orth.w[t]! / Math.pow(n, -e)).toBeCloseTo(1, 8));
      const gs = randomGrads(3, 5, 31);
      const base = run(gs, alpha);
      const c = 40;
      const scaled = run(gs.map((g) => g.map((v) => Math.fround(v * c))), alpha);
      scaled.w.forEach((v, t) => expect(v / (base.w[t]! * Math.pow(c, -e))).toBeCloseTo(1, 7));
    }
  });

  it('alpha near 0 tends to equal weights; the extremes 0.01 and 10 still solve the system', () => {
    // Unit-norm orthogonal gradients: w_t = 1 for every alpha; correlated ones: w_t -> 1 as alpha -> 0.
    const gs = [
      [1, 0.2, 0],
      [0.1, 1, 0.3],
      [0, 0.4, 1],
    ];
    const small = run(gs, 0.01);
    for (const v of small.w) expect(Math.abs(v - 1)).toBeLessThan(0.02);
    for (const alpha of [0.01, 10]) {
      for (const T of [2, 4]) {
        const rg = randomGrads(T, 6, 900 + T);
        const { w } = run(rg, alpha);
        const M = gramOf(rg);
        for (let t = 0; t < T; t++) {
          expect(w[t]).toBeGreaterThan(0);
          expect(Math.abs(dot(M[t]!, w) / Math.pow(w[t]!, -1 / alpha) - 1)).toBeLessThan(1e-8);
        }
      }
    }
  });

  it('degenerate inputs give finite results: zero gradients weight 0, identical, parallel, anti-parallel gradients', () => {
    for (const alpha of [0.5, 1, 2]) {
      const withZero = run(
        [
          [1, 2, 0.5],
          [0, 0, 0],
          [-1, 0, 2],
        ],
        alpha,
      );
      const alone = run(
        [
          [1, 2, 0.5],
          [-1, 0, 2],
        ],
        alpha,
      );
      expect(withZero.w[1]).toBe(0);
      expect(withZero.w[0]! / alone.w[0]!).toBeCloseTo(1, 10);
      expect(withZero.w[2]! / alone.w[1]!).toBeCloseTo(1, 10);
      const zero = run([[0, 0], [0, 0]], alpha);
      expect(zero.w).toEqual([0, 0]);
      expect(Array.from(zero.out)).toEqual([0, 0, -1, -2]);
      // Identical gradients: w_t the same for all, T |g|^2 w = w^(-1/alpha).
      const same = run([[1, 2, 2], [1, 2, 2], [1, 2, 2]], alpha);
      const wSame = Math.pow(27, -alpha / (alpha + 1));
      for (const v of same.w) expect(v / wSame).toBeCloseTo(1, 8);
      for (const gs of [
        [[0, 3, 4], [0, 6, 8]],
        [[1, 2, 0.5], [-1, -2, -0.5]],
        [[1, 0, 0], [0, 1, 0], [-1, -1, 0]],
      ]) {
        const r = run(gs, alpha);
        expect(r.w.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
        expect(Array.from(r.out).every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('refuses an alpha outside [0.01, 10]; checks the buffer size', () => {
    for (const bad of [0, -1, 0.005, 10.5, NaN, Infinity]) expect(() => new FairGradAggregator(bad)).toThrow(/fairgrad alpha must be a number in \[0.01, 10\]/);
    expect(new FairGradAggregator(0.01).alpha).toBe(0.01);
    expect(new FairGradAggregator(10).alpha).toBe(10);
    expect(() => new FairGradAggregator(2).combine(new Float32Array(5), 2, { offset: 0, size: 1 }, new Float32Array(3), { tasks: tasks(2), step: 0 })).toThrow(/fairgrad: stacked gradients hold 5 values, expected 2\*3/);
  });
  it('the solver on hard Gram matrices (gradient norms 400-fold apart, rank-deficient, T up to 8): positive, finite, within 50 Newton iterations, residual at float64\'s floor', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (const alpha of [0.01, 0.5, 1, 3, 10]) {
      let worst = 0;
      let most = 0;
      for (let trial = 0; trial < 400; trial++) {
        const T = 2 + (trial % 7);
        const dim = 1 + (trial % 13); // dim < T: rank-deficient, often without a solution (regularised)
        const gs = Array.from({ length: T }, () => {
          const scale = Math.exp(3 * rnd());
          return Array.from({ length: dim }, () => Math.fround(scale * rnd()));
        });
        const M = Float64Array.from(gramOf(gs).flat());
        const r = solveFairSystem(M, T, 1 / alpha);
        expect(r.weights.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
        most = Math.max(most, r.iterations);
        worst = Math.max(worst, r.residual);
        if (dim >= T) {
          // Full rank: the unregularised system holds too, relative to the terms it sums.
          for (let t = 0; t < T; t++) {
            const terms = M.subarray(t * T, (t + 1) * T).reduce((acc, m, k) => acc + Math.abs(m) * r.weights[k]!, 0);
            const rhs = Math.pow(r.weights[t]!, -1 / alpha);
            expect(Math.abs(dot(Array.from(M.subarray(t * T, (t + 1) * T)), Array.from(r.weights)) - rhs) / (terms + rhs)).toBeLessThan(alpha <= 3 ? 1e-9 : 1e-6);
          }
        }
      }
      expect(most).toBeLessThanOrEqual(50);
      expect(most).toBeLessThan(MAX_ITER);
      expect(worst).toBeLessThan(alpha <= 3 ? 1e-13 : 1e-6);
    }
  });
});
