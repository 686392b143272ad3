import { describe, expect, it } from 'vitest';
import { CollectiveError, ProcessGroup } from '../src';
import { listeners, makeWorld, randomArray, sameBytes, SECRET } from './helpers';

describe('broadcast, allGather, barrier', () => {
  it('broadcasts from every root, for empty, small and chunked buffers', async () => {
    const W = 4;
    const w = await makeWorld(W, { chunkBytes: 1024 });
    try {
      for (const L of [0, 5, 100_003]) {
        for (let root = 0; root < W; root++) {
          const src = randomArray(L, root + L);
          const bufs = w.groups.map((_, r) => (r === root ? new Float32Array(src) : new Float32Array(L).fill(-1)));
          await Promise.all(w.groups.map((g, r) => g.broadcast(bufs[r]!, root)));
          for (const b of bufs) expect(sameBytes(b, src), `L=${L} root=${root}`).toBe(true);
        }
      }
    } finally {
      await w.close();
    }
  });

  it('allGather concatenates in rank order', async () => {
    const W = 3;
    const w = await makeWorld(W, { chunkBytes: 64 });
    try {
      for (const L of [0, 1, 1001]) {
        const inputs = w.groups.map((_, r) => randomArray(L, 5 * r + L));
        const outs = await Promise.all(w.groups.map((g, r) => g.allGather(inputs[r]!)));
        const expected = new Float32Array(L * W);
        inputs.forEach((x, r) => expected.set(x, r * L));
        for (const o of outs) {
          expect(o.length).toBe(L * W);
          expect(sameBytes(o, expected)).toBe(true);
        }
      }
    } finally {
      await w.close();
    }
  });

  it('barrier resolves only after every rank has entered', async () => {
    const W = 3;
    const w = await makeWorld(W);
    try {
      let lateEntered = 0;
      const early = w.groups.slice(0, 2).map((g) =>
        g.barrier().then(() => {
          expect(lateEntered).toBeGreaterThan(0);
          return performance.now();
        }),
      );
      await new Promise((r) => setTimeout(r, 150));
      lateEntered = performance.now();
      await w.groups[2]!.barrier();
      for (const t of await Promise.all(early)) expect(t).toBeGreaterThanOrEqual(lateEntered);
    } finally {
      await w.close();
    }
  });

  it('runs several ops back to back, awaited or issued without waiting', async () => {
    const W = 3;
    const L = 20_000;
    const w = await makeWorld(W, { chunkBytes: 4096 });
    try {
      // Awaited in order.
      for (let k = 0; k < 5; k++) {
        const bufs = w.groups.map((_, r) => new Float32Array(L).fill(r + k));
        await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
        expect(bufs[0]![L - 1]).toBe(0 + 1 + 2 + 3 * k);
        await Promise.all(w.groups.map((g) => g.barrier()));
      }
      // Issued without awaiting: sequence numbers keep them apart.
      const sums = w.groups.map((_, r) => new Float32Array(L).fill(r));
      const bcast = w.groups.map((_, r) => new Float32Array(L).fill(r === 1 ? 7 : 0));
      const results = await Promise.all(
        w.groups.map(async (g, r) => {
          const p1 = g.allReduce(sums[r]!);
          const p2 = g.broadcast(bcast[r]!, 1);
          const p3 = g.allGather(Float32Array.of(r));
          const p4 = g.barrier();
          const [, , gathered] = await Promise.all([p1, p2, p3, p4]);
          return gathered;
        }),
      );
      for (let r = 0; r < W; r++) {
        expect(sums[r]![123]).toBe(3);
        expect(bcast[r]![L - 1]).toBe(7);
        expect(Array.from(results[r]!)).toEqual([0, 1, 2]);
      }
      expect(w.groups[0]!.stats.ops).toBe(10 + 4);
    } finally {
      await w.close();
    }
  });

  it('world of one: every op is a local no-op that still resolves', async () => {
    const [listener] = await listeners(1);
    const g = await ProcessGroup.connect({ rank: 0, world: 1, peers: [{ rank: 0, host: '127.0.0.1', port: listener!.port }], listener: listener!, secret: SECRET, runId: 'solo' });
    const buf = Float32Array.of(1, 2, 3);
    await g.allReduce(buf);
    await g.broadcast(buf, 0);
    await g.barrier();
    expect(Array.from(await g.allGather(buf))).toEqual([1, 2, 3]);
    expect(Array.from(buf)).toEqual([1, 2, 3]);
    await expect(g.broadcast(buf, 1)).rejects.toThrow(/root/);
    await g.close();
    await listener!.close();
  });
});

