import { PeerListener, ProcessGroup, type PeerAddress } from '../src';

export const SECRET = 'test-secret-0123456789abcdef';

export interface World {
  groups: ProcessGroup[];
  listeners: PeerListener[];
  peers: PeerAddress[];
  close(): Promise<void>;
}

export async function listeners(n: number, opts: { maxFrameBytes?: number; secret?: string } = {}): Promise<PeerListener[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      PeerListener.listen({ host: '127.0.0.1', port: 0, secret: opts.secret ?? SECRET, ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}) }),
    ),
  );
}

export async function makeWorld(
  W: number,
  opts: { chunkBytes?: number; runId?: string; maxFrameBytes?: number; timeoutMs?: number } = {},
): Promise<World> {
  const ls = await listeners(W, opts);
  const peers = ls.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
  const groups = await Promise.all(
    ls.map((listener, rank) =>
      ProcessGroup.connect({
        rank,
        world: W,
        peers,
        listener,
        secret: SECRET,
        runId: opts.runId ?? 'run-1',
        timeoutMs: opts.timeoutMs ?? 10_000,
        ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}),
      }),
    ),
  );
  return {
    groups,
    listeners: ls,
    peers,
    async close() {
      await Promise.all(groups.map((g) => g.close()));
      await Promise.all(ls.map((l) => l.close()));
    },
  };
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    a[i] = x / 2 ** 31 - 1;
  }
  return a;
}

export function sameBytes(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
