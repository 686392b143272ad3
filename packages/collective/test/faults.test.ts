import { describe, expect, it } from 'vitest';
import { CollectiveError, type ProcessGroup } from '../src';
import type { Mesh } from '../src/mesh';
import { makeWorld } from './helpers';

/** Records 'peer-lost' events of each group. */
function watch(groups: ProcessGroup[]): [number, string][][] {
  return groups.map((g) => {
    const events: [number, string][] = [];
    g.on('peer-lost', (rank, reason) => events.push([rank, reason]));
    return events;
  });
}

/** Start an all-reduce big enough to still be running when the fault hits. */
function bigAllReduce(groups: ProcessGroup[], skip: number): Promise<unknown>[] {
  return groups.map((g, r) => (r === skip ? Promise.resolve() : g.allReduce(new Float32Array(4_000_000)).catch((e: unknown) => e)));
}

describe('faults', () => {
  it('abort() mid-allReduce rejects everywhere, naming the aborting rank', async () => {
    const W = 4;
    const w = await makeWorld(W, { chunkBytes: 64 * 1024 });
    const lost = watch(w.groups);
    const ops = w.groups.map((g) => g.allReduce(new Float32Array(4_000_000)).catch((e: unknown) => e));
    await new Promise((r) => setTimeout(r, 5));
    const reason = new Error('coordinator says stop');
    w.groups[2]!.abort(reason);
    const errs = await Promise.all(ops);
    expect(errs[2]).toBe(reason);
    for (const r of [0, 1, 3]) {
      const e = errs[r] as CollectiveError;
      expect(e).toBeInstanceOf(CollectiveError);
      expect(e.peer).toBe(2);
      expect(e.message).toMatch(/peer 2|coordinator says stop/);
      expect(lost[r]!.map(([rank]) => rank)).toEqual([2]);
    }
    expect(lost[2]).toEqual([]);
    // Future ops reject at once with the same reason.
    await expect(w.groups[2]!.allReduce(new Float32Array(3))).rejects.toBe(reason);
    await expect(w.groups[0]!.barrier()).rejects.toBe(errs[0]);
    await w.close();
  });

  it('a peer whose sockets die mid-allReduce is named by every other rank', async () => {
    const W = 3;
    const w = await makeWorld(W, { chunkBytes: 64 * 1024 });
    const lost = watch(w.groups);
    const ops = bigAllReduce(w.groups, 1);
    const victim = w.groups[1]!.allReduce(new Float32Array(4_000_000)).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    // Simulate a crash: drop rank 1's TCP connections without any close frame.
    const mesh = (w.groups[1] as unknown as { mesh: Mesh }).mesh;
    for (const link of mesh.links) link?.terminate();
    const errs = await Promise.all(ops);
    for (const r of [0, 2]) {
      const e = errs[r] as CollectiveError;
      expect(e).toBeInstanceOf(CollectiveError);
      expect(e.peer).toBe(1);
      expect(e.message).toMatch(/peer 1/);
      expect(lost[r]!.map(([rank]) => rank)).toEqual([1]);
    }
    // The "crashed" rank itself never learns (a real crash has no aftermath); settle it.
    w.groups[1]!.abort(new Error('crashed'));
    await victim;
    await w.close();
  });

  it('a graceful close after the last op is not a fault; an op that needs a closed peer fails naming it', async () => {
    const W = 3;
    const w = await makeWorld(W);
    const lost = watch(w.groups);
    const bufs = w.groups.map(() => Float32Array.of(1));
    await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
    await w.groups[2]!.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(lost.flat()).toEqual([]);
    const err = (await w.groups[0]!.allReduce(Float32Array.of(1)).catch((e: unknown) => e)) as CollectiveError;
    expect(err).toBeInstanceOf(CollectiveError);
    expect(err.peer).toBe(2);
    expect(err.message).toMatch(/peer 2 .*(closed its process group)/);
    await expect(w.groups[1]!.barrier()).rejects.toBeInstanceOf(CollectiveError);
    await w.close();
  });

  it('close() waits for the op in flight, then later ops are refused', async () => {
    const w = await makeWorld(2);
    const bufs = w.groups.map(() => new Float32Array(100_000).fill(1));
    const ops = w.groups.map((g, r) => g.allReduce(bufs[r]!));
    const closing = w.groups.map((g) => g.close());
    await Promise.all(ops);
    await Promise.all(closing);
    expect(bufs[0]![99_999]).toBe(2);
    await expect(w.groups[0]!.allReduce(bufs[0]!)).rejects.toThrow(/closed/);
    await Promise.all(w.listeners.map((l) => l.close()));
  });
});
