import { describe, expect, it } from 'vitest';
import { AlignedMtlAggregator, createAggregator } from '../src/aggregators';
import { symmetricEigen } from '../src/aggregators/aligned';
import { randomGrads } from './helpers/gradients';

const tasks = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, type: 'regression' as const }));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
type Mat = number[][];
const matmul = (A: Mat, B: Mat): Mat => A.map((r) => B[0]!.map((_, c) => r.reduce((s, v, k) => s + v * B[k]![c]!, 0)));
const eye = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const add = (A: Mat, B: Mat, f: number): Mat => A.map((r, i) => r.map((v, j) => f * (v + B[i]![j]!)));

/** Gauss-Jordan inverse with partial pivoting. */
function inverse(A: Mat): Mat {
  const n = A.length;
  const M = A.map((r, i) => [...r, ...eye(n)[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    const d = M[c]![c]!;
    M[c] = M[c]!.map((v) => v / d);
    for (let r = 0; r < n; r++) if (r !== c) M[r] = M[r]!.map((v, k) => v - M[r]![c]! * M[c]![k]!);
  }
  return M.map((r) => r.slice(n));
}

/**
 * An independent reference for a full-rank Gram matrix M: M^{-1/2} by the Denman-Beavers iteration
 * (no eigenvectors), sigma_min = 1 / (largest eigenvalue of M^{-1/2}) by power iteration, and the
 * paper's B = sigma_min M^{-1/2}, alpha = B 1.
 */
function reference(M: Mat): { invSqrt: Mat; sigma: number; alpha: number[] } {
  const n = M.length;
  let Y = M;
  let Z = eye(n);
  for (let k = 0; k < 100; k++) [Y, Z] = [add(Y, inverse(Z), 0.5), add(Z, inverse(Y), 0.5)];
  let v = Array.from({ length: n }, (_, i) => 1 + i / 7);
  let rho = 0;
  for (let k = 0; k < 5000; k++) {
    const w = Z.map((r) => dot(r, v));
    rho = Math.sqrt(dot(w, w));
    v = w.map((x) => x / rho);
  }
  const sigma = 1 / rho;
  return { invSqrt: Z, sigma, alpha: Z.map((r) => sigma * r.reduce((s, x) => s + x, 0)) };
}


function run(gs: number[][], heads = true) {
  const T = gs.length;
  const n = gs[0]!.length;
  const P = n + (heads ? T : 0);
  const stacked = new Float32Array(T * P);
  gs.forEach((g, t) => {
    stacked.set(g, t * P);
    if (heads) stacked[t * P + n + t] = 10 + t;
  });
  const out = new Float32Array(P);
  const agg = createAggregator({ name: 'aligned' }) as AlignedMtlAggregator;
  agg.combine(stacked, T, { offset: 0, size: n }, out, { tasks: tasks(T), step: 0 });
  return { out, d: Array.from(out.subarray(0, n)), weights: Array.from(agg.lastWeights), agg };
}

describe('Aligned-MTL', () => {
  it('the Jacobi eigensolver: M V = V Lambda with V orthonormal, also for repeated eigenvalues', () => {
    const cases: Mat[] = [
      [[4, 1, 2], [1, 3, 0], [2, 0, 5]],
      [[2, 0, 0], [0, 2, 0], [0, 0, 2]],
      [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]],
      (() => {
        const g = randomGrads(4, 6, 5);
        return g.map((a) => g.map((b) => dot(a, b)));
      })(),
    ];
    for (const M of cases) {
      const n = M.length;
      const { values, vectors } = symmetricEigen(Float64Array.from(M.flat()), n);
      const V = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => vectors[r * n + c]!));
      const MV = matmul(M, V);
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) expect(MV[r]![c]!).toBeCloseTo(V[r]![c]! * values[c]!, 10);
      const VtV = matmul(V[0]!.map((_, c) => V.map((row) => row[c]!)), V);
      for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) expect(VtV[r]![c]!).toBeCloseTo(r === c ? 1 : 0, 12);
    }
  });

  for (const T of [2, 3, 4]) {
    it(`T = ${T}: weights B 1 as the paper defines them; the update is the sum of T orthogonal aligned components of norm sigma_min`, () => {
      for (let trial = 0; trial < 8; trial++) {
        const gs = randomGrads(T, 7, 1000 * T + trial + 1);
        const M = gs.map((a) => gs.map((b) => dot(a, b)));
        const ref = reference(M);
        const { out, d, weights } = run(gs);
        for (let t = 0; t < T; t++) expect(weights[t]).toBeCloseTo(ref.alpha[t]!, 8);
        for (let k = 0; k < d.length; k++) expect(d[k]).toBeCloseTo(gs.reduce((s, g, t) => s + ref.alpha[t]! * g[k]!, 0), 5);
        for (let t = 0; t < T; t++) expect(out[7 + t]).toBe(10 + t);
        // The property: with Q = M^{-1/2} G (orthonormal rows spanning the task gradients), the
        // aligned components are sigma_min Q's rows, so the update d = sigma_min Q^T 1 has the same
        // projection sigma_min on each of them and |d|^2 = T sigma_min^2.
        const Q = matmul(ref.invSqrt, gs);
        for (const q of Q) expect(dot(q, d)).toBeCloseTo(ref.sigma, 5);
        expect(dot(d, d)).toBeCloseTo(T * ref.sigma * ref.sigma, 5);
      }
    });
  }

  it('two orthogonal gradients of norms 3 and 1: both aligned to norm 1, weights (1/3, 1)', () => {
    const { d, weights } = run([[3, 0], [0, 1]], false);
    expect(weights[0]).toBeCloseTo(1 / 3, 12);
    expect(weights[1]).toBeCloseTo(1, 12);
    expect(d).toEqual([1, 1]);
  });

  it('rank-deficient gradients (one task twice): the null direction is dropped, no NaN, the kept components aligned', () => {
    const [g, h] = randomGrads(2, 5, 77);
    const { d, weights } = run([g!, g!, h!]);
    expect(weights.every(Number.isFinite)).toBe(true);
    expect(d.every(Number.isFinite)).toBe(true);
    // Rows g, g, h: the non-zero eigenvalues of M are those of [[2 g.g, sqrt2 g.h], [sqrt2 g.h, h.h]],
    // and 1 lies in their eigenspace, so |d|^2 = 3 lambda_min of that 2 x 2 matrix.
    const a = 2 * dot(g!, g!);
    const c = Math.SQRT2 * dot(g!, h!);
    const b = dot(h!, h!);
    const lambdaMin = (a + b) / 2 - Math.sqrt(((a - b) / 2) ** 2 + c * c);
    expect(dot(d, d)).toBeCloseTo(3 * lambdaMin, 4);
    // The duplicated task's two copies are weighted alike.
    expect(weights[0]).toBeCloseTo(weights[1]!, 9);
  });

  it('all-zero gradients: zero update on the trunk, heads kept, no NaN', () => {
    const { out, weights } = run([[0, 0, 0], [0, 0, 0]]);
    expect(Array.from(out)).toEqual([0, 0, 0, 10, 11]);
    expect(weights.every(Number.isFinite)).toBe(true);
  });

  it('one task: its own gradient', () => {
    const { out, weights } = run([[1, -2, 3]]);
    expect(Array.from(out)).toEqual([1, -2, 3, 10]);
    expect(weights[0]).toBeCloseTo(1, 12);
  });
});
