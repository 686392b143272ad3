import { describe, expect, it } from 'vitest';
import { runAllReduceBenchmark, runPointToPointBenchmark } from '../src';

// Smoke tests of the benchmark library (separate processes, compiled dist): shapes only, no timing assertions.
describe('benchmark library', () => {
  it('runAllReduceBenchmark returns rank 0 results for every size, over the transport asked for', async () => {
    for (const transport of ['tcp', 'unix'] as const) {
      const res = await runAllReduceBenchmark({ world: 2, sizesBytes: [4096, 65536], iterations: 2, warmup: 1, transport });
      expect(res.map((r) => [r.world, r.bytes])).toEqual([
        [2, 4096],
        [2, 65536],
      ]);
      for (const r of res) {
        expect(r.meanMs).toBeGreaterThan(0);
        expect(r.busbwGBs).toBeCloseTo(r.algbwGBs, 10); // 2(W-1)/W = 1 for W = 2
        // Abstract Unix sockets exist on Linux only; elsewhere the links stay TCP.
        expect(r.transport).toBe(transport === 'unix' && process.platform === 'linux' ? 'unix' : 'tcp');
      }
    }
  });

  it('runPointToPointBenchmark measures ws (default and zero mask), raw TCP and Unix sockets, and the mtl link over each', async () => {
    const r = await runPointToPointBenchmark({ bytes: 256 * 1024, iterations: 2 });
    expect(r.bytes).toBe(256 * 1024);
    for (const v of [r.wsDefaultGBs, r.wsZeroMaskGBs, r.tcpGBs, r.mtlLinkGBs]) expect(v).toBeGreaterThan(0);
    if (process.platform === 'linux') for (const v of [r.unixGBs, r.mtlLinkUnixGBs]) expect(v).toBeGreaterThan(0);
  });
});
