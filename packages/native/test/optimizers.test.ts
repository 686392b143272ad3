import { describe, expect, it } from 'vitest';
import { firstBitDiff, native, rng, skipReason, viewAt } from './helpers';

// The JS references, verbatim from the brief (float64 math, float32 on store).
function adamJs(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  lr: number, b1: number, b2: number, eps: number, wd: number, t: number,
): void {
  const n = p.length;
  const stepSize = lr / (1 - Math.pow(b1, t));
  const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, t));
  const c1 = 1 - b1, c2 = 1 - b2;
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = g[i]! + wd * pi;
    const mi = b1 * m[i]! + c1 * gi;
    const vi = b2 * v[i]! + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
}

function sgdJs(
  p: Float32Array, g: Float32Array, buf: Float32Array | null,
  lr: number, mu: number, wd: number, nesterov: boolean,
): void {
  const n = p.length;
  if (mu === 0) {
    for (let i = 0; i < n; i++) p[i] = p[i]! - lr * (g[i]! + wd * p[i]!);
  } else {
    for (let i = 0; i < n; i++) {
      const gi = g[i]! + wd * p[i]!;
      const b = (buf![i] = mu * buf![i]! + gi);
      p[i] = p[i]! - lr * (nesterov ? gi + mu * b : b);
    }
  }
}

/** Values with zeros, signs, tiny (incl. subnormal) and large magnitudes. */
function nasty(len: number, seed: number, nonNegative = false): Float32Array {
  const rand = rng(seed);
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    const r = rand();
    let x: number;
    if (r < 0.1) x = 0;
    else if (r < 0.15) x = 1e-40 * rand(); // subnormal
    else if (r < 0.25) x = 1e-20 * rand();
    else if (r < 0.3) x = 1e15 * rand();
    else if (r < 0.35) x = 1 + rand() * 1e-6;
    else x = (rand() - 0.5) * 4;
    out[i] = nonNegative ? Math.abs(x) : rand() < 0.5 ? -x : x;
  }
  return out;
}

function copyAt(x: Float32Array, off: number): Float32Array {
  const v = viewAt(x.length, off);
  v.set(x);
  return v;
}

const LENGTHS = [0, 1, 3, 4, 5, 17, 1003, 4096];

describe.skipIf(!native)(`adamUpdate is bit-identical to the JS reference${skipReason}`, () => {
  const configs = [
    { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, t: 1 },
    { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0, t: 1000 },
    { lr: 3e-4, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, t: 1 },
    { lr: 3e-4, b1: 0.85, b2: 0.98, eps: 1e-6, wd: 0.1, t: 1000 },
    { lr: 0.1, b1: 0.5, b2: 0.9, eps: 1e-12, wd: 1e-4, t: 7 },
  ];
  for (const [ci, c] of configs.entries()) {
    it(`lr=${c.lr} b1=${c.b1} b2=${c.b2} eps=${c.eps} wd=${c.wd} t=${c.t}`, () => {
      for (const [li, n] of LENGTHS.entries()) {
        const seed = 100 * ci + 10 * li;
        const p0 = nasty(n, seed), g0 = nasty(n, seed + 1), m0 = nasty(n, seed + 2), v0 = nasty(n, seed + 3, true);
        const [p1, g1, m1, v1] = [p0.slice(), g0.slice(), m0.slice(), v0.slice()];
        adamJs(p1, g1, m1, v1, c.lr, c.b1, c.b2, c.eps, c.wd, c.t);
        // Native on views at odd offsets; run two steps to also cover state fed back.
        const [p2, g2, m2, v2] = [copyAt(p0, 1), copyAt(g0, 3), copyAt(m0, 5), copyAt(v0, 2)];
        native!.adamUpdate(p2, g2, m2, v2, c.lr, c.b1, c.b2, c.eps, c.wd, c.t);
        expect(firstBitDiff(p2, p1), `p, n=${n}`).toBe(-1);
        expect(firstBitDiff(m2, m1), `m, n=${n}`).toBe(-1);
        expect(firstBitDiff(v2, v1), `v, n=${n}`).toBe(-1);
        expect(firstBitDiff(g2, g0), `g unchanged, n=${n}`).toBe(-1);
        adamJs(p1, g1, m1, v1, c.lr, c.b1, c.b2, c.eps, c.wd, c.t + 1);
        native!.adamUpdate(p2, g2, m2, v2, c.lr, c.b1, c.b2, c.eps, c.wd, c.t + 1);
        expect(firstBitDiff(p2, p1), `p step 2, n=${n}`).toBe(-1);
        expect(firstBitDiff(m2, m1), `m step 2, n=${n}`).toBe(-1);
        expect(firstBitDiff(v2, v1), `v step 2, n=${n}`).toBe(-1);
      }
    });
  }

  it('throws on length mismatch, naming the argument', () => {
    const f = (len: number) => new Float32Array(len);
    expect(() => native!.adamUpdate(f(4), f(4), f(3), f(4), 1e-3, 0.9, 0.999, 1e-8, 0, 1)).toThrow(
      /adamUpdate: argument 'm' has length 3, expected p.length = 4/,
    );
    expect(() => native!.adamUpdate(f(4), f(5), f(4), f(4), 1e-3, 0.9, 0.999, 1e-8, 0, 1)).toThrow(/argument 'g'/);
  });
});

