import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { CollectiveError, PeerListener, ProcessGroup } from '../src';
import { randomArray, sameBytes, SECRET } from './helpers';

/** A self-signed certificate for 127.0.0.1, or null when openssl is not installed. */
function selfSigned(): { key: Buffer; cert: Buffer; dir: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'mtl-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { cwd: dir, stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')), dir };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

const pki = selfSigned();
if (!pki) console.warn('openssl not found: skipping the TLS (wss) tests');
afterAll(() => {
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

describe.skipIf(!pki)('TLS (wss) peer links', () => {
  it('all-reduces over wss with a self-signed CA, bit-identical on every rank', async () => {
    const W = 3;
    const ls = await Promise.all(Array.from({ length: W }, () => PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET, tls: { key: pki!.key, cert: pki!.cert } })));
    const peers = ls.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
    const groups = await Promise.all(
      ls.map((listener, rank) => ProcessGroup.connect({ rank, world: W, peers, listener, secret: SECRET, runId: 'tls', chunkBytes: 64 * 1024, tls: { ca: pki!.cert } })),
    );
    const L = 100_003;
    const bufs = groups.map((_, r) => randomArray(L, r + 1));
    await Promise.all(groups.map((g, r) => g.allReduce(bufs[r]!)));
    for (let i = 0; i < L; i += 997) expect(bufs[0]![i]).toBeCloseTo(randomArray(L, 1)[i]! + randomArray(L, 2)[i]! + randomArray(L, 3)[i]!, 5);
    expect(sameBytes(bufs[0]!, bufs[1]!) && sameBytes(bufs[0]!, bufs[2]!)).toBe(true);
    await Promise.all(groups.map((g) => g.close()));
    await Promise.all(ls.map((l) => l.close()));
  });

  it('a dialler that does not trust the certificate fails with a clear error naming the peer', async () => {
    const ls = await Promise.all([0, 1].map(() => PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET, tls: { key: pki!.key, cert: pki!.cert } })));
    const peers = ls.map((l, rank) => ({ rank, host: '127.0.0.1', port: l.port }));
    const [r0, r1] = await Promise.allSettled(
      ls.map((listener, rank) => ProcessGroup.connect({ rank, world: 2, peers, listener, secret: SECRET, runId: 'tls', timeoutMs: 1000, tls: {} })),
    );
    const err = (r0 as PromiseRejectedResult).reason as CollectiveError;
    expect(err).toBeInstanceOf(CollectiveError);
    expect(err.peer).toBe(1);
    expect(err.message).toMatch(/cannot connect to peer 1 at 127\.0\.0\.1:\d+: .*(self[- ]signed|certificate)/i);
    expect(r1!.status).toBe('rejected');
    await Promise.all(ls.map((l) => l.close()));
  });
});

describe('pre-authentication limits', () => {
  it('closes a client that sends a large frame before its hello (1009), and keeps serving', async () => {
    const l = await PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET });
    const ws = new WebSocket(`ws://127.0.0.1:${l.port}/`, { perMessageDeflate: false });
    ws.on('error', () => {});
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('open', () => ws.send(Buffer.alloc(100_000)));
    expect(await closed).toBe(1009);
    // A plain HTTP request gets a refusal, not a hang or a crash.
    const res = await fetch(`http://127.0.0.1:${l.port}/`).catch((e: unknown) => e);
    expect((res as Response).status).toBe(426);
    await l.close();
  });
});
