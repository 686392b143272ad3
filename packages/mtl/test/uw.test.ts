import { describe, expect, it } from 'vitest';
import { UwAggregator, UW_INIT } from '../src/aggregators/uw';
import { createAggregator } from '../src/aggregators';

const tasks = [
  { name: 'a', type: 'regression' as const },
  { name: 'b', type: 'binary' as const },
];

describe('uncertainty weighting', () => {
  it('weights 1/(2 exp(s)) from s = -0.5, and trains s with d/ds = 1/2 - L/(2 exp(s)) (SGD, by hand)', () => {
    const uw = new UwAggregator(['a', 'b'], { name: 'sgd', lr: 0.1 });
    const w0 = uw.weights({ tasks, step: 0 });
    expect(w0.a).toBeCloseTo(1 / (2 * Math.exp(UW_INIT)), 12);
    expect(w0.b).toBeCloseTo(w0.a!, 12);
    const s = [UW_INIT, UW_INIT];
    for (const [la, lb] of [[2, 0.1], [1.5, 0.2], [1, 0.05]]) {
      uw.observe({ a: la!, b: lb! }, false);
      s[0] = Math.fround(s[0]! - 0.1 * Math.fround(0.5 - la! / (2 * Math.exp(s[0]!))));
      s[1] = Math.fround(s[1]! - 0.1 * Math.fround(0.5 - lb! / (2 * Math.exp(s[1]!))));
    }
    expect(Object.values(uw.logScales()).map((x) => x.toFixed(6))).toEqual(s.map((x) => x.toFixed(6)));
    // A task whose loss stays high raises its log-scale, i.e. lowers its weight; a low loss raises it.
    const w = uw.weights({ tasks, step: 3 });
    expect(w.a).toBeLessThan(w0.a!);
    expect(w.b).toBeGreaterThan(w0.b!);
  });

  it('replaying the same losses gives the same bits (how a resumed run recovers s)', () => {
    const a = createAggregator({ name: 'uw', tasks: ['a', 'b'], optimizer: { name: 'adam', lr: 0.01 } }) as UwAggregator;
    const b = createAggregator({ name: 'uw', tasks: ['a', 'b'], optimizer: { name: 'adam', lr: 0.01 } }) as UwAggregator;
    const losses = Array.from({ length: 50 }, (_, i) => ({ a: 1 / (i + 1), b: 0.3 + 0.01 * Math.sin(i) }));
    for (const l of losses) a.observe(l);
    for (const l of losses) b.observe(l);
    expect(a.logScales()).toEqual(b.logScales());
    expect(a.weights({ tasks, step: 50 })).toEqual(b.weights({ tasks, step: 50 }));
    expect(() => a.weights({ tasks: [{ name: 'c', type: 'regression' }], step: 0 })).toThrow(/no log-scale for task 'c'/);
  });
});
