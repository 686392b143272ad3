import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { loadNative } from '@mtl/native';
import { describe, expect, it } from 'vitest';
import { Wire } from '../src/wire';

/** A connected server/client pair of Wires over loopback TCP (the server side streams frames). */
async function pair(): Promise<{ server: Wire; client: Wire; done: () => void }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection');
  const c = connect(port, '127.0.0.1');
  await once(c, 'connect');
  const [s] = (await accepted) as [Socket];
  const server = new Wire(s, 'server', 64 << 20);
  const client = new Wire(c, 'client', 64 << 20);
  return {
    server,
    client,
    done: () => {
      server.terminate();
      client.terminate();
      srv.close();
    },
  };
}

const linuxNative = process.platform === 'linux' && loadNative() !== null && process.env.MTL_RCVLOWAT !== '0';

describe('SO_RCVLOWAT on data-plane sockets', () => {
  it('frames of odd sizes arrive intact; the option is raised within large frames only and reset between frames', async () => {
    const { server, client, done } = await pair();
    try {
      const sizes = [1, 3, 125, 126, 65535, 65536 + 3, 200_001, (2 << 20) + 7, 5, (1 << 20) - 1, 17, (3 << 20) + 1, 0, 9];
      const got: Buffer[] = [];
      const lowatSeen: number[] = [];
      const lowatAtStart: number[] = [];
      let parts: Buffer[] = [];
      let finished: () => void = () => {};
      const all = new Promise<void>((resolve) => (finished = resolve));
      server.stream = {
        frameStart: () => {
          parts = [];
          lowatAtStart.push(server.rcvLowat);
        },
        frameData: (piece) => {
          parts.push(Buffer.from(piece));
          lowatSeen.push(server.rcvLowat);
        },
        frameEnd: () => {
          got.push(Buffer.concat(parts));
          if (got.length === sizes.length) finished();
        },
      };
      const sent = sizes.map((n, k) => {
        const b = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) b[i] = (i * 31 + k * 7) & 0xff;
        return b;
      });
      for (const b of sent) client.sendBinary(b);
      await all;
      expect(got.map((b) => b.length)).toEqual(sizes);
      for (let k = 0; k < sizes.length; k++) expect(got[k]!.equals(sent[k]!), `frame ${k} (${sizes[k]} bytes)`).toBe(true);
      // Never more than the 1 MiB cap; a new frame always starts from the default.
      expect(Math.max(...lowatSeen)).toBeLessThanOrEqual(1 << 20);
      expect(lowatAtStart.every((v) => v === 1)).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(server.rcvLowat).toBe(1);
      if (linuxNative) {
        // Raised at some point while a multi-MiB frame was under way.
        expect(Math.max(...lowatSeen)).toBeGreaterThan(1);
        const fd = (server.socket as unknown as { _handle: { fd: number } })._handle.fd;
        expect(loadNative()!.getSockOpt(fd, 'rcvlowat')).toBe(1);
      } else {
        expect(lowatSeen.every((v) => v === 1)).toBe(true);
      }
    } finally {
      done();
    }
  });
});
