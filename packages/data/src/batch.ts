import type { Batch, Dataset } from './types';

// Exact-length view onto an existing buffer when it has room, else a fresh array.
// Exact lengths matter: tensors are built straight from these arrays.
function f32(prev: Float32Array | undefined, len: number): Float32Array {
  if (prev && prev.buffer.byteLength - prev.byteOffset >= len * 4) return new Float32Array(prev.buffer, prev.byteOffset, len);
  return new Float32Array(len);
}

/**
 * Copies the rows `indices` into a Batch. With `out`, its buffers are reused when their
 * underlying storage is large enough (the returned object is `out`, updated), so a worker's
 * steady-state loop allocates nothing. Masked labels are written as 0, and the mask is
 * always filled (1 where the dataset has no mask for the task).
 */
export function gatherBatch(ds: Dataset, indices: Uint32Array, out?: Batch): Batch {
  const n = indices.length;
  const d = ds.inputDim;
  for (let i = 0; i < n; i++) {
    if (indices[i]! >= ds.size) throw new RangeError(`gatherBatch: index ${indices[i]} out of range for dataset of size ${ds.size}`);
  }
  const x = f32(out?.x, n * d);
  for (let i = 0; i < n; i++) {
    const src = indices[i]! * d;
    x.set(ds.features.subarray(src, src + d), i * d);
  }
  const labels: Record<string, Float32Array> = {};
  const mask: Record<string, Float32Array> = {};
  for (const t of ds.tasks) {
    const l = ds.labels[t.name];
    if (!l) throw new RangeError(`gatherBatch: dataset "${ds.name}" has no labels for task "${t.name}"`);
    const m = ds.mask?.[t.name];
    const lo = f32(out?.labels[t.name], n);
    const mo = f32(out?.mask[t.name], n);
    for (let i = 0; i < n; i++) {
      const k = indices[i]!;
      const present = m ? m[k]! !== 0 : true;
      lo[i] = present ? l[k]! : 0;
      mo[i] = present ? 1 : 0;
    }
    labels[t.name] = lo;
    mask[t.name] = mo;
  }
  const b = out ?? ({} as Batch);
  b.n = n;
  b.inputDim = d;
  b.x = x;
  b.labels = labels;
  b.mask = mask;
  return b;
}

/**
 * Labelled examples per task among the rows `indices`. Every worker holds the whole dataset and
 * the sampler is deterministic, so each rank can count the *global* batch itself; the per-task
 * mean then needs no extra all-reduce (and no extra synchronisation point) per step.
 */
export function countLabels(ds: Dataset, indices: Uint32Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ds.tasks) {
    const m = ds.mask?.[t.name];
    let c = 0;
    if (!m) c = indices.length;
    else for (let i = 0; i < indices.length; i++) c += m[indices[i]!]! !== 0 ? 1 : 0;
    out[t.name] = c;
  }
  return out;
}
