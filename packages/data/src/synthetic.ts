// Synthetic multi-task regression/classification data with controllable task relatedness,
// after the MMoE paper (Ma et al., KDD 2018, "Synthetic data"), generalised from 2 to T tasks.
import { dot, randomOrthonormal } from './linalg';
import { deriveSeed, Rng } from './rng';
import { numClasses, validateTasks } from './task';
import { DataError, type Dataset, type TaskSpec } from './types';

export interface SyntheticOptions {
  tasks: TaskSpec[];
  numExamples: number;
  /** default 16 */
  inputDim?: number;
  /** cosine between any two tasks' weight vectors, default 0.5 */
  correlation?: number;
  /** default 5 */
  numSinusoids?: number;
  /** label noise standard deviation, default 0.1 */
  noise?: number;
  /** the paper's c: norm of every weight vector, default 1 */
  scale?: number;
  seed: number;
  /** fraction of labels masked out per task, default 0 */
  missingRate?: number;
}

/** The label-function family shared by all tasks: one weight vector per task plus the sinusoids. */
interface Family {
  weights: Float64Array[];
  alpha: Float64Array;
  beta: Float64Array;
}

/**
 * Weight vectors whose pairwise cosine is exactly p.
 *
 * Take T orthonormal q_1..q_T (Gram-Schmidt on seeded Gaussians). Let
 *   u_0 = (1/sqrt T) * sum_s q_s            (shared unit direction)
 *   z_t = (q_t - mean_s q_s) / sqrt(1-1/T)  (task-specific unit directions)
 * Each z_t is orthogonal to u_0, and z_s . z_t = -1/(T-1) for s != t (centred simplex).
 * With w_t = c (a u_0 + b z_t), a^2 + b^2 = 1:
 *   cos(w_s, w_t) = a^2 - b^2/(T-1)  =>  a^2 = ((T-1) p + 1) / T.
 * For T = 2 this is the paper's pair (any p in [-1, 1]); in general every p in
 * [-1/(T-1), 1] is reachable, which is exactly where an equicorrelated set of T
 * vectors exists. Needs inputDim >= T.
 */
function buildFamily(T: number, d: number, p: number, m: number, c: number, seed: number): Family {
  if (d < T) throw new DataError(`synthetic: inputDim (${d}) must be at least the number of tasks (${T})`);
  const minP = T > 1 ? -1 / (T - 1) : -1;
  if (!(p >= minP - 1e-12 && p <= 1)) {
    throw new DataError(`synthetic: correlation ${p} is out of range [${minP}, 1] for ${T} tasks`);
  }
  const rng = new Rng(deriveSeed(seed, 'family'));
  const q = randomOrthonormal(T, d, rng);
  const u0 = new Float64Array(d);
  for (const v of q) for (let j = 0; j < d; j++) u0[j]! += v[j]! / Math.sqrt(T);
  const a2 = Math.min(1, Math.max(0, ((T - 1) * p + 1) / T));
  const a = Math.sqrt(a2);
  const b = Math.sqrt(1 - a2);
  const weights = q.map((qt) => {
    const w = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      // T = 1: z_t is 0/0; a = 1 and b = 0 then, so w = c * u_0 = c * q_1.
      const z = T > 1 ? (qt[j]! - u0[j]! / Math.sqrt(T)) / Math.sqrt(1 - 1 / T) : 0;
      w[j] = c * (a * u0[j]! + b * z);
    }
    return w;
  });
  // Paper: alpha_i, beta_i ~ N(0, 0.01), i.e. standard deviation 0.1, shared by all tasks.
  const alpha = new Float64Array(m);
  const beta = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    alpha[i] = 0.1 * rng.normal();
    beta[i] = 0.1 * rng.normal();
  }
  return { weights, alpha, beta };
}

/** Raw (continuous) targets for given weight vectors; x ~ N(0, I) stored as float32. */
function sampleRows(
  fam: Family,
  taskIdx: number[],
  n: number,
  d: number,
  noise: number,
  seed: number,
): { features: Float32Array; raw: Float64Array[] } {
  const features = new Float32Array(n * d);
  const xr = new Rng(deriveSeed(seed, 'features'));
  for (let i = 0; i < features.length; i++) features[i] = xr.normal();
  const raw = taskIdx.map((t, k) => {
    const w = fam.weights[t]!;
    // Own noise stream per task, so the noise level never changes the features.
    const nr = new Rng(deriveSeed(seed, 'noise', k));
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // Labels are computed from the stored float32 features: the target is an exact
      // function of what the model sees.
      const z = dot(w, features.subarray(i * d, i * d + d));
      let s = z;
      for (let j = 0; j < fam.alpha.length; j++) s += Math.sin(fam.alpha[j]! * z + fam.beta[j]!);
      y[i] = s + noise * nr.normal();
    }
    return y;
  });
  return { features, raw };
}

