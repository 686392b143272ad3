import { describe, expect, it } from 'vitest';
import {
  DistributedSampler,
  epochPermutation,
  globalBatchIndices,
  rankRange,
  rankSlice,
  stepsPerEpoch,
} from '../src/index';

const isPermutation = (p: Uint32Array, n: number): boolean => {
  const seen = new Uint8Array(n);
  for (const v of p) {
    if (v >= n || seen[v]) return false;
    seen[v] = 1;
  }
  return p.length === n;
};

describe('epochPermutation', () => {
  it('is a permutation, deterministic, and differs across epochs and seeds', () => {
    for (const n of [0, 1, 2, 17, 1000]) expect(isPermutation(epochPermutation(n, 3, 0), n)).toBe(true);
    expect(epochPermutation(100, 3, 0)).toEqual(epochPermutation(100, 3, 0));
    expect(epochPermutation(100, 3, 1)).not.toEqual(epochPermutation(100, 3, 0));
    expect(epochPermutation(100, 4, 0)).not.toEqual(epochPermutation(100, 3, 0));
  });
});

describe('partition helpers', () => {
  it('stepsPerEpoch keeps or drops the last partial batch', () => {
    expect(stepsPerEpoch(10, 3, true)).toBe(3);
    expect(stepsPerEpoch(10, 3, false)).toBe(4);
    expect(stepsPerEpoch(9, 3, false)).toBe(3);
    expect(stepsPerEpoch(2, 3, true)).toBe(0);
  });

  it('globalBatchIndices slices perm[s*B .. s*B+B-1], shorter at the end', () => {
    const perm = Uint32Array.from([9, 8, 7, 6, 5, 4, 3]);
    expect(Array.from(globalBatchIndices(perm, 1, 3))).toEqual([6, 5, 4]);
    expect(Array.from(globalBatchIndices(perm, 2, 3))).toEqual([3]);
    expect(() => globalBatchIndices(perm, 3, 3)).toThrow(RangeError);
  });

  it('rankRange: contiguous, covering, sizes differ by <= 1, low ranks take the extra', () => {
    for (let n = 0; n <= 12; n++) {
      for (let w = 1; w <= 5; w++) {
        let next = 0;
        for (let r = 0; r < w; r++) {
          const { start, end } = rankRange(n, r, w);
          expect(start).toBe(next);
          const size = end - start;
          expect(size).toBe(Math.floor(n / w) + (r < n % w ? 1 : 0));
          next = end;
        }
        expect(next).toBe(n);
      }
    }
    expect(() => rankRange(5, 2, 2)).toThrow(RangeError);
  });
});

describe('DistributedSampler', () => {
  it('union of rankBatch over ranks equals globalBatch exactly, disjoint, balanced (W = 1..5)', () => {
    // Batch sizes divisible and not divisible by W, and smaller than W; both dropLast modes.
    for (const batchSize of [1, 2, 3, 7, 10, 12]) {
      for (const dropLast of [true, false]) {
        const s = new DistributedSampler({ size: 53, batchSize, seed: 17, dropLast });
        for (let step = 0; step < s.stepsPerEpoch * 2; step++) {
          const g = s.globalBatch(step);
          for (let w = 1; w <= 5; w++) {
            const parts = Array.from({ length: w }, (_, r) => s.rankBatch(step, r, w));
            const sizes = parts.map((p) => p.length);
            expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
            // Concatenation in rank order is the global batch itself: same elements, disjoint.
            expect(parts.flatMap((p) => Array.from(p))).toEqual(Array.from(g));
          }
        }
      }
    }
  });

  it('dropLast false: every example exactly once per epoch; true: at most once', () => {
    for (const dropLast of [false, true]) {
      const s = new DistributedSampler({ size: 23, batchSize: 5, seed: 1, dropLast });
      expect(s.stepsPerEpoch).toBe(dropLast ? 4 : 5);
      for (const epoch of [0, 1, 2]) {
        const count = new Uint8Array(23);
        for (let k = 0; k < s.stepsPerEpoch; k++) {
          const step = epoch * s.stepsPerEpoch + k;
          expect(s.position(step)).toEqual({ epoch, stepInEpoch: k });
          for (let r = 0; r < 3; r++) for (const i of s.rankBatch(step, r, 3)) count[i]!++;
        }
        expect(Math.max(...count)).toBe(1);
        expect(count.reduce((a, b) => a + b, 0)).toBe(dropLast ? 20 : 23);
      }
    }
  });

  it('epochs differ, and batches do not depend on the world size or call history', () => {
    const s = new DistributedSampler({ size: 40, batchSize: 8, seed: 2 });
    expect(s.globalBatch(0)).not.toEqual(s.globalBatch(s.stepsPerEpoch));
    const fresh = new DistributedSampler({ size: 40, batchSize: 8, seed: 2 });
    // Jumping around (cache misses) and asking with any W gives the same global batch.
    for (const step of [7, 0, 12, 3, 12]) {
      const viaRanks = (w: number): number[] => Array.from({ length: w }, (_, r) => Array.from(fresh.rankBatch(step, r, w))).flat();
      expect(viaRanks(1)).toEqual(Array.from(s.globalBatch(step)));
      expect(viaRanks(4)).toEqual(viaRanks(3));
    }
    // The returned array is a copy: mutating it cannot corrupt the cached permutation.
    const g = s.globalBatch(1);
    const copy = Array.from(g);
    g.fill(0);
    expect(Array.from(s.globalBatch(1))).toEqual(copy);
  });

  it('rankSlice works for batches smaller than W (some ranks get nothing)', () => {
    const idx = Uint32Array.from([4, 2]);
    const parts = [0, 1, 2, 3, 4].map((r) => Array.from(rankSlice(idx, r, 5)));
    expect(parts).toEqual([[4], [2], [], [], []]);
  });

  it('rejects configurations without a single step', () => {
    expect(() => new DistributedSampler({ size: 3, batchSize: 4, seed: 0 })).toThrow(RangeError);
    expect(new DistributedSampler({ size: 3, batchSize: 4, seed: 0, dropLast: false }).stepsPerEpoch).toBe(1);
  });
});
