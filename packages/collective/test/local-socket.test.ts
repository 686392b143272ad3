import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CollectiveError, localHostKey, PeerListener, ProcessGroup, type PeerAddress } from '../src';
import { abstractPath } from '../src/local-socket';
import { listeners, randomArray, sameBytes, SECRET } from './helpers';

/** Peers as the coordinator hands them out: each with the Unix socket its listener advertises, rewritten by `edit`. */
function peersOf(ls: PeerListener[], edit: (p: PeerAddress) => PeerAddress = (p) => p): PeerAddress[] {
  return ls.map((l, rank) => edit({ rank, host: '127.0.0.1', port: l.port, ...(l.local ? { local: l.local } : {}) }));
}

function connectAll(ls: PeerListener[], peers: PeerAddress[], opts: { secrets?: string[]; localLinks?: boolean; timeoutMs?: number } = {}) {
  return ls.map((listener, rank) =>
    ProcessGroup.connect({
      rank,
      world: ls.length,
      peers,
      listener,
      secret: opts.secrets?.[rank] ?? SECRET,
      runId: 'local-1',
      timeoutMs: opts.timeoutMs ?? 5000,
      ...(opts.localLinks !== undefined ? { localLinks: opts.localLinks } : {}),
    }),
  );
}

async function closeAll(groups: ProcessGroup[], ls: PeerListener[]): Promise<void> {
  await Promise.all(groups.map((g) => g.close()));
  await Promise.all(ls.map((l) => l.close()));
}

/** Whether a Unix-socket connect to this abstract name succeeds. */
function reachable(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path: abstractPath(name) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe.runIf(process.platform === 'linux')('links to peers of the same host over Unix sockets', () => {
  it('a listener advertises an abstract socket keyed by this kernel and network namespace, and closes it with itself', async () => {
    const key = localHostKey();
    expect(key).toMatch(/^[0-9a-f-]{36}\/\d+$/);
    const [l] = await listeners(1);
    expect(l!.local).toEqual({ hostKey: key, socket: expect.stringMatching(/^mtl-data-\d+-[0-9a-f]{16}$/) });
    const name = l!.local!.socket;
    expect(await reachable(name)).toBe(true);
    await l!.close();
    expect(await reachable(name)).toBe(false);
    // Off on request, and with TLS (the socket would bypass it).
    const tcpOnly = await PeerListener.listen({ host: '127.0.0.1', secret: SECRET, local: false });
    expect(tcpOnly.local).toBeUndefined();
    await tcpOnly.close();
  });

  it('peers that advertise it are dialled over it; all-reduces give the same bits as over TCP, small and large', async () => {
    const W = 3;
    const inputs = (L: number) => Array.from({ length: W }, (_, r) => randomArray(L, 7 + r));
    const reduceIn = async (local: boolean) => {
      const ls = await listeners(W);
      const groups = await Promise.all(connectAll(ls, peersOf(ls, (p) => (local ? p : { rank: p.rank, host: p.host, port: p.port }))));
      const small = inputs(1001);
      const large = inputs(400_003);
      await Promise.all(groups.map((g, r) => g.allReduce(small[r]!)));
      await Promise.all(groups.map((g, r) => g.allReduce(large[r]!)));
      const links = groups.map((g) => g.linkTransports);
      await closeAll(groups, ls);
      return { small: small[0]!, large: large[0]!, links };
    };
    const unix = await reduceIn(true);
    const tcp = await reduceIn(false);
    expect(unix.links).toEqual([{ tcp: 0, unix: 2 }, { tcp: 0, unix: 2 }, { tcp: 0, unix: 2 }]);
    expect(tcp.links).toEqual([{ tcp: 2, unix: 0 }, { tcp: 2, unix: 0 }, { tcp: 2, unix: 0 }]);
    expect(sameBytes(unix.small, tcp.small)).toBe(true);
    expect(sameBytes(unix.large, tcp.large)).toBe(true);
  });

  it('TCP for a peer of another host key, with localLinks off, and when the advertised socket cannot be reached', async () => {
    const cases: { name: string; edit: (p: PeerAddress) => PeerAddress; localLinks?: boolean }[] = [
      { name: 'other host', edit: (p) => (p.rank === 1 ? { ...p, local: { hostKey: 'another-boot/123', socket: p.local!.socket } } : p) },
      { name: 'localLinks off', edit: (p) => p, localLinks: false },
      // Same host key, but nothing listens there (a spoofed or stale advertisement): the dial falls back at once.
      { name: 'unreachable', edit: (p) => (p.rank === 1 ? { ...p, local: { hostKey: p.local!.hostKey, socket: 'mtl-data-nobody-here' } } : p) },
    ];
    for (const c of cases) {
      const ls = await listeners(2);
      const groups = await Promise.all(connectAll(ls, peersOf(ls, c.edit), c.localLinks !== undefined ? { localLinks: c.localLinks } : {}));
      expect(groups.map((g) => g.linkTransports), c.name).toEqual([{ tcp: 1, unix: 0 }, { tcp: 1, unix: 0 }]);
      const bufs = groups.map((_, r) => Float32Array.of(r + 1, 10));
      await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
      expect(Array.from(bufs[1]!), c.name).toEqual([3, 20]);
      await closeAll(groups, ls);
    }
  });

  it('the Unix socket authenticates like the TCP port: a rank with the wrong secret is refused and named', async () => {
    const good = await listeners(1);
    const [bad] = await listeners(1, { secret: 'wrong-secret-0123456789' });
    const ls = [good[0]!, bad!];
    const results = await Promise.allSettled(connectAll(ls, peersOf(ls), { secrets: [SECRET, 'wrong-secret-0123456789'], timeoutMs: 1500 }));
    const err = (results[0] as PromiseRejectedResult).reason as CollectiveError;
    expect(err).toBeInstanceOf(CollectiveError);
    expect(err.peer).toBe(1);
    expect(err.message).toMatch(/peer 1 at 127\.0\.0\.1:\d+ refused the connection: authentication failed/);
    expect(results[1]!.status).toBe('rejected');
    await Promise.all(ls.map((l) => l.close()));
  });
});
