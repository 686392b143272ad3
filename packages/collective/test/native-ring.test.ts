import { afterEach, describe, expect, it } from 'vitest';
import { CollectiveError, type ProcessGroup } from '../src';
import { nativeRing } from '../src/native-ring';
import { makeWorld, randomArray } from './helpers';

const ring = nativeRing() !== null;
const skip = ring ? '' : ' (SKIPPED: the native ring is not available here)';

/** Connect a world with the given environment in force (the ring is chosen per rank at connect time). */
async function worldWith(env: Record<string, string | undefined>, W: number, chunkBytes = 64 * 1024) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await makeWorld(W, { chunkBytes });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function reduceAll(groups: ProcessGroup[], L: number, seed: number): Promise<Float32Array[]> {
  const bufs = groups.map((_, r) => randomArray(L, seed + r));
  await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
  return bufs;
}

describe.skipIf(!ring)(`native ring${skip}`, () => {
  for (const W of [2, 3, 4, 5]) {
    it(`runs large all-reduces off the JS thread with the same bits as the JS ring, W=${W}`, async () => {
      const L = 1_000_003; // uneven segments, a short last chunk
      const nat = await worldWith({ MTL_NATIVE_RING: undefined }, W);
      closers.push(() => nat.close());
      const js = await worldWith({ MTL_NATIVE_RING: '0' }, W);
      closers.push(() => js.close());
      const a = await reduceAll(nat.groups, L, 11);
      const b = await reduceAll(js.groups, L, 11);
      for (let r = 0; r < W; r++) {
        expect(Buffer.from(a[r]!.buffer).equals(Buffer.from(a[0]!.buffer))).toBe(true);
        expect(Buffer.from(a[r]!.buffer).equals(Buffer.from(b[0]!.buffer))).toBe(true);
      }
      expect(nat.groups.map((g) => g.stats.nativeOps)).toEqual(new Array(W).fill(1));
      expect(js.groups.map((g) => g.stats.nativeOps)).toEqual(new Array(W).fill(0));
      // Same accounting as the JS ring: header + payload of every frame, 2(W-1)/W of the buffer.
      expect(nat.groups.map((g) => g.stats.bytesSent)).toEqual(js.groups.map((g) => g.stats.bytesSent));
      expect(nat.groups.map((g) => g.stats.bytesReceived)).toEqual(js.groups.map((g) => g.stats.bytesReceived));
    });
  }

  it('ops issued without awaiting around native ones (queued all-reduces, broadcast, allGather, subgroups, small ops) all complete correctly', async () => {
    const W = 3;
    const w = await worldWith({}, W);
    closers.push(() => w.close());
    const L = 200_001;
    const bigA = w.groups.map((_, r) => randomArray(L, 100 + r));
    const bigB = w.groups.map((_, r) => randomArray(L, 200 + r));
    const small = w.groups.map((_, r) => Float32Array.of(r, 1));
    const bc = w.groups.map((_, r) => (r === 2 ? randomArray(70_000, 7) : new Float32Array(70_000)));
    const sub = w.groups.map((_, r) => randomArray(150_000, 300 + r));
    const ops = w.groups.map((g, r) => {
      const list: Promise<unknown>[] = [g.allReduce(bigA[r]!), g.allReduce(bigB[r]!), g.allReduce(small[r]!), g.broadcast(bc[r]!, 2), g.allGather(Float32Array.of(r))];
      if (r < 2) list.push(g.subgroup([0, 1]).allReduce(sub[r]!));
      list.push(g.barrier());
      return Promise.all(list);
    });
    const results = await Promise.all(ops);
    const expectSum = (arrays: Float32Array[], seed: number, members: number) => {
      const ref = new Float64Array(arrays[0]!.length);
      for (let r = 0; r < members; r++) {
        const x = randomArray(arrays[0]!.length, seed + r);
        for (let i = 0; i < x.length; i++) ref[i]! += x[i]!;
      }
      for (const a of arrays) {
        expect(Buffer.from(a.buffer).equals(Buffer.from(arrays[0]!.buffer))).toBe(true);
        let maxErr = 0;
        for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - ref[i]!));
        expect(maxErr).toBeLessThan(1e-5);
      }
    };
    expectSum(bigA, 100, W);
    expectSum(bigB, 200, W);
    expectSum(sub.slice(0, 2), 300, 2);
    for (const s of small) expect(Array.from(s)).toEqual([3, 3]);
    for (const b of bc) expect(Buffer.from(b.buffer).equals(Buffer.from(bc[2]!.buffer))).toBe(true);
    for (const res of results) expect(Array.from(res[4] as Float32Array)).toEqual([0, 1, 2]);
    // The first large op took the native ring on every rank.
    for (const g of w.groups) expect(g.stats.nativeOps).toBeGreaterThanOrEqual(1);
  });

  for (const W of [3, 4]) {
    it(`back-to-back ops with staggered starts all complete, bit-identical (oldest-op rule), W=${W}`, async () => {
      // Rank r issues three ops 10r ms after rank 0 without awaiting them: some ranks get a peer's
      // frames first (those ops run on the JS path), others run them natively, and a rank must not
      // start one natively while an earlier one still runs (that hung: see native-ring.ts).
      const w = await worldWith({}, W, 256 * 1024);
      closers.push(() => w.close());
      for (const L of [1_048_573, 3 * 65536 + 5]) {
        const bufs = [0, 1, 2].map((k) => w.groups.map((_, r) => randomArray(L, 1000 * k + r + L)));
        await Promise.all(
          w.groups.map(async (g, r) => {
            await new Promise((res) => setTimeout(res, 10 * r));
            await Promise.all(bufs.map((b) => g.allReduce(b[r]!)));
          }),
        );
        for (const b of bufs) for (const x of b) expect(Buffer.from(x.buffer).equals(Buffer.from(b[0]!.buffer))).toBe(true);
      }
      expect(w.groups.reduce((a, g) => a + g.stats.nativeOps, 0)).toBeGreaterThan(0);
    });
  }

  it('abort() while a native op runs and more wait behind it rejects every op on every rank', async () => {
    const W = 3;
    const w = await worldWith({}, W);
    closers.push(() => w.close());
    const ops = w.groups.map((g, r) => [
      g.allReduce(new Float32Array(4_000_000).fill(r)).catch((e: unknown) => e),
      g.allReduce(new Float32Array(4_000_000)).catch((e: unknown) => e),
    ]);
    await new Promise((r) => setTimeout(r, 5));
    const reason = new Error('stop now');
    w.groups[0]!.abort(reason);
    const errs = await Promise.all(ops.map((o) => Promise.all(o)));
    expect(errs[0]).toEqual([reason, reason]);
    for (const r of [1, 2]) {
      for (const e of errs[r]!) {
        expect(e).toBeInstanceOf(CollectiveError);
        expect((e as CollectiveError).peer, `rank ${r}: ${(e as Error).message}`).toBe(0);
      }
    }
  });
});
