import type { ProcessGroup } from '@mtl/collective';
import { gatherBatch, rankRange, type Batch, type Dataset } from '@mtl/data';
import { metricsFor, type MtlModel, type TaskSpec } from '@mtl/mtl';
import { allReduceFloat64 } from './reduce64';

const EVAL_CHUNK = 1024;

/**
 * Metrics over the whole validation set: each rank scores a contiguous slice, accumulates mergeable
 * statistics, and one all-reduce makes the result identical everywhere and independent of the world size.
 */
export async function evaluate(group: ProcessGroup, model: MtlModel, val: Dataset, tasks: TaskSpec[]): Promise<Record<string, Record<string, number>>> {
  const metrics = tasks.map((t) => metricsFor(t));
  const offsets: number[] = [];
  let total = 0;
  for (const m of metrics) {
    offsets.push(total);
    total += m.stateSize;
  }
  const state = new Float64Array(total);
  const { start, end } = rankRange(val.size, group.rank, group.world);
  let batch: Batch | undefined;
  for (let lo = start; lo < end; lo += EVAL_CHUNK) {
    const hi = Math.min(end, lo + EVAL_CHUNK);
    const idx = new Uint32Array(hi - lo);
    for (let i = 0; i < idx.length; i++) idx[i] = lo + i;
    batch = gatherBatch(val, idx, batch);
    const preds = model.predict(batch.x, batch.n);
    tasks.forEach((t, k) => {
      const view = state.subarray(offsets[k]!, offsets[k]! + metrics[k]!.stateSize);
      metrics[k]!.accumulate(view, preds[t.name]!, batch!.labels[t.name]!, batch!.mask[t.name]!, batch!.n);
    });
  }
  const summed = await allReduceFloat64(group, state);
  const out: Record<string, Record<string, number>> = {};
  tasks.forEach((t, k) => {
    out[t.name] = metrics[k]!.finalize(summed.subarray(offsets[k]!, offsets[k]! + metrics[k]!.stateSize));
  });
  return out;
}
