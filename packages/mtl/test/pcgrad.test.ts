import { describe, expect, it } from 'vitest';
import { PcGradAggregator, createAggregator } from '../src/aggregators';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));

/** LibMTL's loop for given orders (one per task), in float64, on the shared range only. */
function reference(gs: number[][], orders: number[][]): number[] {
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
  const out = new Array(gs[0]!.length).fill(0);
  gs.forEach((g, i) => {
    const pc = [...g];
    for (const j of orders[i]!) {
      const d = dot(pc, gs[j]!);
      if (d < 0) {
        const c = d / (dot(gs[j]!, gs[j]!) + 1e-8);
        for (let k = 0; k < pc.length; k++) pc[k] -= c * gs[j]![k]!;
      }
    }
    pc.forEach((v, k) => (out[k] += v));
  });
  return out;
}

function permutations(n: number): number[][] {
  if (n === 1) return [[0]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

describe('PCGrad aggregator', () => {
  it('projects two conflicting gradients off each other on the shared range; heads keep their own', () => {
    // P = 4: params 0-1 shared (trunk), 2 head of t0, 3 head of t1.
    const stacked = Float32Array.from([1, 0, 5, 0, /* t1 */ -1, 1, 0, 7]);
    const out = new Float32Array(4);
    new PcGradAggregator().combine(stacked, 2, { offset: 0, size: 2 }, out, { tasks: tasks(2), step: 0 });
    // g0 - (g0.g1/|g1|^2) g1 = (0.5, 0.5); g1 - (g1.g0/|g0|^2) g0 = (0, 1) (up to the 1e-8)
    expect(Array.from(out).map((x) => +x.toFixed(6))).toEqual([0.5, 1.5, 5, 7]);
  });

  it('leaves gradients that do not conflict as their sum', () => {
    const stacked = Float32Array.from([1, 2, 3, /* t1 */ 2, 1, 0.5]);
    const out = new Float32Array(3);
    new PcGradAggregator().combine(stacked, 2, { offset: 0, size: 3 }, out, { tasks: tasks(2), step: 9 });
    expect(Array.from(out)).toEqual([3, 3, 3.5]);
  });

  it('with three tasks follows the paper for the order drawn from (seed, step), the same on every call', () => {
    const gs = [
      [1, -2, 0.5, 3],
      [-1.5, 1, 2, -1],
      [0.5, 1.5, -3, -0.5],
    ];
    const stacked = Float32Array.from(gs.flat());
    const shared = { offset: 0, size: 4 };
    const perms = permutations(3);
    const options = perms.flatMap((a) => perms.flatMap((b) => perms.map((c) => reference(gs, [a, b, c]).map((x) => Math.fround(x)))));
    const seen = new Set<string>();
    for (let step = 0; step < 40; step++) {
      const a = new Float32Array(4);
      const b = new Float32Array(4);
      new PcGradAggregator(7).combine(stacked, 3, shared, a, { tasks: tasks(3), step });
      new PcGradAggregator(7).combine(stacked, 3, shared, b, { tasks: tasks(3), step });
      expect(Array.from(a)).toEqual(Array.from(b));
      const match = options.findIndex((o) => o.every((x, k) => Math.abs(x - a[k]!) <= 1e-6 * Math.max(1, Math.abs(x))));
      expect(match, `step ${step}: ${Array.from(a)}`).toBeGreaterThanOrEqual(0);
      seen.add(JSON.stringify(options[match]));
    }
    expect(seen.size).toBeGreaterThan(1); // the order does change with the step
  });

  it('is made by createAggregator and checks the buffer size', () => {
    const agg = createAggregator({ name: 'pcgrad', seed: 3 });
    expect(agg).toBeInstanceOf(PcGradAggregator);
    expect(agg.kind).toBe('stacked');
    expect(() => agg.combine!(new Float32Array(5), 2, { offset: 0, size: 1 }, new Float32Array(3), { tasks: tasks(2), step: 0 })).toThrow(/pcgrad: stacked gradients hold 5 values, expected 2\*3/);
  });
});
