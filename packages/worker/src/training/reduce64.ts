import type { ProcessGroup } from '@mtl/collective';

/**
 * Sum float64 statistics across ranks over a float32 collective: each value travels as a float32 high
 * part and the float32 residual, which keeps about 48 bits of the mantissa instead of 24.
 */
export async function allReduceFloat64(group: ProcessGroup, values: Float64Array): Promise<Float64Array> {
  const n = values.length;
  const buf = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const hi = Math.fround(values[i]!);
    buf[i] = hi;
    buf[n + i] = values[i]! - hi;
  }
  await group.allReduce(buf);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = buf[i]! + buf[n + i]!;
  return out;
}
