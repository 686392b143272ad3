import { describe, expect, it } from 'vitest';
import { GradVacAggregator, createAggregator } from '../src/aggregators';
import { gradVacStep } from '../src/aggregators/gradvac';
import { randomGrads } from './helpers/gradients';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const names = (n: number) => tasks(n).map((t) => t.name);
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));
const cos = (a: number[], b: number[]) => dot(a, b) / (norm(a) * norm(b));

/**
 * The paper's loop on explicit vectors in float64, for given orders: returns the shared update
 * sum_i g_i' and updates the targets `phiHat` (T x T) in place.
 */
function reference(gs: number[][], phiHat: number[][], beta: number, orders: number[][]): number[] {
  const out = new Array(gs[0]!.length).fill(0);
  gs.forEach((g, i) => {
    const gi = [...g];
    for (const j of orders[i]!) {
      if (j === i) continue;
      const gj = gs[j]!;
      const phi = cos(gi, gj);
      const ph = phiHat[i]![j]!;
      if (phi < ph) {
        const w = (norm(gi) * (ph * Math.sqrt(1 - phi * phi) - phi * Math.sqrt(1 - ph * ph))) / (norm(gj) * Math.sqrt(1 - ph * ph));
        for (let k = 0; k < gi.length; k++) gi[k] += w * gj[k]!;
      }
      phiHat[i]![j] = (1 - beta) * ph + beta * phi;
    }
    gi.forEach((v, k) => (out[k] += v));
  });
  return out;
}


const gramOf = (gs: number[][]) => Float64Array.from(gs.flatMap((a) => gs.map((b) => dot(a, b))));

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