describe.skipIf(!native)(`sgdUpdate is bit-identical to the JS reference${skipReason}`, () => {
  const configs = [
    { lr: 0.1, mu: 0, wd: 0, nesterov: false },
    { lr: 0.01, mu: 0, wd: 5e-4, nesterov: false },
    { lr: 0.1, mu: 0.9, wd: 0, nesterov: false },
    { lr: 0.1, mu: 0.9, wd: 0, nesterov: true },
    { lr: 0.03, mu: 0.99, wd: 1e-2, nesterov: false },
    { lr: 0.03, mu: 0.5, wd: 1e-2, nesterov: true },
  ];
  for (const [ci, c] of configs.entries()) {
    it(`lr=${c.lr} momentum=${c.mu} wd=${c.wd} nesterov=${c.nesterov}`, () => {
      for (const [li, n] of LENGTHS.entries()) {
        const seed = 1000 + 100 * ci + 10 * li;
        const p0 = nasty(n, seed), g0 = nasty(n, seed + 1), b0 = nasty(n, seed + 2);
        const p1 = p0.slice(), b1 = b0.slice();
        const p2 = copyAt(p0, 3), g2 = copyAt(g0, 1), b2 = copyAt(b0, 7);
        for (let step = 0; step < 2; step++) {
          sgdJs(p1, g0, c.mu === 0 ? null : b1, c.lr, c.mu, c.wd, c.nesterov);
          native!.sgdUpdate(p2, g2, c.mu === 0 ? null : b2, c.lr, c.mu, c.wd, c.nesterov);
          expect(firstBitDiff(p2, p1), `p, n=${n} step ${step}`).toBe(-1);
          expect(firstBitDiff(b2, b1), `buf, n=${n} step ${step}`).toBe(-1);
        }
      }
    });
  }

  it('momentum 0 ignores buf; momentum != 0 requires it', () => {
    const f = (len: number) => new Float32Array(len);
    const buf = new Float32Array([1, 2, 3]);
    native!.sgdUpdate(f(3), f(3), buf, 0.1, 0, 0, false);
    expect(Array.from(buf)).toEqual([1, 2, 3]);
    expect(() => native!.sgdUpdate(f(3), f(3), null, 0.1, 0.9, 0, false)).toThrow(
      /sgdUpdate: argument 'buf' must be a Float32Array when momentum != 0/,
    );
    expect(() => native!.sgdUpdate(f(3), f(3), f(2), 0.1, 0.9, 0, false)).toThrow(/argument 'buf' has length 2/);
    expect(() => native!.sgdUpdate(f(3), f(4), null, 0.1, 0, 0, false)).toThrow(/argument 'g' has length 4/);
  });
});
