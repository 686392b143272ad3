import { describe, expect, it } from 'vitest';
import { lockstepPenalty } from '../src/bench/training';

describe('lockstepPenalty', () => {
  it('is zero for two constant step times that are equal', () => {
    expect(lockstepPenalty([25, 25, 25], [25, 25, 25])).toBe(0);
  });

  it('is half the gap for two different constant step times (the faster waits every step)', () => {
    expect(lockstepPenalty([24, 24], [26, 26])).toBeCloseTo(1, 12);
  });

  it('pairs steps by number: slow steps that coincide cost no wait, slow steps that alternate cost half their excess', () => {
    const a = [25, 25, 40, 25, 25, 40];
    expect(lockstepPenalty(a, [...a])).toBe(0);
    // b is slow where a is fast: every slow step of either makes the other wait.
    const b = [40, 25, 25, 40, 25, 25];
    // max over the six steps: 40, 25, 40, 40, 25, 40 (mean 35); the means are 30 and 30.
    expect(lockstepPenalty(a, b)).toBeCloseTo(5, 12);
  });

  it('uses only the steps both runs have', () => {
    expect(lockstepPenalty([24, 24, 100], [26, 26])).toBeCloseTo(1, 12);
  });

  it('is zero when either side has no steps', () => {
    expect(lockstepPenalty([], [1, 2])).toBe(0);
  });
});
