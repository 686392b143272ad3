import { deriveSeed, Rng } from './rng';
import type { Dataset } from './types';

/** Copies the given rows (in the given order) into a new, independent dataset. */
export function subset(ds: Dataset, indices: Uint32Array): Dataset {
  const n = indices.length;
  const d = ds.inputDim;
  for (let i = 0; i < n; i++) {
    if (indices[i]! >= ds.size) throw new RangeError(`subset: index ${indices[i]} out of range for dataset of size ${ds.size}`);
  }
  const features = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const src = indices[i]! * d;
    features.set(ds.features.subarray(src, src + d), i * d);
  }
  const labels: Record<string, Float32Array> = {};
  const mask: Record<string, Uint8Array> = {};
  for (const t of ds.tasks) {
    const l = ds.labels[t.name]!;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = l[indices[i]!]!;
    labels[t.name] = out;
    const m = ds.mask?.[t.name];
    if (m) {
      const mo = new Uint8Array(n);
      for (let i = 0; i < n; i++) mo[i] = m[indices[i]!]!;
      mask[t.name] = mo;
    }
  }
  const res: Dataset = { name: ds.name, size: n, inputDim: d, features, tasks: ds.tasks.map((t) => ({ ...t })), labels };
  if (ds.mask) res.mask = mask;
  return res;
}

/**
 * Seeded random split: round(valFraction * size) examples go to val. Both parts keep the
 * original row order (sorted indices), which makes them stable and cache-friendly.
 */
export function trainValSplit(ds: Dataset, valFraction: number, seed: number): { train: Dataset; val: Dataset } {
  if (!(valFraction >= 0 && valFraction <= 1)) throw new RangeError(`valFraction must be in [0, 1], got ${valFraction}`);
  const n = ds.size;
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new Rng(deriveSeed(seed, 'split'));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const nVal = Math.round(valFraction * n);
  const val = perm.slice(0, nVal).sort();
  const train = perm.slice(nVal).sort();
  return {
    train: { ...subset(ds, train), name: `${ds.name}:train` },
    val: { ...subset(ds, val), name: `${ds.name}:val` },
  };
}
