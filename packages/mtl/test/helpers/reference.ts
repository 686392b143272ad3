// Float64 reference forward pass and losses in plain JS, written independently of the tf
// code, for finite-difference gradient checks.
import type { Batch, ModelSpec, ParamEntry } from '../../src';

// erf via its Maclaurin series / continued fraction is overkill here; this rational
// approximation (W. J. Cody style, |err| < 1.2e-7) is smooth, good enough for FD checks.
function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y =
    1 -
    t *
      Math.exp(
        -x * x -
          1.26551223 +
          t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
      );
  return x >= 0 ? y : -y;
}

export function act(name: ModelSpec['activation'], z: number): number {
  switch (name) {
    case 'relu': return Math.max(0, z);
    case 'tanh': return Math.tanh(z);
    case 'sigmoid': return 1 / (1 + Math.exp(-z));
    case 'elu': return z > 0 ? z : Math.exp(z) - 1;
    case 'gelu': return 0.5 * z * (1 + erf(z / Math.SQRT2));
    case 'linear': return z;
  }
}

function dense(p: Float64Array | Float32Array, layout: ParamEntry[], name: string, x: number[], a: ModelSpec['activation'] | null): number[] {
  const k = layout.find((e) => e.name === `${name}/kernel`)!;
  const b = layout.find((e) => e.name === `${name}/bias`)!;
  const [inD, outD] = k.shape;
  const out: number[] = [];
  for (let j = 0; j < outD; j++) {
    let s = p[b.offset + j];
    for (let i = 0; i < inD; i++) s += x[i] * p[k.offset + i * outD + j];
    out.push(a ? act(a, s) : s);
  }
  return out;
}

function softmax(z: number[]): number[] {
  const top = Math.max(...z);
  const ex = z.map((v) => Math.exp(v - top));
  const sum = ex.reduce((a, b) => a + b, 0);
  return ex.map((v) => v / sum);
}

/**
 * CGC and PLE (Tang et al., RecSys 2020) from the paper, level by level: at level k the shared
 * experts read the shared input and task t's experts read t's input; t's gate (softmax from t's
 * input) mixes the shared experts and t's own into t's next input; below the last level the shared
 * gate (softmax from the shared input) mixes every expert into the next shared input. Level 0 reads
 * x everywhere. CGC is one level whose layer names have no level prefix.
 */
function refExtraction(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, x: number[], levels: number, prefix: (k: number) => string): Record<string, number[]> {
  const S = spec.experts ?? 4;
  const Et = spec.taskExperts ?? 1;
  const expert = (name: string, input: number[]) => {
    let h = input;
    spec.trunk.forEach((_, i) => (h = dense(p, layout, `${name}_${i}`, h, spec.activation)));
    return h;
  };
  const gated = (gate: string, selector: number[], outs: number[][]) => {
    const g = softmax(dense(p, layout, gate, selector, null));
    if (g.length !== outs.length) throw new Error(`gate ${gate} has ${g.length} outputs for ${outs.length} experts`);
    return outs[0]!.map((_, j) => outs.reduce((s, h, e) => s + g[e]! * h[j]!, 0));
  };
  let shared = x;
  let own = spec.tasks.map(() => x);
  for (let k = 0; k < levels; k++) {
    const pre = prefix(k);
    const sharedOut = Array.from({ length: S }, (_, e) => expert(`${pre}expert_${e}`, shared));
    const taskOut = spec.tasks.map((t, ti) => Array.from({ length: Et }, (_, e) => expert(`${pre}${t.name}_expert_${e}`, own[ti]!)));
    const next = spec.tasks.map((t, ti) => gated(`${pre}${t.name}_gate`, own[ti]!, [...sharedOut, ...taskOut[ti]!]));
    if (k < levels - 1) shared = gated(`${pre}gate`, shared, [...sharedOut, ...taskOut.flat()]);
    own = next;
  }
  const out: Record<string, number[]> = {};
  spec.tasks.forEach((t, ti) => {
    let z = own[ti]!;
    (spec.head ?? []).forEach((_, i) => (z = dense(p, layout, `${t.name}_head_${i}`, z, spec.activation)));
    out[t.name] = dense(p, layout, t.name, z, null);
  });
  return out;
}

function tower(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, task: string, h: number[]): number[] {
  let z = h;
  (spec.head ?? []).forEach((_, i) => (z = dense(p, layout, `${task}_head_${i}`, z, spec.activation)));
  return dense(p, layout, task, z, null);
}