/**
 * Regression keeps the value. Binary and multiclass:K bucket by rank into K equal-count
 * groups (binary = above/below the sample median), so classes are balanced on this sample;
 * thresholds are taken after noise is added, as for any observed label.
 */
function toLabels(raw: Float64Array, classes: number): Float32Array {
  const n = raw.length;
  if (classes === 0) return Float32Array.from(raw);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => raw[i]! - raw[j]! || i - j); // index tiebreak keeps it deterministic
  const out = new Float32Array(n);
  for (let r = 0; r < n; r++) out[order[r]!] = Math.floor((r * classes) / n);
  return out;
}

/** Masks exactly round(rate * n) labels, chosen by a seeded partial Fisher-Yates. */
function missingMask(n: number, rate: number, seed: number): Uint8Array {
  const mask = new Uint8Array(n).fill(1);
  const k = Math.round(rate * n);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const rng = new Rng(seed);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
    mask[idx[i]!] = 0;
  }
  return mask;
}

function checkCommon(n: number, d: number, m: number, noise: number, c: number): void {
  if (!Number.isInteger(n) || n < 1) throw new DataError(`synthetic: numExamples must be a positive integer, got ${n}`);
  if (!Number.isInteger(d) || d < 1) throw new DataError(`synthetic: inputDim must be a positive integer, got ${d}`);
  if (!Number.isInteger(m) || m < 0) throw new DataError(`synthetic: numSinusoids must be a non-negative integer, got ${m}`);
  if (!(noise >= 0) || !Number.isFinite(noise)) throw new DataError(`synthetic: noise must be >= 0, got ${noise}`);
  if (!Number.isFinite(c)) throw new DataError(`synthetic: scale must be finite, got ${c}`);
}

/** Distributed variant: one dataset, every example labelled for every task (minus missingRate). */
export function syntheticMmoe(opts: SyntheticOptions): Dataset {
  const tasks = opts.tasks;
  validateTasks(tasks);
  const n = opts.numExamples;
  const d = opts.inputDim ?? 16;
  const m = opts.numSinusoids ?? 5;
  const noise = opts.noise ?? 0.1;
  const c = opts.scale ?? 1;
  const rate = opts.missingRate ?? 0;
  checkCommon(n, d, m, noise, c);
  if (!(rate >= 0 && rate <= 1)) throw new DataError(`synthetic: missingRate must be in [0, 1], got ${rate}`);

  const fam = buildFamily(tasks.length, d, opts.correlation ?? 0.5, m, c, opts.seed);
  const { features, raw } = sampleRows(fam, tasks.map((_, t) => t), n, d, noise, opts.seed);
  const labels: Record<string, Float32Array> = {};
  const mask: Record<string, Uint8Array> = {};
  tasks.forEach((task, t) => {
    const y = toLabels(raw[t]!, numClasses(task));
    if (rate > 0) {
      const mk = missingMask(n, rate, deriveSeed(opts.seed, 'missing', t));
      // Zero the hidden values: nothing downstream can learn from a masked label by accident.
      for (let i = 0; i < n; i++) if (mk[i] === 0) y[i] = 0;
      mask[task.name] = mk;
    }
    labels[task.name] = y;
  });
  const ds: Dataset = { name: 'synthetic-mmoe', size: n, inputDim: d, features, tasks: tasks.map((t) => ({ ...t })), labels };
  if (rate > 0) ds.mask = mask;
  return ds;
}

/**
 * Parallel variant: one single-task dataset per task, each with its own size and input
 * sample (task.seed, or one derived from seed and the task name), all drawn from the same
 * label-function family (weights and sinusoids from `seed`), so the tasks stay related
 * exactly as in syntheticMmoe with the same seed.
 */
export function syntheticPerTask(opts: {
  tasks: (TaskSpec & { numExamples: number; seed?: number })[];
  inputDim?: number;
  correlation?: number;
  noise?: number;
  numSinusoids?: number;
  scale?: number;
  seed: number;
}): Record<string, Dataset> {
  const tasks = opts.tasks;
  validateTasks(tasks);
  const d = opts.inputDim ?? 16;
  const m = opts.numSinusoids ?? 5;
  const noise = opts.noise ?? 0.1;
  const c = opts.scale ?? 1;
  for (const t of tasks) checkCommon(t.numExamples, d, m, noise, c);

  const fam = buildFamily(tasks.length, d, opts.correlation ?? 0.5, m, c, opts.seed);
  const out: Record<string, Dataset> = {};
  tasks.forEach((task, t) => {
    const seed = task.seed ?? deriveSeed(opts.seed, 'task', task.name);
    const n = task.numExamples;
    const { features, raw } = sampleRows(fam, [t], n, d, noise, seed);
    const spec: TaskSpec = { name: task.name, type: task.type };
    out[task.name] = {
      name: `synthetic-${task.name}`,
      size: n,
      inputDim: d,
      features,
      tasks: [spec],
      labels: { [task.name]: toLabels(raw[0]!, numClasses(spec)) },
    };
  });
  return out;
}
