import { describe, expect, it } from 'vitest';
import { GlsAggregator, createAggregator } from '../src/aggregators';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const lossMap = (L: number[]) => Object.fromEntries(L.map((v, i) => [`t${i}`, v]));

/** The paper's weights, scaled by T: T (prod L)^(1/T) / (T L_t), the product taken directly. */
function referenceWeights(L: number[]): number[] {
  const T = L.length;
  const gm = Math.pow(L.reduce((a, b) => a * b, 1), 1 / T);
  return L.map((l) => (T * gm) / (T * l));
}

/**
 * A tiny problem: parameters [s_0..s_{S-1} (shared), h_0..h_{T-1} (one head weight per task)],
 * L_t = (a_t . s + h_t - y_t)^2 + (b_t . s)^2 / 2 + c_t (c_t > 0, so every loss is positive).
 */
function tinyProblem(T: number, S: number, seed: number) {
  let x = seed;
  const rnd = () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const a = Array.from({ length: T }, () => Array.from({ length: S }, rnd));
  const b = Array.from({ length: T }, () => Array.from({ length: S }, rnd));
  const y = Array.from({ length: T }, rnd);
  const c = Array.from({ length: T }, () => 0.05 + Math.abs(rnd()));
  const theta = Array.from({ length: S + T }, rnd);
  const dot = (u: number[], v: number[]) => u.reduce((acc, ui, i) => acc + ui * v[i]!, 0);
  const losses = (th: number[]) =>
    a.map((at, t) => {
      const s = th.slice(0, S);
      const e = dot(at, s) + th[S + t]! - y[t]!;
      const q = dot(b[t]!, s);
      return e * e + (q * q) / 2 + c[t]!;
    });
  /** Row t: the gradient of L_t over every parameter (zero on the other tasks' heads). */
  const grads = (th: number[]) =>
    a.map((at, t) => {
      const s = th.slice(0, S);
      const e = dot(at, s) + th[S + t]! - y[t]!;
      const q = dot(b[t]!, s);
      const g = new Array(S + T).fill(0);
      for (let k = 0; k < S; k++) g[k] = 2 * e * at[k]! + q * b[t]![k]!;
      g[S + t] = 2 * e;
      return g;
    });
  return { theta, losses, grads, P: S + T };
}

function combine(agg: GlsAggregator, rows: number[][], L: number[], shared: number, step = 0): Float32Array {
  const T = rows.length;
  const P = rows[0]!.length;
  const out = new Float32Array(P);
  agg.combine(Float32Array.from(rows.flat()), T, { offset: 0, size: shared }, out, { tasks: tasks(T), step, losses: lossMap(L) });
  return out;
}

