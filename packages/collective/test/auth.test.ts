import { describe, expect, it } from 'vitest';
import { CollectiveError, PeerListener, ProcessGroup } from '../src';
import { CloseCode } from '../src/codes';
import { listeners, SECRET } from './helpers';
import { rogueDial } from './rogue';

function connectAll(ls: PeerListener[], opts: { secrets?: string[]; runIds?: string[]; timeoutMs?: number } = {}) {
  const W = ls.length;
  const peers = ls.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
  return ls.map((listener, rank) =>
    ProcessGroup.connect({
      rank,
      world: W,
      peers,
      listener,
      secret: opts.secrets?.[rank] ?? SECRET,
      runId: opts.runIds?.[rank] ?? 'run-1',
      timeoutMs: opts.timeoutMs ?? 5000,
    }),
  );
}

describe('peer authentication', () => {
  it('refuses a dialler with the wrong secret with a clear reason while the right peers connect', async () => {
    const ls = await listeners(3);
    // The impostor arrives first, claiming to be rank 0.
    const rogue = rogueDial(ls[2]!.port, { secret: 'not-the-secret-at-all', from: 0, to: 2, world: 3 });
    const closed = await rogue.closed;
    expect(closed.code).toBe(CloseCode.AuthFailed);
    expect(closed.reason).toMatch(/authentication failed for rank 0: bad proof \(wrong secret\?\)/);
    const groups = await Promise.all(connectAll(ls));
    const bufs = groups.map((_, r) => Float32Array.of(r, 1));
    await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
    expect(Array.from(bufs[2]!)).toEqual([3, 3]);
    await Promise.all(groups.map((g) => g.close()));
    await Promise.all(ls.map((l) => l.close()));
  });

  it('a rank with the wrong secret fails to join, and its peers name it', async () => {
    const good = await listeners(2);
    const [bad] = await listeners(1, { secret: 'wrong-secret-0123456789' });
    const ls = [good[0]!, good[1]!, bad!];
    const results = await Promise.allSettled(connectAll(ls, { secrets: [SECRET, SECRET, 'wrong-secret-0123456789'], timeoutMs: 1000 }));
    for (const rank of [0, 1]) {
      const r = results[rank]!;
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as CollectiveError;
      expect(err).toBeInstanceOf(CollectiveError);
      expect(err.peer).toBe(2);
      expect(err.message).toMatch(/peer 2 at 127\.0\.0\.1:\d+ refused the connection: authentication failed/);
    }
    const own = (results[2] as PromiseRejectedResult).reason as CollectiveError;
    expect(own).toBeInstanceOf(CollectiveError);
    expect(own.message).toMatch(/authentication failed|timed out|refused/);
    await Promise.all(ls.map((l) => l.close()));
  });

  it('refuses a peer of another run (runId is authenticated too)', async () => {
    const ls = await listeners(2);
    const results = await Promise.allSettled(connectAll(ls, { runIds: ['run-A', 'run-B'], timeoutMs: 3000 }));
    const dialler = (results[0] as PromiseRejectedResult).reason as CollectiveError;
    expect(dialler).toBeInstanceOf(CollectiveError);
    expect(dialler.peer).toBe(1);
    expect(dialler.message).toMatch(/wrong run: dialler is in run "run-A", this worker is in run "run-B"/);
    const listenerSide = (results[1] as PromiseRejectedResult).reason as CollectiveError;
    expect(listenerSide.message).toMatch(/timed out after 3000 ms waiting for peer 0 \(127\.0\.0\.1:\d+\).*wrong run/);
    expect(listenerSide.peer).toBe(0);
    await Promise.all(ls.map((l) => l.close()));
  });

  it('refuses unknown and duplicate ranks and keeps serving', async () => {
    const ls = await listeners(2);
    const groups = await Promise.all(connectAll(ls));
    const unknown = rogueDial(ls[1]!.port, { from: 7, to: 1, world: 2 });
    expect((await unknown.closed).reason).toMatch(/unknown rank 7/);
    const dup = rogueDial(ls[1]!.port, { from: 0, to: 1, world: 2 });
    expect((await dup.closed).reason).toMatch(/duplicate rank 0/);
    const wrongWorld = rogueDial(ls[1]!.port, { from: 0, to: 1, world: 5 });
    expect((await wrongWorld.closed).reason).toMatch(/world size mismatch/);
    const stale = rogueDial(ls[1]!.port, { from: 0, to: 1, world: 2, runId: 'old-generation' });
    expect((await stale.closed).code).toBe(CloseCode.WrongRun);
    // The established link is untouched.
    const bufs = [Float32Array.of(1), Float32Array.of(2)];
    await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
    expect(bufs[0]![0]).toBe(3);
    await Promise.all(groups.map((g) => g.close()));
    await Promise.all(ls.map((l) => l.close()));
  });

  it('a connect timeout names the unreachable peer', async () => {
    const [l0, l1] = await listeners(2);
    const deadPort = l1!.port;
    await l1!.close(); // nothing listens there any more
    const err = await ProcessGroup.connect({
      rank: 0,
      world: 2,
      peers: [
        { rank: 0, host: '127.0.0.1', port: l0!.port },
        { rank: 1, host: '127.0.0.1', port: deadPort },
      ],
      listener: l0!,
      secret: SECRET,
      runId: 'run-1',
      timeoutMs: 1500, // room for at least one refused attempt on a loaded machine
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollectiveError);
    expect((err as CollectiveError).peer).toBe(1);
    expect((err as CollectiveError).message).toMatch(new RegExp(`timed out connecting to peer 1 at 127\\.0\\.0\\.1:${deadPort}.*ECONNREFUSED`));
    // The listener is free again for the next group.
    await l0!.close();
  });

  it('a dialler of the next generation keeps retrying while the peer still serves the previous one', async () => {
    const ls = await listeners(2);
    const peers = ls.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
    const connect = (rank: number, runId: string, timeoutMs: number) =>
      ProcessGroup.connect({ rank, world: 2, peers, listener: ls[rank]!, secret: SECRET, runId, timeoutMs });
    // Rank 1 is still waiting in generation 1 when rank 0 dials for generation 2.
    const stale = connect(1, 'gen-1', 300).catch((e: unknown) => e);
    const g0 = connect(0, 'gen-2', 5000);
    const staleErr = (await stale) as CollectiveError;
    expect(staleErr).toBeInstanceOf(CollectiveError);
    expect(staleErr.message).toMatch(/last refused dialler: rank 0: wrong run: dialler is in run "gen-2", this worker is in run "gen-1"/);
    const g1 = await connect(1, 'gen-2', 5000);
    const groups = [await g0, g1];
    const bufs = [Float32Array.of(2), Float32Array.of(3)];
    await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
    expect(bufs[0]![0]).toBe(5);
    await Promise.all(groups.map((g) => g.close()));
    await Promise.all(ls.map((l) => l.close()));
  });

  it('a new generation can attach to the same listener after the old group ended', async () => {
    const ls = await listeners(2);
    const gen1 = await Promise.all(connectAll(ls, { runIds: ['gen-1', 'gen-1'] }));
    gen1[0]!.abort(new Error('re-form'));
    await Promise.all(gen1.map((g) => g.close()));
    const gen2 = await Promise.all(connectAll(ls, { runIds: ['gen-2', 'gen-2'] }));
    const bufs = [Float32Array.of(1), Float32Array.of(5)];
    await Promise.all(gen2.map((g, r) => g.allReduce(bufs[r]!)));
    expect(bufs[1]![0]).toBe(6);
    await Promise.all(gen2.map((g) => g.close()));
    await Promise.all(ls.map((l) => l.close()));
  });
});
