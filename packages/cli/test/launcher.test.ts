import { describe, expect, it } from 'vitest';
import { workerCpus } from '../src/launcher';

describe('workerCpus (mtl train --cpu-affinity)', () => {
  it('auto pins worker i to the i-th allowed CPU when 2 <= workers <= CPUs', () => {
    expect(workerCpus('auto', 2, [0, 1])).toEqual([0, 1]);
    expect(workerCpus('auto', 2, [2, 5, 7])).toEqual([2, 5]);
    expect(workerCpus('auto', 3, [0, 1, 2, 3])).toEqual([0, 1, 2]);
  });

  it('auto leaves one worker, more workers than CPUs, or an unknown CPU set to the scheduler', () => {
    expect(workerCpus('auto', 1, [0, 1])).toEqual([null]);
    expect(workerCpus('auto', 3, [0, 1])).toEqual([null, null, null]);
    expect(workerCpus('auto', 2, null)).toEqual([null, null]);
  });

  it('none pins nothing; an explicit list is taken in rank order', () => {
    expect(workerCpus('none', 2, [0, 1])).toEqual([null, null]);
    expect(workerCpus([1, 0], 2, [0, 1])).toEqual([1, 0]);
    expect(workerCpus([3], 1, null)).toEqual([3]);
  });

  it('refuses a list of the wrong length or with CPUs this host does not allow, naming them', () => {
    expect(() => workerCpus([0], 2, [0, 1])).toThrow('--cpu-affinity lists 1 CPU for 2 workers (give one per worker, or auto, or none)');
    expect(() => workerCpus([0, 4, 5], 3, [0, 1])).toThrow('--cpu-affinity: CPU 4-5 is not available here (this process may run on 0-1)');
  });
});