describe('GradVac', () => {
  for (const T of [2, 3, 4]) {
    it(`T = ${T}: follows the paper's loop for given orders over several steps (update and targets)`, () => {
      const beta = 0.3;
      const phiRef = Array.from({ length: T }, () => new Array(T).fill(0));
      const phi = new Float64Array(T * T);
      let seed = 50 * T;
      for (let step = 0; step < 6; step++) {
        const gs = randomGrads(T, 6, ++seed);
        // A different order per task and step.
        const orders = Array.from({ length: T }, (_, i) => permutations(T)[(step * 7 + i * 3) % permutations(T).length]!);
        const want = reference(gs, phiRef, beta, orders);
        const alpha = gradVacStep(gramOf(gs), T, phi, beta, (i) => orders[i]!);
        const got = gs[0]!.map((_, k) => gs.reduce((s, g, t) => s + alpha[t]! * g[k]!, 0));
        for (let k = 0; k < got.length; k++) expect(got[k]).toBeCloseTo(want[k]!, 9);
        for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) expect(phi[i * T + j]).toBeCloseTo(phiRef[i]![j]!, 12);
      }
    });
  }

  it('combine: the order is drawn from (seed, step), the same on every call, and matches the reference for one of the orders', () => {
    const gs = [
      [1, -2, 0.5, 3],
      [-1.5, 1, 2, -1],
      [0.5, 1.5, -3, -0.5],
    ];
    const stacked = Float32Array.from(gs.flat());
    const perms = permutations(3);
    const options = perms.flatMap((a) => perms.flatMap((b) => perms.map((c) => reference(gs, [[0, 0, 0], [0, 0, 0], [0, 0, 0]], 0.5, [a, b, c]).map((x) => Math.fround(x)))));
    const seen = new Set<string>();
    for (let step = 0; step < 30; step++) {
      const a = new Float32Array(4);
      const b = new Float32Array(4);
      new GradVacAggregator(names(3), 0.5, 11).combine(stacked, 3, { offset: 0, size: 4 }, a, { tasks: tasks(3), step });
      new GradVacAggregator(names(3), 0.5, 11).combine(stacked, 3, { offset: 0, size: 4 }, b, { tasks: tasks(3), step });
      expect(Array.from(a)).toEqual(Array.from(b));
      const match = options.findIndex((o) => o.every((x, k) => Math.abs(x - a[k]!) <= 1e-5 * Math.max(1, Math.abs(x))));
      expect(match, `step ${step}: ${Array.from(a)}`).toBeGreaterThanOrEqual(0);
      seen.add(JSON.stringify(options[match]));
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('cosines all above their targets: nothing changes (the sum, weights 1, heads kept); the targets move towards them', () => {
    // P = 4: 0-2 shared; 3 is t0's head (t1's head is empty). cos = 0.5 > 0.
    const stacked = Float32Array.from([1, 1, 0, 9, /* t1 */ 0, 1, 1, 0]);
    const out = new Float32Array(4);
    const agg = createAggregator({ name: 'gradvac', tasks: names(2), beta: 0.5 }) as GradVacAggregator;
    expect(agg.kind).toBe('stacked');
    agg.combine(stacked, 2, { offset: 0, size: 3 }, out, { tasks: tasks(2), step: 0 });
    expect(Array.from(out)).toEqual([1, 2, 1, 9]);
    expect(Array.from(agg.lastWeights)).toEqual([1, 1]);
    expect(agg.targets()[0]![1]).toBeCloseTo(0.25, 12);
    expect(agg.targets()[1]![0]).toBeCloseTo(0.25, 12);
    // Three tasks with positive cosines, targets below them: still the plain sum.
    const three = Float32Array.from([1, 0.2, 0.1, /* t1 */ 0.3, 1, 0.2, /* t2 */ 0.1, 0.4, 1]);
    const o3 = new Float32Array(3);
    new GradVacAggregator(names(3)).combine(three, 3, { offset: 0, size: 3 }, o3, { tasks: tasks(3), step: 4 });
    expect(Array.from(o3)).toEqual([1.4, 1.6, 1.3].map(Math.fround));
  });

  it('two tasks below their targets: the adjusted gradient reaches the target cosine exactly', () => {
    for (const [target, seed] of [[0, 1], [0.3, 2], [-0.2, 3], [0.8, 4]] as const) {
      for (let trial = 0; trial < 5; trial++) {
        let [g1, g2] = randomGrads(2, 5, seed * 100 + trial);
        // Make them conflict well below the target.
        if (cos(g1!, g2!) > target - 0.1) g2 = g2!.map((x, k) => Math.fround(x - 3 * g1![k]!));
        expect(cos(g1!, g2!)).toBeLessThan(target);
        const agg = new GradVacAggregator(names(2), 0.5, 1);
        agg.loadState([0, target, target, 0]);
        const out = new Float32Array(5);
        agg.combine(Float32Array.from([...g1!, ...g2!]), 2, { offset: 0, size: 5 }, out, { tasks: tasks(2), step: trial });
        // shared = (g1 + c1 g2) + (g2 + c2 g1): the weights are (1 + c2, 1 + c1).
        const [w1, w2] = Array.from(agg.lastWeights);
        const g1p = g1!.map((x, k) => x + (w2! - 1) * g2![k]!);
        const g2p = g2!.map((x, k) => x + (w1! - 1) * g1![k]!);
        expect(cos(g1p, g2!)).toBeCloseTo(target, 9);
        expect(cos(g2p, g1!)).toBeCloseTo(target, 9);
        // Raising a cosine that is below its target takes a positive multiple of the other gradient.
        expect(w1).toBeGreaterThan(1);
        expect(w2).toBeGreaterThan(1);
      }
    }
  });

  it('state() and loadState() carry the targets: a restored aggregator continues identically, a fresh one does not', () => {
    const T = 3;
    const a = new GradVacAggregator(names(T), 0.5, 5);
    const steps = Array.from({ length: 5 }, (_, s) => Float32Array.from(randomGrads(T, 4, 900 + s).flat()));
    const out = new Float32Array(4);
    for (let s = 0; s < 3; s++) a.combine(steps[s]!, T, { offset: 0, size: 4 }, out, { tasks: tasks(T), step: s });
    const saved = a.state();
    expect(saved).toHaveLength(T * T);
    expect(saved.some((v) => v !== 0)).toBe(true);
    const b = new GradVacAggregator(names(T), 0.5, 5);
    b.loadState(JSON.parse(JSON.stringify(saved))); // as aggregator.json keeps it
    expect(b.state()).toEqual(saved);
    const fresh = new GradVacAggregator(names(T), 0.5, 5);
    const outA = new Float32Array(4);
    const outB = new Float32Array(4);
    const outF = new Float32Array(4);
    for (let s = 3; s < 5; s++) {
      a.combine(steps[s]!, T, { offset: 0, size: 4 }, outA, { tasks: tasks(T), step: s });
      b.combine(steps[s]!, T, { offset: 0, size: 4 }, outB, { tasks: tasks(T), step: s });
      fresh.combine(steps[s]!, T, { offset: 0, size: 4 }, outF, { tasks: tasks(T), step: s });
      expect(Array.from(outB)).toEqual(Array.from(outA));
    }
    expect(b.state()).toEqual(a.state());
    expect(fresh.state()).not.toEqual(a.state());
  });

  it('zero gradients: no NaN, nothing changes, targets untouched', () => {
    const agg = new GradVacAggregator(names(2));
    const out = new Float32Array(2);
    agg.combine(Float32Array.from([0, 0, 1, -1]), 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    expect(Array.from(out)).toEqual([1, -1]);
    expect(agg.state()).toEqual([0, 0, 0, 0]);
  });

  it('says what is wrong with bad input', () => {
    const agg = new GradVacAggregator(names(2));
    expect(() => agg.loadState([0, 0, 0])).toThrow(/gradvac: a saved state of 3 values does not fit 2 tasks/);
    expect(() => agg.loadState([0, 2, 0, 0])).toThrow(/cosines in \[-1, 1\]/);
    expect(() => agg.combine(new Float32Array(9), 3, { offset: 0, size: 3 }, new Float32Array(3), { tasks: tasks(3), step: 0 })).toThrow(/gradvac: 3 stacked gradients for 2 tasks/);
    expect(() => new GradVacAggregator(names(2), 0)).toThrow(/gradvac beta must be a number in \(0, 1\], got 0/);
    expect(() => new GradVacAggregator(names(2), 1.5)).toThrow(/beta/);
    expect(() => createAggregator({ name: 'gradvac' } as unknown as { name: 'equal' })).toThrow(/gradvac aggregator needs 'tasks'/);
  });
});
