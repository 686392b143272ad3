// Vector helpers the stacked aggregators share: float64 accumulation in a fixed order, so every
// rank gets the same bits.
/** Outside the shared range a parameter belongs to one head: the sum over tasks is that head's gradient. */
function addHeads(stacked: Float32Array, numTasks: number, lo: number, hi: number, out: Float32Array): void {
  const P = out.length;
  out.fill(0);
  for (let t = 0; t < numTasks; t++) {
    const base = t * P;
    for (let i = 0; i < lo; i++) out[i] += stacked[base + i]!;
    for (let i = hi; i < P; i++) out[i] += stacked[base + i]!;
  }
}

/**
 * What every stacked aggregator does first: check the stacked buffer's length, write the heads'
 * gradients (outside the shared range at most one task's gradient is non-zero, so their sum is
 * that gradient) into `out`, and return the shared range [lo, hi) and P.
 */
export function stackedHeads(
  name: string,
  stacked: Float32Array,
  numTasks: number,
  shared: { offset: number; size: number },
  out: Float32Array,
): { P: number; lo: number; hi: number } {
  const P = out.length;
  if (stacked.length !== numTasks * P) throw new Error(`${name}: stacked gradients hold ${stacked.length} values, expected ${numTasks}*${P}`);
  const lo = shared.offset;
  const hi = shared.offset + shared.size;
  addHeads(stacked, numTasks, lo, hi, out);
  return { P, lo, hi };
}

/** The Gram matrix (T x T, row-major) of the tasks' gradients over the shared range, in float64. */
export function sharedGram(stacked: Float32Array, numTasks: number, P: number, lo: number, hi: number): Float64Array {
  const T = numTasks;
  const G = new Float64Array(T * T);
  for (let a = 0; a < T; a++) {
    for (let b = a; b < T; b++) {
      G[a * T + b] = G[b * T + a] = dot32(stacked.subarray(a * P + lo, a * P + hi), stacked.subarray(b * P + lo, b * P + hi));
    }
  }
  return G;
}

// One function per pair of array types, so each loop stays monomorphic.
export function dot64(a: Float64Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function dot32(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** out[lo..hi) = sum_t alpha_t g_t over the shared range, accumulated in float64 in task order. */
export function weightedShared(stacked: Float32Array, numTasks: number, P: number, lo: number, hi: number, alpha: Float64Array, out: Float32Array): void {
  for (let i = lo; i < hi; i++) {
    let s = 0;
    for (let t = 0; t < numTasks; t++) s += alpha[t]! * stacked[t * P + i]!;
    out[i] = s;
  }
}

/**
 * The stacked combination of the weightings that only need the Gram matrix of the shared
 * gradients (MGDA, IMTL-G, Aligned-MTL, Nash-MTL, FairGrad, GradVac): each head keeps its own
 * task's gradient, the shared range gets sum_t alpha_t g_t with alpha = weightsOf(G). Returns alpha.
 */
export function combineByGram(
  name: string,
  stacked: Float32Array,
  numTasks: number,
  shared: { offset: number; size: number },
  out: Float32Array,
  weightsOf: (G: Float64Array) => Float64Array,
): Float64Array {
  const { P, lo, hi } = stackedHeads(name, stacked, numTasks, shared, out);
  const alpha = weightsOf(sharedGram(stacked, numTasks, P, lo, hi));
  weightedShared(stacked, numTasks, P, lo, hi, alpha, out);
  return alpha;
}
