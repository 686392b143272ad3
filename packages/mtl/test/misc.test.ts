import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAggregator, createRng, flopsPerExample, paramChecksum, type TaskSpec } from '../src';

const tasks: TaskSpec[] = [
  { name: 'a', type: 'regression' },
  { name: 'b', type: 'binary' },
];

describe('aggregators', () => {
  it('equal gives every task weight 1', () => {
    const agg = createAggregator({ name: 'equal' });
    expect(agg.name).toBe('equal');
    expect(agg.kind).toBe('linear');
    expect(agg.weights!({ tasks, step: 0 })).toEqual({ a: 1, b: 1 });
  });

  it('static gives the configured weights and names a missing task', () => {
    const agg = createAggregator({ name: 'static', weights: { a: 0.3, b: 2 } });
    expect(agg.kind).toBe('linear');
    expect(agg.weights!({ tasks, step: 5 })).toEqual({ a: 0.3, b: 2 });
    expect(() => createAggregator({ name: 'static', weights: { a: 1 } }).weights!({ tasks, step: 0 })).toThrow(/'b'/);
    expect(() => createAggregator({ name: 'static', weights: { a: NaN } })).toThrow(/'a'/);
    expect(() => createAggregator({ name: 'nash-mtl' } as unknown as { name: 'equal' })).toThrow(/unknown aggregator 'nash-mtl' \(expected equal, static, dwa, uw, rlw, pcgrad, mgda, cagrad, gradnorm, imtl, aligned, gradvac, gls, nash or fairgrad\)/);
  });
});

describe('checksum, flops, rng', () => {
  it('paramChecksum is sha256 of the raw float32 bytes, honouring subarray views', () => {
    const p = Float32Array.from([1, 2, 3, 4]);
    expect(paramChecksum(p)).toBe(createHash('sha256').update(Buffer.from(p.buffer)).digest('hex'));
    expect(paramChecksum(p.subarray(1, 3))).toBe(paramChecksum(Float32Array.from([2, 3])));
    expect(paramChecksum(Float32Array.from([0]))).not.toBe(paramChecksum(Float32Array.from([-0])));
  });

  it('flopsPerExample = 6 * sum(in*out) over dense layers', () => {
    const spec = { inputDim: 10, trunk: [20, 5], activation: 'relu' as const, tasks: [...tasks, { name: 'c', type: 'multiclass:3' as const }], head: [4] };
    // trunk 10*20 + 20*5; heads: 5*4 + 4*1, 5*4 + 4*1, 5*4 + 4*3
    expect(flopsPerExample(spec)).toBe(6 * (200 + 100 + 24 + 24 + 32));
  });

  it('flopsPerExample counts a cross-stitch row once per unit of its layer', () => {
    const spec = { inputDim: 10, trunk: [20, 5], activation: 'relu' as const, tasks, head: [], architecture: 'cross-stitch' as const };
    // Two columns of 10*20 + 20*5; unit 0: two rows of 2*1 applied to 20 units; unit 1 (the last,
    // per task): two rows of 2*1 applied to 5 units; towers 5*1 each.
    expect(flopsPerExample(spec)).toBe(6 * (2 * (200 + 100) + 2 * 2 * 20 + 2 * 2 * 5 + 2 * 5));
  });

  it('createRng is deterministic and roughly uniform', () => {
    const a = createRng(5), b = createRng(5), c = createRng(5 + 2 ** 32);
    const xs = Array.from({ length: 10000 }, a);
    expect(Array.from({ length: 10000 }, b)).toEqual(xs);
    expect(c()).not.toBe(xs[0]);
    const mean = xs.reduce((s, v) => s + v) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });
});
