import { describe, expect, it } from 'vitest';
import { createOptimizer, type OptimizerSpec } from '../src';

// Hand-written PyTorch update formulas (torch.optim.SGD / Adam, dampening 0), in float64.
function torchSgd(p: number[], grads: number[][], s: OptimizerSpec): number[][] {
  const mu = s.momentum ?? 0, wd = s.weightDecay ?? 0;
  let buf: number[] | null = null;
  const out: number[][] = [];
  p = [...p];
  for (const g0 of grads) {
    const g = g0.map((g, i) => g + wd * p[i]);
    let d = g;
    if (mu !== 0) {
      buf = buf === null ? [...g] : buf.map((b, i) => mu * b + g[i]);
      d = s.nesterov ? g.map((gi, i) => gi + mu * buf![i]) : buf;
    }
    p = p.map((pi, i) => pi - s.lr * d[i]);
    out.push(p);
  }
  return out;
}

function torchAdam(p: number[], grads: number[][], s: OptimizerSpec): number[][] {
  const b1 = s.beta1 ?? 0.9, b2 = s.beta2 ?? 0.999, eps = s.eps ?? 1e-8, wd = s.weightDecay ?? 0;
  let m = p.map(() => 0), v = p.map(() => 0);
  const out: number[][] = [];
  p = [...p];
  grads.forEach((g0, k) => {
    const t = k + 1;
    const g = g0.map((g, i) => g + wd * p[i]);
    m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
    v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
    const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
    p = p.map((pi, i) => pi - (s.lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
    out.push(p);
  });
  return out;
}

const p0 = [0.5, -1.25, 2, 0.1];
const grads = [
  [0.1, -0.2, 0.3, 0],
  [-0.05, 0.4, 0.1, 1e-3],
  [0.2, 0.2, -0.6, -0.5],
  [0.0, -0.1, 0.05, 0.25],
];

function run(spec: OptimizerSpec): number[][] {
  const opt = createOptimizer([{ offset: 0, size: 4, spec }]);
  const p = Float32Array.from(p0);
  return grads.map((g) => {
    opt.step(p, Float32Array.from(g));
    return Array.from(p);
  });
}

function expectClose(a: number[][], b: number[][], tol = 1e-6) {
  a.forEach((row, k) => row.forEach((v, i) => expect(Math.abs(v - b[k][i])).toBeLessThan(tol)));
}

describe('optimizers follow PyTorch formulas', () => {
  const sgdCases: OptimizerSpec[] = [
    { name: 'sgd', lr: 0.1 },
    { name: 'sgd', lr: 0.1, momentum: 0.9 },
    { name: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true },
    { name: 'sgd', lr: 0.1, momentum: 0.5, weightDecay: 0.01 },
    { name: 'sgd', lr: 0.1, weightDecay: 0.1 },
  ];
  for (const s of sgdCases) it(`sgd ${JSON.stringify(s)}`, () => expectClose(run(s), torchSgd(p0, grads, s)));

  const adamCases: OptimizerSpec[] = [
    { name: 'adam', lr: 0.01 },
    { name: 'adam', lr: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-6 },
    { name: 'adam', lr: 0.01, weightDecay: 0.05 },
  ];
  for (const s of adamCases) it(`adam ${JSON.stringify(s)}`, () => expectClose(run(s), torchAdam(p0, grads, s)));

  it('adam first step moves each coordinate by about lr * sign(g) (bias correction)', () => {
    const p = Float32Array.from([1, 1]);
    createOptimizer([{ offset: 0, size: 2, spec: { name: 'adam', lr: 0.01 } }]).step(p, Float32Array.from([3, -0.001]));
    expect(p[0]).toBeCloseTo(0.99, 6);
    expect(p[1]).toBeCloseTo(1.01, 4);
  });

  it('nesterov by hand: two steps', () => {
    // lr 0.1, mu 0.9, g1 = 1: buf = 1, d = 1 + 0.9 = 1.9 -> p = -0.19; g2 = 1: buf = 1.9, d = 1 + 1.71 = 2.71 -> p = -0.461
    const opt = createOptimizer([{ offset: 0, size: 1, spec: { name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true } }]);
    const p = Float32Array.from([0]);
    opt.step(p, Float32Array.from([1]));
    expect(p[0]).toBeCloseTo(-0.19, 6);
    opt.step(p, Float32Array.from([1]));
    expect(p[0]).toBeCloseTo(-0.461, 6);
  });
});

describe('parameter groups and state', () => {
  it('gives each group its own optimizer and leaves uncovered params alone', () => {
    const opt = createOptimizer([
      { offset: 0, size: 2, spec: { name: 'sgd', lr: 0.1 } },
      { offset: 3, size: 2, spec: { name: 'adam', lr: 0.01 } },
    ]);
    const p = Float32Array.from([1, 1, 1, 1, 1, 1]);
    opt.step(p, Float32Array.from([1, 2, 3, 4, -5, 6]));
    expect(Array.from(p).map((v) => +v.toFixed(5))).toEqual([0.9, 0.8, 1, 0.99, 1.01, 1]);
    expect(opt.stepCount).toBe(1);
    opt.setLr(0, 0);
    opt.step(p, Float32Array.from([1, 2, 3, 4, -5, 6]));
    expect(+p[0].toFixed(5)).toBe(0.9);
    expect(p[3]).toBeLessThan(0.99);
  });

  it('stepRange over disjoint ranges (any order, crossing groups) equals step() bit for bit', () => {
    const groups = [
      { offset: 0, size: 7, spec: { name: 'sgd' as const, lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 } },
      { offset: 7, size: 9, spec: { name: 'adam' as const, lr: 0.01, weightDecay: 0.001 } },
    ];
    const g = (k: number) => Float32Array.from({ length: 16 }, (_, i) => Math.sin(k * 16 + i) * (i % 3 ? 1 : 1e-3));
    const whole = createOptimizer(groups);
    const ranged = createOptimizer(groups);
    const pw = Float32Array.from({ length: 16 }, (_, i) => i / 7 - 1);
    const pr = pw.slice();
    // Buckets as the trainer reports them: last layer first, one range straddling the group boundary.
    const ranges: Array<[number, number]> = [[12, 4], [5, 7], [0, 5]];
    for (let k = 0; k < 4; k++) {
      whole.step(pw, g(k));
      for (const [o, n] of ranges) ranged.stepRange(pr, g(k), o, n);
      expect(ranged.stepCount).toBe(k);
      ranged.finishStep();
      expect(ranged.stepCount).toBe(k + 1);
    }
    expect(new Uint32Array(pr.buffer)).toEqual(new Uint32Array(pw.buffer));
    expect(ranged.state().buffers).toEqual(whole.state().buffers);
  });

  it('state() / loadState() resumes bit-identically', () => {
    const groups = [
      { offset: 0, size: 4, spec: { name: 'sgd' as const, lr: 0.1, momentum: 0.9 } },
      { offset: 4, size: 4, spec: { name: 'adam' as const, lr: 0.01 } },
    ];
    const g = (k: number) => Float32Array.from({ length: 8 }, (_, i) => Math.sin(k * 8 + i));
    const a = createOptimizer(groups);
    const pa = Float32Array.from({ length: 8 }, (_, i) => i / 10);
    for (let k = 0; k < 3; k++) a.step(pa, g(k));
    const saved = a.state();
    expect(saved.stepCount).toBe(3);
    expect(saved.buffers.map((b) => b.length)).toEqual([4, 4, 4]);
    const b = createOptimizer(groups);
    b.loadState(saved);
    const pb = pa.slice();
    for (let k = 3; k < 6; k++) {
      a.step(pa, g(k));
      b.step(pb, g(k));
    }
    expect(pb).toEqual(pa);
    expect(b.stepCount).toBe(6);
    expect(() => b.loadState({ stepCount: 1, buffers: [] })).toThrow(/buffers/);
  });

  it('validates groups and hyper-parameters', () => {
    expect(() => createOptimizer([])).toThrow();
    expect(() => createOptimizer([{ offset: 0, size: 4, spec: { name: 'sgd', lr: 1 } }, { offset: 3, size: 2, spec: { name: 'sgd', lr: 1 } }])).toThrow(/overlap/);
    expect(() => createOptimizer([{ offset: 0, size: 1, spec: { name: 'sgd', lr: 1, nesterov: true } }])).toThrow(/Nesterov/);
    expect(() => createOptimizer([{ offset: 0, size: 1, spec: { name: 'adam', lr: 1, beta1: 1 } }])).toThrow(/beta1/);
    expect(() => createOptimizer([{ offset: 0, size: 1, spec: { name: 'rmsprop' as 'sgd', lr: 1 } }])).toThrow(/rmsprop/);
    expect(() => createOptimizer([{ offset: 0, size: 4, spec: { name: 'sgd', lr: 1 } }]).step(new Float32Array(2), new Float32Array(2))).toThrow();
  });
});