/** DSelect-k's smooth-step function (Hazimeh et al., NeurIPS 2021), piecewise as the paper writes it. */
export function smoothStep(t: number, gamma: number): number {
  if (t <= -gamma / 2) return 0;
  if (t >= gamma / 2) return 1;
  return (-2 / gamma ** 3) * t ** 3 + (3 / (2 * gamma)) * t + 0.5;
}

/**
 * DSelect-k's per-example gate of one task from the paper: k selectors, selector i with m = log2(E)
 * logits z_i (row i of the `<task>_gate_z` output, selector-major) and weight logit alpha_i (from
 * `<task>_gate_w`); selector i's weight on expert e is prod_j S(z_ij) where e's binary digit j
 * (j = 0 the most significant) is 1, else 1 - S(z_ij); the gate is sum_i softmax(alpha)_i r_i.
 */
export function refDselectGate(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, task: string, x: number[]): number[] {
  const E = spec.experts ?? 4;
  const k = spec.k ?? 2;
  const gamma = spec.gamma ?? 1;
  const m = Math.round(Math.log2(E));
  const z = dense(p, layout, `${task}_gate_z`, x, null);
  const alpha = softmax(dense(p, layout, `${task}_gate_w`, x, null));
  const q = new Array<number>(E).fill(0);
  for (let i = 0; i < k; i++) {
    for (let e = 0; e < E; e++) {
      let r = 1;
      for (let j = 0; j < m; j++) {
        const bit = (e >> (m - 1 - j)) & 1;
        const S = smoothStep(z[i * m + j]!, gamma);
        r *= bit ? S : 1 - S;
      }
      q[e]! += alpha[i]! * r;
    }
  }
  return q;
}

/** x @ kernel of a bias-free layer (its bias entry is empty). */
function denseNoBias(p: Float64Array | Float32Array, layout: ParamEntry[], name: string, x: number[]): number[] {
  const k = layout.find((e) => e.name === `${name}/kernel`)!;
  const b = layout.find((e) => e.name === `${name}/bias`)!;
  if (b.size !== 0) throw new Error(`${name} has a bias`);
  const [inD, outD] = k.shape;
  return Array.from({ length: outD }, (_, j) => x.reduce((s, v, i) => s + v * p[k.offset + i * outD + j], 0));
}

/**
 * Cross-stitch networks (Misra et al., CVPR 2016) from the paper: one column per task; after hidden
 * layer l, unit l mixes the columns unit by unit, x~_t = sum_u alpha^l_tu x_u, where row t of alpha^l
 * is the kernel [T, 1] of `stitch_<l>_<task t>`; task t's tower reads x~_t after the last unit.
 */
function refCrossStitch(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, x: number[]): Record<string, number[]> {
  const names = spec.tasks.map((t) => t.name);
  let inputs = names.map(() => x);
  spec.trunk.forEach((_, l) => {
    const hs = names.map((t, ti) => dense(p, layout, `${t}_column_${l}`, inputs[ti]!, spec.activation));
    inputs = names.map((t) => hs[0]!.map((_, d) => denseNoBias(p, layout, `stitch_${l}_${t}`, hs.map((h) => h[d]!))[0]!));
  });
  return Object.fromEntries(names.map((t, ti) => [t, tower(spec, layout, p, t, inputs[ti]!)]));
}

/** Logits per task for one example. */
export function refLogits(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, x: number[]): Record<string, number[]> {
  if (spec.architecture === 'cross-stitch') return refCrossStitch(spec, layout, p, x);
  if (spec.architecture === 'dselect-k') {
    // MMoE's experts and towers; the gate is DSelect-k's.
    const experts = Array.from({ length: spec.experts ?? 4 }, (_, e) => {
      let h = x;
      spec.trunk.forEach((_, i) => (h = dense(p, layout, `expert_${e}_${i}`, h, spec.activation)));
      return h;
    });
    const out: Record<string, number[]> = {};
    for (const t of spec.tasks) {
      const q = refDselectGate(spec, layout, p, t.name, x);
      out[t.name] = tower(spec, layout, p, t.name, experts[0]!.map((_, j) => experts.reduce((s, h, e) => s + q[e]! * h[j]!, 0)));
    }
    return out;
  }
  if (spec.architecture === 'cgc') return refExtraction(spec, layout, p, x, 1, () => '');
  if (spec.architecture === 'ple') return refExtraction(spec, layout, p, x, spec.levels ?? 2, (k) => `l${k}_`);
  if (spec.architecture === 'mmoe') {
    // Experts over the input; per task a softmax gate over them from the input, the gated sum, the tower.
    const experts = Array.from({ length: spec.experts ?? 4 }, (_, e) => {
      let h = x;
      spec.trunk.forEach((_, i) => (h = dense(p, layout, `expert_${e}_${i}`, h, spec.activation)));
      return h;
    });
    const out: Record<string, number[]> = {};
    for (const t of spec.tasks) {
      const z0 = dense(p, layout, `${t.name}_gate`, x, null);
      const top = Math.max(...z0);
      const ex = z0.map((v) => Math.exp(v - top));
      const sum = ex.reduce((a, b) => a + b, 0);
      let z = experts[0]!.map((_, j) => experts.reduce((s, h, e) => s + (ex[e]! / sum) * h[j]!, 0));
      (spec.head ?? []).forEach((_, i) => (z = dense(p, layout, `${t.name}_head_${i}`, z, spec.activation)));
      out[t.name] = dense(p, layout, t.name, z, null);
    }
    return out;
  }
  let h = x;
  spec.trunk.forEach((_, i) => (h = dense(p, layout, `trunk_${i}`, h, spec.activation)));
  const out: Record<string, number[]> = {};
  for (const t of spec.tasks) {
    let z = h;
    (spec.head ?? []).forEach((_, i) => (z = dense(p, layout, `${t.name}_head_${i}`, z, spec.activation)));
    out[t.name] = dense(p, layout, t.name, z, null);
  }
  return out;
}

