import { describe, expect, it } from 'vitest';
import { GradientBuckets, bucketMinElems } from '../src/training/gradient-buckets';

/** The ranges of a staged backward pass: loss sums [P, P+T), heads, then each trunk layer downwards. */
function feed(minElems: number, ranges: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const b = new GradientBuckets(minElems, (o, s) => out.push([o, s]));
  for (const [o, s] of ranges) b.ready(o, s);
  b.flush();
  return out;
}

describe('GradientBuckets', () => {
  // The reference workload's layout: trunk 512x1024 (+bias), 1024x1024 (+bias), 4 heads of 1025, 4 loss sums.
  const t0 = 512 * 1024 + 1024;
  const t1 = 1024 * 1024 + 1024;
  const heads = 4 * 1025;
  const P = t0 + t1 + heads;
  const reported: Array<[number, number]> = [
    [P, 4],
    [t0 + t1, heads],
    [t0, t1],
    [0, t0],
  ];

  it('joins small ranges to the next one until the bucket reaches the minimum', () => {
    expect(feed(65536, reported)).toEqual([
      [t0, t1 + heads + 4],
      [0, t0],
    ]);
  });

  it('keeps every range its own bucket with a minimum of 0, and makes one bucket of everything with a huge one', () => {
    expect(feed(0, reported)).toEqual(reported);
    expect(feed(1e9, reported)).toEqual([[0, P + 4]]);
  });

  it('covers every element exactly once, in the order the ranges became final', () => {
    for (const min of [1, 5, 100, 4096, 600000]) {
      const got = feed(min, reported);
      const covered = new Uint8Array(P + 4);
      for (const [o, s] of got) for (let i = o; i < o + s; i++) covered[i]++;
      expect(covered.every((c) => c === 1)).toBe(true);
      const offsets = got.map(([o]) => o);
      expect(offsets).toEqual([...offsets].sort((x, y) => y - x));
    }
  });

  it('never joins ranges that are not adjacent', () => {
    expect(
      feed(100, [
        [50, 10],
        [20, 10],
        [0, 20],
      ]),
    ).toEqual([
      [50, 10],
      [0, 30],
    ]);
  });

  it('reads MTL_BUCKET_MIN_BYTES and names it when it is wrong', () => {
    expect(bucketMinElems({})).toBe(65536);
    expect(bucketMinElems({ MTL_BUCKET_MIN_BYTES: '0' })).toBe(0);
    expect(bucketMinElems({ MTL_BUCKET_MIN_BYTES: '1048576' })).toBe(262144);
    expect(() => bucketMinElems({ MTL_BUCKET_MIN_BYTES: '-4' })).toThrow(/MTL_BUCKET_MIN_BYTES/);
    expect(() => bucketMinElems({ MTL_BUCKET_MIN_BYTES: 'lots' })).toThrow(/'lots'/);
  });
});
