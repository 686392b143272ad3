import { describe, expect, it } from 'vitest';
import { PlacementError, placeTasks } from '../src/placement';

describe('task placement', () => {
  it('round-robins ranks over tasks', () => {
    expect(placeTasks(['a', 'b'], 2)).toEqual({ a: [0], b: [1] });
    expect(placeTasks(['a', 'b', 'c'], 5)).toEqual({ a: [0, 3], b: [1, 4], c: [2] });
  });

  it('accepts a valid explicit map and sorts its ranks', () => {
    expect(placeTasks(['a', 'b'], 4, { a: [2, 0], b: [1, 3] })).toEqual({ a: [0, 2], b: [1, 3] });
  });

  it.each([
    [['a', 'b', 'c'], 2, undefined, /at least one worker per task: 3 tasks \(a, b, c\) but 2 worker/],
    [['a', 'b'], 3, { a: [0], b: [1], z: [2] }, /names task z, which is not one of the run's tasks/],
    [['a', 'b'], 3, { a: [0, 1, 2] }, /leaves task b without a group/],
    [['a', 'b'], 3, { a: [0, 1], b: [1, 2] }, /rank 1 is in the groups of both a and b/],
    [['a', 'b'], 3, { a: [0], b: [1] }, /leaves rank 2 in no task's group/],
    [['a', 'b'], 2, { a: [0], b: [5] }, /placement\.b: rank 5 is outside the world of 2/],
    [['a', 'b'], 2, { a: [0, 1], b: [] }, /gives task b an empty group/],
  ])('refuses %j on %i workers with %j', (tasks, world, map, message) => {
    expect(() => placeTasks(tasks as string[], world as number, map as Record<string, number[]> | undefined)).toThrow(PlacementError);
    expect(() => placeTasks(tasks as string[], world as number, map as Record<string, number[]> | undefined)).toThrow(message as RegExp);
  });
});
