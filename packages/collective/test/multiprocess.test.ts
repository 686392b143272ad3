import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const pkg = join(__dirname, '..');
const fixture = join(__dirname, 'fixtures', 'rank.js');

beforeAll(() => {
  // The children run the compiled package; make sure dist is current (incremental, fast when it is).
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', pkg], { stdio: 'inherit' });
}, 60_000);

type Msg = Record<string, unknown>;

/** Start W rank processes, hand them the peer list, and collect their messages. */
async function spawnWorld(
  W: number,
  mode: string,
  env: (rank: number) => Record<string, string> = () => ({}),
  /** Which ranks advertise their Unix socket to the others (default none: every link TCP). */
  advertiseLocal: (rank: number) => boolean = () => false,
): Promise<{ kids: ChildProcess[]; inbox: Msg[][]; next: (r: number, key: string) => Promise<Msg> }> {
  const kids = Array.from({ length: W }, (_, rank) =>
    fork(fixture, [], { env: { ...process.env, RANK: String(rank), WORLD: String(W), ...env(rank) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const inbox: Msg[][] = kids.map(() => []);
  const waiters: { r: number; key: string; resolve: (m: Msg) => void }[] = [];
  kids.forEach((k, r) =>
    k.on('message', (m: Msg) => {
      inbox[r]!.push(m);
      for (const w of waiters.filter((w) => w.r === r && w.key in m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }),
  );
  const next = (r: number, key: string) =>
    new Promise<Msg>((resolve) => {
      const have = inbox[r]!.find((m) => key in m);
      if (have) resolve(have);
      else waiters.push({ r, key, resolve });
    });
  const hellos = await Promise.all(kids.map((_, r) => next(r, 'port')));
  const peers = hellos.map((h, rank) => ({
    rank,
    host: '127.0.0.1',
    port: h['port'] as number,
    ...(advertiseLocal(rank) && h['local'] ? { local: h['local'] } : {}),
  }));
  for (const k of kids) k.send({ peers, mode });
  return { kids, inbox, next };
}

describe('across processes', () => {
  it('allReduce, broadcast, allGather and barrier agree bit for bit across 3 processes', async () => {
    const W = 3;
    const { kids, next } = await spawnWorld(W, 'ops');
    const results = await Promise.all(kids.map((_, r) => next(r, 'allReduceHash')));
    for (const res of results) {
      expect(res['allReduceHash']).toBe(results[0]!['allReduceHash']);
      expect(res['maxErr']).toBeLessThan(1e-5);
      expect(res['broadcastHash']).toBe(results[0]!['broadcastHash']);
      expect(res['gathered']).toEqual([0, 0, 1, 10, 2, 20]);
      expect((res['stats'] as { ops: number }).ops).toBe(4);
    }
    await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, 'exit') : undefined)));
    expect(kids.map((k) => k.exitCode)).toEqual([0, 0, 0]);
  }, 30_000);

  it('ranks on the native ring, the JS ring with the native add, and the JS fallback (MTL_NATIVE=0) give the same bits in any mix', async () => {
    const W = 3;
    const run = async (env: (rank: number) => Record<string, string>) => {
      const { kids, next } = await spawnWorld(W, 'ops', env);
      const results = await Promise.all(kids.map((_, r) => next(r, 'allReduceHash')));
      await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, 'exit') : undefined)));
      for (const res of results) expect(res['allReduceHash']).toBe(results[0]!['allReduceHash']);
      return {
        hash: results[0]!['allReduceHash'],
        native: results.map((m) => m['native']),
        ring: results.map((m) => (m['stats'] as { nativeOps: number }).nativeOps),
      };
    };
    const all = await run(() => ({}));
    const none = await run(() => ({ MTL_NATIVE: '0' }));
    const mixed = await run((r): Record<string, string> => (r === 1 ? { MTL_NATIVE: '0' } : {}));
    const jsRing = await run((r): Record<string, string> => (r === 2 ? { MTL_NATIVE_RING: '0' } : {}));
    expect(none.native).toEqual([false, false, false]);
    expect(none.ring).toEqual([0, 0, 0]);
    expect(mixed.native[1]).toBe(false);
    expect(none.hash).toBe(all.hash);
    expect(mixed.hash).toBe(all.hash);
    expect(jsRing.hash).toBe(all.hash);
    // A rank without the addon or with the ring off never uses it. Where it is available, the
    // 1.2 MB all-reduce takes it unless a peer's frames arrived before the op began (then that
    // rank runs it on the JS path): so some rank of each world must have used it.
    expect(mixed.ring[1]).toBe(0);
    expect(jsRing.ring[2]).toBe(0);
    if (all.native[0] && process.platform === 'linux') {
      for (const world of [all, mixed, jsRing]) expect(world.ring.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
  }, 90_000);

  it('links between processes of this host run over Unix sockets, with the same bits as TCP in any mix, native ring included', async () => {
    const W = 3;
    const run = async (advertise: (rank: number) => boolean) => {
      const { kids, next } = await spawnWorld(W, 'ops', () => ({}), advertise);
      const results = await Promise.all(kids.map((_, r) => next(r, 'allReduceHash')));
      await Promise.all(kids.map((k) => (k.exitCode === null ? once(k, 'exit') : undefined)));
      expect(kids.map((k) => k.exitCode)).toEqual([0, 0, 0]);
      for (const res of results) expect(res['allReduceHash']).toBe(results[0]!['allReduceHash']);
      return {
        hash: results[0]!['allReduceHash'],
        links: results.map((m) => m['links']),
        ring: results.map((m) => (m['stats'] as { nativeOps: number }).nativeOps).reduce((a, b) => a + b, 0),
      };
    };
    const tcp = await run(() => false);
    expect(tcp.links).toEqual([{ tcp: 2, unix: 0 }, { tcp: 2, unix: 0 }, { tcp: 2, unix: 0 }]);
    if (process.platform !== 'linux') return; // abstract sockets: Linux only
    const unix = await run(() => true);
    expect(unix.links).toEqual([{ tcp: 0, unix: 2 }, { tcp: 0, unix: 2 }, { tcp: 0, unix: 2 }]);
    // Rank 2 does not advertise: ranks 0 and 1 dial it over TCP, and each other over the Unix socket.
    const mixed = await run((r) => r !== 2);
    expect(mixed.links).toEqual([{ tcp: 1, unix: 1 }, { tcp: 1, unix: 1 }, { tcp: 2, unix: 0 }]);
    expect(unix.hash).toBe(tcp.hash);
    expect(mixed.hash).toBe(tcp.hash);
    if (tcp.ring > 0) expect(unix.ring).toBeGreaterThan(0);
  }, 90_000);

  it('killing one process mid-allReduce makes every other rank reject naming it', async () => {
    const W = 3;
    const victim = 1;
    const { kids, next, inbox } = await spawnWorld(W, 'loop');
    await Promise.all(kids.map((_, r) => next(r, 'looping')));
    kids[victim]!.kill('SIGKILL');
    for (const r of [0, 2]) {
      const m = await next(r, 'error');
      const err = m['error'] as { name: string; peer: number; message: string };
      expect(err.name).toBe('CollectiveError');
      expect(err.peer).toBe(victim);
      expect(err.message).toMatch(new RegExp(`peer ${victim}`));
      expect(m['ops']).toBeGreaterThanOrEqual(2);
      expect(inbox[r]!.find((x) => 'peerLost' in x)?.['peerLost']).toBe(victim);
    }
    await Promise.all(kids.map((k) => (k.exitCode === null && k.signalCode === null ? once(k, 'exit') : undefined)));
  }, 30_000);
});
