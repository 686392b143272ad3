import { describe, expect, it } from 'vitest';
import { GradNormAggregator, createAggregator } from '../src/aggregators';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const names = (n: number) => tasks(n).map((t) => t.name);

/** The paper's update, written out plainly for two tasks (the same formula, no shared code). */
function referenceStep(w: number[], n: number[], L: number[], L0: number[], alpha: number, lr: number): number[] {
  const G = w.map((wi, i) => wi * n[i]!);
  const Gbar = (G[0]! + G[1]!) / 2;
  const ratio = L.map((l, i) => l / L0[i]!);
  const rbar = (ratio[0]! + ratio[1]!) / 2;
  const next = w.map((wi, i) => {
    const target = Gbar * (ratio[i]! / rbar) ** alpha;
    return Math.max(wi - lr * Math.sign(G[i]! - target) * n[i]!, 1e-8);
  });
  const s = next[0]! + next[1]!;
  return next.map((x) => (2 * x) / s);
}

describe('GradNorm', () => {
  // P = 4: 0-1 shared; 2 head of t0; 3 head of t1. |g0| = 5 on the trunk, |g1| = 1.
  const stacked = Float32Array.from([3, 4, 9, 0, /* t1 */ 0, 1, 0, 7]);
  const shared = { offset: 0, size: 2 };

  it('starts from equal weights: the trunk gets the sum, each head its own gradient', () => {
    const agg = createAggregator({ name: 'gradnorm', tasks: names(2) }) as GradNormAggregator;
    const out = new Float32Array(4);
    agg.combine(stacked, 2, shared, out, { tasks: tasks(2), step: 0, losses: { t0: 2, t1: 2 } });
    expect(Array.from(out)).toEqual([3, 5, 9, 7]);
  });

  it('moves the weights by the paper\'s rule, towards balancing the gradient norms, keeping their sum at T', () => {
    const agg = new GradNormAggregator(names(2), 1.5, 0.1);
    const out = new Float32Array(4);
    let w = [1, 1];
    const L0 = [2, 4];
    const losses = [[2, 4], [1.5, 3.5], [1.2, 3.3], [1.0, 3.2]];
    for (const [s, L] of losses.entries()) {
      agg.combine(stacked, 2, shared, out, { tasks: tasks(2), step: s, losses: { t0: L[0]!, t1: L[1]! } });
      // This step used w; the trunk is w0 g0 + w1 g1.
      expect(out[0]).toBeCloseTo(w[0]! * 3 + w[1]! * 0, 5);
      expect(out[1]).toBeCloseTo(w[0]! * 4 + w[1]! * 1, 5);
      expect([out[2], out[3]]).toEqual([9, 7]);
      w = referenceStep(w, [5, 1], L, L0, 1.5, 0.1);
      const now = agg.weightsNow();
      expect(now.t0).toBeCloseTo(w[0]!, 12);
      expect(now.t1).toBeCloseTo(w[1]!, 12);
      expect(now.t0! + now.t1!).toBeCloseTo(2, 12);
    }
    // The task with the larger gradient lost weight.
    expect(agg.weightsNow().t0).toBeLessThan(1);
  });

  it('continues identically from a saved state (what a checkpoint keeps)', () => {
    const a = new GradNormAggregator(names(2));
    const b = new GradNormAggregator(names(2));
    const outA = new Float32Array(4);
    const outB = new Float32Array(4);
    a.combine(stacked, 2, shared, outA, { tasks: tasks(2), step: 0, losses: { t0: 2, t1: 4 } });
    a.combine(stacked, 2, shared, outA, { tasks: tasks(2), step: 1, losses: { t0: 1.9, t1: 3 } });
    b.loadState(a.state());
    expect(a.state()).toHaveLength(4);
    a.combine(stacked, 2, shared, outA, { tasks: tasks(2), step: 2, losses: { t0: 1.5, t1: 2.5 } });
    b.combine(stacked, 2, shared, outB, { tasks: tasks(2), step: 2, losses: { t0: 1.5, t1: 2.5 } });
    expect(Array.from(outB)).toEqual(Array.from(outA));
    expect(b.state()).toEqual(a.state());
    // A fresh aggregator does not: it has neither the weights nor the first losses.
    const c = new GradNormAggregator(names(2));
    c.combine(stacked, 2, shared, outB, { tasks: tasks(2), step: 2, losses: { t0: 1.5, t1: 2.5 } });
    expect(c.state()).not.toEqual(a.state());
  });

  it('says what is wrong with bad input', () => {
    const agg = new GradNormAggregator(names(2));
    const out = new Float32Array(4);
    expect(() => agg.combine(stacked, 2, shared, out, { tasks: tasks(2), step: 0 })).toThrow(/needs the step's per-task losses/);
    expect(() => agg.combine(stacked, 2, shared, out, { tasks: tasks(2), step: 3, losses: { t0: 1 } })).toThrow(/no finite loss for task 't1' at step 3/);
    expect(() => agg.combine(stacked, 3, shared, out, { tasks: tasks(3), step: 0, losses: {} })).toThrow(/3 stacked gradients for 2 tasks/);
    expect(() => agg.loadState([1, 2, 3])).toThrow(/3 values does not fit 2 tasks/);
    expect(() => new GradNormAggregator(names(2), -1)).toThrow(/alpha/);
    expect(() => new GradNormAggregator(names(2), 1.5, 0)).toThrow(/lr/);
  });
});
