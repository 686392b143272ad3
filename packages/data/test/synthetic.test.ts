import { describe, expect, it } from 'vitest';
import { syntheticMmoe, syntheticPerTask, type TaskSpec } from '../src/index';

const reg2: TaskSpec[] = [
  { name: 'a', type: 'regression' },
  { name: 'b', type: 'regression' },
];

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]! / n;
    my += y[i]! / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe('syntheticMmoe', () => {
  it('has the declared shape', () => {
    const ds = syntheticMmoe({ tasks: reg2, numExamples: 100, seed: 1 });
    expect(ds.size).toBe(100);
    expect(ds.inputDim).toBe(16);
    expect(ds.features.length).toBe(1600);
    expect(ds.labels.a!.length).toBe(100);
    expect(ds.mask).toBeUndefined();
    expect(Array.from(ds.features).every(Number.isFinite)).toBe(true);
  });

  it('is deterministic by seed; different seeds differ', () => {
    const o = { tasks: reg2, numExamples: 200, seed: 5 };
    const a = syntheticMmoe(o);
    const b = syntheticMmoe(o);
    expect(b.features).toEqual(a.features);
    expect(b.labels).toEqual(a.labels);
    const c = syntheticMmoe({ ...o, seed: 6 });
    expect(c.features).not.toEqual(a.features);
    expect(c.labels.a).not.toEqual(a.labels.a);
  });

  it('label correlation between tasks rises with the requested p', () => {
    const corr = (p: number): number => {
      const ds = syntheticMmoe({ tasks: reg2, numExamples: 4000, correlation: p, noise: 0, seed: 11 });
      return pearson(ds.labels.a!, ds.labels.b!);
    };
    const lo = corr(0.1);
    const mid = corr(0.5);
    const hi = corr(0.9);
    expect(hi).toBeGreaterThan(mid + 0.2);
    expect(mid).toBeGreaterThan(lo + 0.2);
    expect(hi).toBeGreaterThan(0.8);
    expect(Math.abs(lo)).toBeLessThan(0.3);
  });

  it('without sinusoids the label correlation equals p, for T tasks and negative p', () => {
    // Labels are then w_t.x with x ~ N(0, I): their correlation is the weight cosine.
    const tasks: TaskSpec[] = ['a', 'b', 'c'].map((name) => ({ name, type: 'regression' }));
    for (const p of [-0.5, 0, 0.7]) {
      const ds = syntheticMmoe({ tasks, numExamples: 5000, correlation: p, noise: 0, numSinusoids: 0, seed: 3 });
      expect(Math.abs(pearson(ds.labels.a!, ds.labels.c!) - p)).toBeLessThan(0.05);
      expect(Math.abs(pearson(ds.labels.b!, ds.labels.c!) - p)).toBeLessThan(0.05);
    }
    expect(() => syntheticMmoe({ tasks, numExamples: 10, correlation: -0.6, seed: 1 })).toThrow(/out of range/);
    expect(() => syntheticMmoe({ tasks, numExamples: 10, inputDim: 2, seed: 1 })).toThrow(/inputDim/);
  });

  it('binary and multiclass labels are balanced class indices', () => {
    const ds = syntheticMmoe({
      tasks: [
        { name: 'bin', type: 'binary' },
        { name: 'cls', type: 'multiclass:4' },
      ],
      numExamples: 1000,
      seed: 2,
    });
    const count = (l: Float32Array, k: number): number[] => {
      const c = new Array(k).fill(0);
      for (const v of l) c[v]++;
      return c;
    };
    expect(count(ds.labels.bin!, 2)).toEqual([500, 500]);
    expect(count(ds.labels.cls!, 4)).toEqual([250, 250, 250, 250]);
    expect(() => syntheticMmoe({ tasks: [{ name: 'x', type: 'multiclass:1' }], numExamples: 5, seed: 1 })).toThrow(/invalid type/);
  });

  it('missingRate masks that fraction of each task and zeroes the hidden labels', () => {
    const ds = syntheticMmoe({ tasks: reg2, numExamples: 1000, missingRate: 0.3, seed: 4 });
    for (const t of ['a', 'b']) {
      const m = ds.mask![t]!;
      expect(m.reduce((s, v) => s + v, 0)).toBe(700);
      for (let i = 0; i < 1000; i++) if (m[i] === 0) expect(ds.labels[t]![i]).toBe(0);
    }
    expect(ds.mask!.a).not.toEqual(ds.mask!.b);
  });
});

describe('syntheticPerTask', () => {
  const opts = {
    tasks: [
      { name: 'a', type: 'regression' as const, numExamples: 300 },
      { name: 'b', type: 'binary' as const, numExamples: 120 },
      { name: 'c', type: 'multiclass:3' as const, numExamples: 50, seed: 99 },
    ],
    inputDim: 8,
    seed: 7,
  };

  it('gives each task its own single-task dataset and size', () => {
    const out = syntheticPerTask(opts);
    expect(Object.keys(out)).toEqual(['a', 'b', 'c']);
    expect(out.a!.size).toBe(300);
    expect(out.b!.size).toBe(120);
    expect(out.c!.size).toBe(50);
    for (const [name, ds] of Object.entries(out)) {
      expect(ds.tasks).toEqual([{ name, type: opts.tasks.find((t) => t.name === name)!.type }]);
      expect(ds.features.length).toBe(ds.size * 8);
      expect(ds.labels[name]!.length).toBe(ds.size);
    }
    // Own input samples: the datasets do not share rows.
    expect(out.a!.features.subarray(0, 8)).not.toEqual(out.b!.features.subarray(0, 8));
  });

  it('is deterministic; a task seed only changes that task', () => {
    const a = syntheticPerTask(opts);
    const b = syntheticPerTask(opts);
    expect(b.a!.features).toEqual(a.a!.features);
    expect(b.c!.labels.c).toEqual(a.c!.labels.c);
    const tasks = opts.tasks.map((t) => (t.name === 'c' ? { ...t, seed: 100 } : t));
    const c = syntheticPerTask({ ...opts, tasks });
    expect(c.a!.features).toEqual(a.a!.features);
    expect(c.c!.features).not.toEqual(a.c!.features);
  });

  it('shares the label-function family with syntheticMmoe of the same seed', () => {
    // Task seed = top-level seed = 5: same family, same x stream, same noise stream as the
    // joint dataset's first task, hence identical data.
    const tasks = [
      { name: 'a', type: 'regression' as const, numExamples: 50, seed: 5 },
      { name: 'b', type: 'regression' as const, numExamples: 30 },
    ];
    const per = syntheticPerTask({ tasks, seed: 5 });
    const joint = syntheticMmoe({ tasks: reg2, numExamples: 50, seed: 5 });
    expect(per.a!.features).toEqual(joint.features);
    expect(per.a!.labels.a).toEqual(joint.labels.a);
    // The family comes from the top-level seed: change it and the same x gets other labels.
    const other = syntheticPerTask({ tasks, seed: 6 });
    expect(other.a!.features).toEqual(joint.features);
    expect(other.a!.labels.a).not.toEqual(joint.labels.a);
  });
});
