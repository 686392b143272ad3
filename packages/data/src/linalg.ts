import type { Rng } from './rng';

/**
 * k orthonormal vectors in R^d from seeded Gaussian draws (modified Gram-Schmidt).
 * Gaussian directions are uniform on the sphere, so the basis has no preferred axis.
 */
export function randomOrthonormal(k: number, d: number, rng: Rng): Float64Array[] {
  if (k > d) throw new RangeError(`cannot draw ${k} orthonormal vectors in dimension ${d}`);
  const out: Float64Array[] = [];
  while (out.length < k) {
    const v = new Float64Array(d);
    for (let j = 0; j < d; j++) v[j] = rng.normal();
    for (const u of out) {
      const proj = dot(u, v);
      for (let j = 0; j < d; j++) v[j]! -= proj * u[j]!;
    }
    const norm = Math.sqrt(dot(v, v));
    // A draw (numerically) inside the span so far is astronomically rare; just redraw.
    if (norm < 1e-6) continue;
    for (let j = 0; j < d; j++) v[j]! /= norm;
    out.push(v);
  }
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
