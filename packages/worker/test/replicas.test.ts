import { afterEach, describe, expect, it } from 'vitest';
import { PeerListener, ProcessGroup } from '@mtl/collective';
import { ReplicaDivergenceError, allReduceFloat64, verifyReplicas } from '../src';

const SECRET = 'replica-test-secret-0123456789';
let groups: ProcessGroup[] = [];
let listeners: PeerListener[] = [];

async function ring(world: number): Promise<ProcessGroup[]> {
  listeners = await Promise.all(Array.from({ length: world }, () => PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET })));
  const peers = listeners.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
  groups = await Promise.all(listeners.map((listener, rank) => ProcessGroup.connect({ rank, world, peers, listener, secret: SECRET, runId: 'replicas' })));
  return groups;
}

afterEach(async () => {
  await Promise.all(groups.map((g) => g.close().catch(() => undefined)));
  await Promise.all(listeners.map((l) => l.close()));
  groups = [];
  listeners = [];
});

describe('replica checksum', () => {
  it('passes when every rank holds the same parameters', async () => {
    const g = await ring(3);
    const params = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i));
    const sums = await Promise.all(g.map((grp) => verifyReplicas(grp, params.slice(), 7)));
    expect(new Set(sums).size).toBe(1);
  });

  it('fails loudly on every rank when one replica differs by one ulp', async () => {
    const g = await ring(3);
    const params = Float32Array.from({ length: 1001 }, (_, i) => Math.cos(i));
    const drifted = params.slice();
    drifted[500] = drifted[500]! * (1 + 2 ** -23);
    const results = await Promise.allSettled(g.map((grp) => verifyReplicas(grp, grp.rank === 2 ? drifted : params.slice(), 40)));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(ReplicaDivergenceError);
      expect(err.message).toMatch(/parameter checksum mismatch after step 40: rank\(s\) 2 differ from rank 0/);
    }
  });
});

describe('float64 statistics over a float32 all-reduce', () => {
  it('is exact to float64 and identical on every rank', async () => {
    const g = await ring(2);
    const a = new Float64Array([1e8 + 0.123456, 1 / 3, 123456.789012]);
    const b = new Float64Array([2e8 + 0.654321, 2 / 3, 0.000001]);
    const [ra, rb] = await Promise.all([allReduceFloat64(g[0]!, a), allReduceFloat64(g[1]!, b)]);
    const exact = a.map((v, i) => v + b[i]!);
    for (let i = 0; i < 3; i++) {
      expect(ra![i]).toBe(exact[i]);
      expect(rb![i]).toBe(ra![i]);
    }
    // A plain float32 sum would be off by about 8 at 3e8.
    expect(Math.abs(Math.fround(a[0]!) + Math.fround(b[0]!) - exact[0]!)).toBeGreaterThan(0.1);
  });
});