describe('GLS (geometric loss strategy)', () => {
  for (const T of [1, 2, 3, 4]) {
    it(`T = ${T}: the gradient of T (prod_t L_t)^(1/T), trunk and heads, against finite differences and the paper's weights`, () => {
      for (let trial = 0; trial < 5; trial++) {
        const S = 4;
        const { theta, losses, grads, P } = tinyProblem(T, S, 1000 * T + trial + 1);
        const L = losses(theta);
        const agg = createAggregator({ name: 'gls' }) as GlsAggregator;
        expect(agg.kind).toBe('stacked');
        const out = combine(agg, grads(theta), L, S, trial);
        // Weights: T times the paper's (prod L)^(1/T) / (T L_t), i.e. GM / L_t.
        const ref = referenceWeights(L);
        for (let t = 0; t < T; t++) expect(agg.lastWeights[t]! / ref[t]!).toBeCloseTo(1, 12);
        // Central differences of the objective T (prod L)^(1/T) over every parameter (trunk and heads).
        const F = (th: number[]) => T * Math.pow(losses(th).reduce((p, l) => p * l, 1), 1 / T);
        const h = 1e-6;
        for (let k = 0; k < P; k++) {
          const up = [...theta];
          const dn = [...theta];
          up[k] += h;
          dn[k] -= h;
          const fd = (F(up) - F(dn)) / (2 * h);
          expect(Math.abs(out[k]! - fd), `parameter ${k}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)) + 1e-6);
        }
      }
    });
  }

  it('a head gets its own gradient times its task\'s weight; equal losses give weights 1 (equal weighting\'s update)', () => {
    // Shared range [0, 2), heads at 2 (t0) and 3 (t1).
    const rows = [
      [1, 2, 3, 0],
      [-1, 0.5, 0, 4],
    ];
    const agg = new GlsAggregator();
    // L = (1, 4): GM = 2, weights (2, 0.5).
    const out = combine(agg, rows, [1, 4], 2);
    [2, 0.5].forEach((w, t) => expect(agg.lastWeights[t]).toBeCloseTo(w, 14));
    expect(Array.from(out)).toEqual([2 * 1 - 0.5 * 1, 2 * 2 + 0.5 * 0.5, 2 * 3, 0.5 * 4]);
    const eq = combine(agg, rows, [0.7, 0.7], 2);
    for (const w of agg.lastWeights) expect(w).toBeCloseTo(1, 14);
    for (let k = 0; k < 4; k++) expect(eq[k]).toBeCloseTo(rows[0]![k]! + rows[1]![k]!, 6);
  });

  it('scale: the weights sum to T GM / HM >= T, T exactly for equal losses; they do not change when every loss is scaled', () => {
    const agg = new GlsAggregator();
    const rows = [
      [1, 0],
      [0, 1],
      [1, 1],
    ];
    for (const L of [
      [0.5, 2, 8],
      [1, 1, 1],
      [0.01, 3, 0.2],
    ]) {
      combine(agg, rows, L, 2);
      const w = Array.from(agg.lastWeights);
      const T = L.length;
      const gm = Math.pow(L[0]! * L[1]! * L[2]!, 1 / 3);
      const hm = T / L.reduce((s, l) => s + 1 / l, 0);
      const sum = w.reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo((T * gm) / hm, 10);
      expect(sum).toBeGreaterThanOrEqual(T - 1e-12);
      combine(agg, rows, L.map((l) => 1000 * l), 2);
      Array.from(agg.lastWeights).forEach((v, t) => expect(v / w[t]!).toBeCloseTo(1, 12));
    }
  });

  it('a zero or negative loss leaves its task out of the product (weight 0); all out gives a zero update; never NaN or Infinity', () => {
    const agg = new GlsAggregator();
    const rows = [
      [0, 0, 0, 0, 0],
      [1, 2, 0, 3, 0],
      [-1, 1, 0, 0, 5],
    ];
    // Task 0 has no labelled example (loss 0, zero gradient): the geometric mean of the other two,
    // GM = sqrt(2 * 8) = 4, weights (0, 2, 0.5).
    for (const L0 of [0, -0.5]) {
      const out = combine(agg, rows, [L0, 2, 8], 2);
      expect(agg.lastWeights[0]).toBe(0);
      expect(agg.lastWeights[1]).toBeCloseTo(2, 14);
      expect(agg.lastWeights[2]).toBeCloseTo(0.5, 14);
      expect(Array.from(out)).toEqual([2 * 1 - 0.5, 2 * 2 + 0.5, 0, 2 * 3, 0.5 * 5]);
    }
    // A task with a zero loss but a (tiny) non-zero gradient gets no weight either.
    const tiny = combine(agg, [[1e-3, 0, 7, 0], [1, 1, 0, 2]], [0, 3], 2);
    expect(Array.from(agg.lastWeights)).toEqual([0, 1]);
    expect(Array.from(tiny)).toEqual([1, 1, 0, 2]);
    const none = combine(agg, rows, [0, 0, -1], 2);
    expect(Array.from(agg.lastWeights)).toEqual([0, 0, 0]);
    expect(Array.from(none)).toEqual([0, 0, 0, 0, 0]);
    // Losses over many orders of magnitude: no product over- or underflows.
    const wide = combine(agg, rows, [1e-30, 1e30, 1], 2);
    expect(agg.lastWeights.every(Number.isFinite)).toBe(true);
    expect(wide.every(Number.isFinite)).toBe(true);
    expect(agg.lastWeights[2]).toBeCloseTo(1, 10); // GM = 1
  });

  it('names a task without a finite loss, and checks the buffer size', () => {
    const agg = new GlsAggregator();
    const rows = [
      [1, 2],
      [3, 4],
    ];
    expect(() => combine(agg, rows, [1, NaN], 1)).toThrow(/gls: no finite loss for task 't1' at step 0/);
    expect(() => combine(agg, rows, [Infinity, 1], 1)).toThrow(/gls: no finite loss for task 't0'/);
    const out = new Float32Array(2);
    expect(() => agg.combine(Float32Array.from([1, 2, 3, 4]), 2, { offset: 0, size: 1 }, out, { tasks: tasks(2), step: 3, losses: { t0: 1 } })).toThrow(/gls: no finite loss for task 't1' at step 3/);
    expect(() => agg.combine(Float32Array.from([1, 2, 3, 4]), 2, { offset: 0, size: 1 }, out, { tasks: tasks(2), step: 0 })).toThrow(/gls needs the step's per-task losses/);
    expect(() => agg.combine(new Float32Array(5), 2, { offset: 0, size: 1 }, out, { tasks: tasks(2), step: 0, losses: lossMap([1, 1]) })).toThrow(/gls: stacked gradients hold 5 values, expected 2\*2/);
  });

  it('is deterministic: the same inputs give the same bits', () => {
    const { theta, losses, grads } = tinyProblem(3, 5, 77);
    const a = combine(new GlsAggregator(), grads(theta), losses(theta), 5, 0);
    const b = combine(new GlsAggregator(), grads(theta), losses(theta), 5, 9);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});