describe('subgroups', () => {
  it('all-reduces over [0,2] and [1,3,4] of a W=5 world concurrently', async () => {
    const W = 5;
    const L = 50_001;
    const w = await makeWorld(W, { chunkBytes: 8192 });
    try {
      const lists = [
        [0, 2],
        [1, 3, 4],
      ];
      const subs = w.groups.map((g, r) => g.subgroup(lists.find((l) => l.includes(r))!));
      expect(subs.map((s) => [s.rank, s.world])).toEqual([
        [0, 2],
        [0, 3],
        [1, 2],
        [1, 3],
        [2, 3],
      ]);
      const inputs = w.groups.map((_, r) => randomArray(L, r + 11));
      const bufs = inputs.map((x) => new Float32Array(x));
      // Trunk all-reduce over everyone interleaved with the per-group heads.
      const trunk = w.groups.map((_, r) => new Float32Array(1000).fill(r));
      await Promise.all(w.groups.map((g, r) => Promise.all([subs[r]!.allReduce(bufs[r]!), g.allReduce(trunk[r]!)])));
      for (const list of lists) {
        const ref = new Float64Array(L);
        for (const r of list) for (let i = 0; i < L; i++) ref[i]! += inputs[r]![i]!;
        for (const r of list) {
          expect(sameBytes(bufs[r]!, bufs[list[0]!]!)).toBe(true);
          let err = 0;
          for (let i = 0; i < L; i++) err = Math.max(err, Math.abs(bufs[r]![i]! - ref[i]!));
          expect(err).toBeLessThan(1e-5);
        }
      }
      for (const t of trunk) expect(t[999]).toBe(10);
      // Stats: the subgroup counts its own op; the world group counts everything.
      expect(subs[0]!.stats.ops).toBe(1);
      expect(w.groups[0]!.stats.ops).toBe(2);
      expect(w.groups[0]!.stats.bytesSent).toBeGreaterThan(subs[0]!.stats.bytesSent);
      // Same list, same group object; broadcast and allGather work on a subgroup too.
      expect(w.groups[3]!.subgroup([1, 3, 4])).toBe(subs[3]);
      const b = [1, 3, 4].map((r) => (r === 4 ? Float32Array.of(9, 8) : new Float32Array(2)));
      const gathered = await Promise.all([1, 3, 4].map((r, k) => subs[r]!.broadcast(b[k]!, 2).then(() => subs[r]!.allGather(Float32Array.of(r)))));
      for (const x of b) expect(Array.from(x)).toEqual([9, 8]);
      for (const g of gathered) expect(Array.from(g)).toEqual([1, 3, 4]);
    } finally {
      await w.close();
    }
  });

  it('refuses non-members and malformed lists with a clear error; single-member subgroups are no-ops', async () => {
    const w = await makeWorld(3);
    try {
      expect(() => w.groups[1]!.subgroup([0, 2])).toThrow(CollectiveError);
      expect(() => w.groups[1]!.subgroup([0, 2])).toThrow(/rank 1 is not a member of subgroup \[0, 2\]/);
      expect(() => w.groups[0]!.subgroup([2, 0])).toThrow(/sorted and unique/);
      expect(() => w.groups[0]!.subgroup([0, 3])).toThrow(/not a rank of this group/);
      expect(w.groups[0]!.subgroup([0, 1, 2])).toBe(w.groups[0]);
      const solo = w.groups[2]!.subgroup([2]);
      const buf = Float32Array.of(4);
      await solo.allReduce(buf);
      expect(buf[0]).toBe(4);
      // Nested: a subgroup of a subgroup uses ranks of its parent.
      const outer = w.groups.slice(1).map((g) => g.subgroup([1, 2]));
      const inner = outer.map((o) => o.subgroup([0, 1]));
      expect(inner[0]).toBe(outer[0]);
      const xs = [Float32Array.of(1), Float32Array.of(2)];
      await Promise.all(outer.map((o, k) => o.allReduce(xs[k]!)));
      expect(xs.map((x) => x[0])).toEqual([3, 3]);
    } finally {
      await w.close();
    }
  });
});
