// Vector helpers the stacked aggregators share: float64 accumulation in a fixed order, so every
// rank gets the same bits.
/** Outside the shared range a parameter belongs to one head: the sum over tasks is that head's gradient. */
export function addHeads(stacked: Float32Array, numTasks: number, lo: number, hi: number, out: Float32Array): void {
  const P = out.length;
  out.fill(0);
  for (let t = 0; t < numTasks; t++) {
    const base = t * P;
    for (let i = 0; i < lo; i++) out[i] += stacked[base + i]!;
    for (let i = hi; i < P; i++) out[i] += stacked[base + i]!;
  }
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