export function refExampleLoss(type: string, z: number[], y: number): number {
  if (type === 'regression') return (z[0] - y) ** 2;
  if (type === 'binary') return Math.max(z[0], 0) - z[0] * y + Math.log1p(Math.exp(-Math.abs(z[0])));
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return lse - z[y];
}

/** Per-task masked loss sums. */
export function refLossSums(spec: ModelSpec, layout: ParamEntry[], p: Float64Array | Float32Array, batch: Batch): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const t of spec.tasks) sums[t.name] = 0;
  for (let i = 0; i < batch.n; i++) {
    const x = Array.from(batch.x.subarray(i * batch.inputDim, (i + 1) * batch.inputDim));
    const logits = refLogits(spec, layout, p, x);
    for (const t of spec.tasks) {
      const labels = batch.labels[t.name];
      if (!labels) continue;
      const m = batch.mask[t.name]?.[i] ?? 1;
      if (m === 0) continue;
      sums[t.name] += m * refExampleLoss(t.type, logits[t.name], labels[i]);
    }
  }
  return sums;
}

/** Central finite-difference gradient of sum_t w_t * lossSum_t in float64. */
export function fdGrad(spec: ModelSpec, layout: ParamEntry[], params: Float32Array, batch: Batch, w: Record<string, number>, h = 1e-6): Float64Array {
  const p = Float64Array.from(params);
  const f = () => {
    const s = refLossSums(spec, layout, p, batch);
    return Object.keys(w).reduce((acc, t) => acc + w[t] * (s[t] ?? 0), 0);
  };
  const g = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const orig = p[i];
    p[i] = orig + h;
    const up = f();
    p[i] = orig - h;
    const down = f();
    p[i] = orig;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Deterministic test data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

export function makeBatch(spec: ModelSpec, n: number, seed: number, maskEvery = 0): Batch {
  const r = lcg(seed);
  const x = Float32Array.from({ length: n * spec.inputDim }, () => 2 * r() - 1);
  const labels: Record<string, Float32Array> = {};
  const mask: Record<string, Float32Array> = {};
  spec.tasks.forEach((t, ti) => {
    const y = new Float32Array(n);
    const m = new Float32Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      if (t.type === 'regression') y[i] = 2 * r() - 1;
      else if (t.type === 'binary') y[i] = r() < 0.5 ? 0 : 1;
      else y[i] = Math.floor(r() * Number(t.type.split(':')[1]));
      if (maskEvery && (i + ti) % maskEvery === 0) {
        m[i] = 0;
        y[i] = NaN; // unlabelled rows may carry garbage; it must not leak into the loss
      }
    }
    labels[t.name] = y;
    mask[t.name] = m;
  });
  return { n, inputDim: spec.inputDim, x, labels, mask };
}

/** Rows [from, to) of a batch. */
export function sliceBatch(b: Batch, from: number, to: number): Batch {
  const labels: Record<string, Float32Array> = {};
  const mask: Record<string, Float32Array> = {};
  for (const k of Object.keys(b.labels)) labels[k] = b.labels[k].slice(from, to);
  for (const k of Object.keys(b.mask)) mask[k] = b.mask[k].slice(from, to);
  return { n: to - from, inputDim: b.inputDim, x: b.x.slice(from * b.inputDim, to * b.inputDim), labels, mask };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
