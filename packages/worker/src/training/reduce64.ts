import type { ProcessGroup } from '@mtl/collective';

/**
 * Sum float64 statistics across ranks over a float32 collective, exactly: each float64 travels as four
 * 16-bit words (every one exactly representable in float32) through an all-gather, and every rank adds
 * the decoded values in rank order, so all ranks get the same float64 sum.
 */
export async function allReduceFloat64(group: ProcessGroup, values: Float64Array): Promise<Float64Array> {
  const n = values.length;
  const words = new Uint16Array(Float64Array.from(values).buffer);
  const all = await group.allGather(Float32Array.from(words));
  const out = new Float64Array(n);
  const decoded = new Float64Array(n);
  const decodedWords = new Uint16Array(decoded.buffer);
  for (let r = 0; r < group.world; r++) {
    const base = r * 4 * n;
    for (let i = 0; i < 4 * n; i++) decodedWords[i] = all[base + i]!;
    for (let i = 0; i < n; i++) out[i] += decoded[i]!;
  }
  return out;
}
