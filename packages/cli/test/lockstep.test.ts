import { describe, expect, it } from 'vitest';
import { lockstepPenalty } from '../src/bench/training';

/** The definition, over every pair. */
function bruteForce(xs: number[], ys: number[]): number {
  let t = 0;
  for (const x of xs) for (const y of ys) t += Math.max(x, y);
  const m = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return t / (xs.length * ys.length) - (m(xs) + m(ys)) / 2;
}

describe('lockstepPenalty', () => {
  it('is zero for two constant step times that are equal', () => {
    expect(lockstepPenalty([25, 25, 25], [25, 25])).toBe(0);
  });

  it('is half the gap for two different constant step times (the faster waits every step)', () => {
    expect(lockstepPenalty([24], [26, 26])).toBeCloseTo(1, 12);
  });

  it('equals the mean over all pairs of max(a, b), less the mean, with ties and unsorted input', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const xs = Array.from({ length: 300 }, () => 23 + 3 * rnd() ** 3);
    const ys = Array.from({ length: 257 }, () => 23 + Math.round(6 * rnd()) / 2);
    ys.push(...xs.slice(0, 10));
    const got = lockstepPenalty(xs, ys);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeCloseTo(bruteForce(xs, ys), 9);
  });

  it('is zero when either side has no steps', () => {
    expect(lockstepPenalty([], [1, 2])).toBe(0);
  });
});
