import { describe, expect, it } from 'vitest';
import { countLabels, gatherBatch, subset, syntheticMmoe, trainValSplit, type Batch, type Dataset } from '../src/index';

function tiny(): Dataset {
  // Row i has features [i, 10 + i]; task r = 100 + i; task c = i % 3 with row 1 masked.
  const n = 6;
  const features = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    features[2 * i] = i;
    features[2 * i + 1] = 10 + i;
  }
  return {
    name: 'tiny',
    size: n,
    inputDim: 2,
    features,
    tasks: [
      { name: 'r', type: 'regression' },
      { name: 'c', type: 'multiclass:3' },
    ],
    labels: { r: Float32Array.from({ length: n }, (_, i) => 100 + i), c: Float32Array.from({ length: n }, (_, i) => (i === 1 ? NaN : i % 3)) },
    mask: { c: Uint8Array.from([1, 0, 1, 1, 1, 1]) },
  };
}

describe('subset / trainValSplit', () => {
  it('subset copies the chosen rows, labels and masks', () => {
    const s = subset(tiny(), Uint32Array.from([5, 1]));
    expect(s.size).toBe(2);
    expect(Array.from(s.features)).toEqual([5, 15, 1, 11]);
    expect(Array.from(s.labels.r!)).toEqual([105, 101]);
    expect(Array.from(s.mask!.c!)).toEqual([1, 0]);
    expect(s.mask!.r).toBeUndefined();
    expect(() => subset(tiny(), Uint32Array.from([6]))).toThrow(RangeError);
  });

  it('is disjoint and covering, sized by the fraction, deterministic by seed', () => {
    const ds = syntheticMmoe({ tasks: [{ name: 'a', type: 'regression' }], numExamples: 101, inputDim: 3, seed: 1 });
    // Identify rows by their first feature value (continuous, so unique).
    const key = (d: Dataset): number[] => Array.from({ length: d.size }, (_, i) => d.features[i * d.inputDim]!);
    const { train, val } = trainValSplit(ds, 0.2, 9);
    expect(val.size).toBe(20);
    expect(train.size).toBe(81);
    const all = [...key(train), ...key(val)].sort((a, b) => a - b);
    expect(all).toEqual(key(ds).sort((a, b) => a - b));
    expect(new Set(all).size).toBe(101);
    expect(key(trainValSplit(ds, 0.2, 9).val)).toEqual(key(val));
    expect(key(trainValSplit(ds, 0.2, 10).val)).not.toEqual(key(val));
    // labels travel with their rows
    const i = 3;
    const orig = key(ds).indexOf(key(train)[i]!);
    expect(train.labels.a![i]).toBe(ds.labels.a![orig]);
  });
});

describe('gatherBatch', () => {
  it('copies rows in index order and fills masks (all ones when the dataset has none)', () => {
    const b = gatherBatch(tiny(), Uint32Array.from([3, 1, 0]));
    expect(b.n).toBe(3);
    expect(b.inputDim).toBe(2);
    expect(Array.from(b.x)).toEqual([3, 13, 1, 11, 0, 10]);
    expect(Array.from(b.labels.r!)).toEqual([103, 101, 100]);
    expect(Array.from(b.mask.r!)).toEqual([1, 1, 1]);
    // Masked label written as 0 (never NaN) with mask 0.
    expect(Array.from(b.labels.c!)).toEqual([0, 0, 0]);
    expect(Array.from(b.mask.c!)).toEqual([1, 0, 1]);
    expect(() => gatherBatch(tiny(), Uint32Array.from([9]))).toThrow(RangeError);
  });

  it('reuses the buffers of `out` when large enough, with exact-length views', () => {
    const ds = tiny();
    const out: Batch = gatherBatch(ds, Uint32Array.from([0, 1, 2, 3]));
    const buf = out.x.buffer;
    const b = gatherBatch(ds, Uint32Array.from([5, 4]), out);
    expect(b).toBe(out);
    expect(b.x.buffer).toBe(buf);
    expect(b.x.length).toBe(4);
    expect(Array.from(b.x)).toEqual([5, 15, 4, 14]);
    expect(Array.from(b.labels.c!)).toEqual([2, 1]);
    // Growing back within capacity still reuses; beyond it allocates.
    expect(gatherBatch(ds, Uint32Array.from([0, 1, 2, 3]), out).x.buffer).toBe(buf);
    expect(gatherBatch(ds, Uint32Array.from([0, 1, 2, 3, 4]), out).x.buffer).not.toBe(buf);
    expect(Array.from(out.x)).toEqual([0, 10, 1, 11, 2, 12, 3, 13, 4, 14]);
  });
});

describe('countLabels', () => {
  it('counts labelled rows per task over the given indices, equal to the sum of the gathered masks', () => {
    const ds = tiny();
    const idx = Uint32Array.from([1, 2, 1, 5]);
    expect(countLabels(ds, idx)).toEqual({ r: 4, c: 2 }); // row 1 (masked for c) appears twice
    const b = gatherBatch(ds, idx);
    expect(b.mask.c!.reduce((a, v) => a + v, 0)).toBe(2);
    expect(countLabels(ds, new Uint32Array(0))).toEqual({ r: 0, c: 0 });
  });
});
