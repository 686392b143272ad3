import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { native, skipReason } from './helpers';

const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

describe.skipIf(!native)(`setSockOpt / getSockOpt${skipReason}`, () => {
  it('sets and reads back SO_RCVLOWAT, SO_RCVBUF and SO_SNDBUF on a TCP socket (Linux)', async () => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const c = connect((srv.address() as { port: number }).port, '127.0.0.1');
    await once(c, 'connect');
    try {
      const fd = fdOf(c);
      if (process.platform !== 'linux') {
        expect(native!.setSockOpt(fd, 'rcvlowat', 4096)).toBe(-1);
        return;
      }
      expect(native!.getSockOpt(fd, 'rcvlowat')).toBe(1);
      expect(native!.setSockOpt(fd, 'rcvlowat', 262144)).toBe(0);
      expect(native!.getSockOpt(fd, 'rcvlowat')).toBe(262144);
      expect(native!.setSockOpt(fd, 'rcvlowat', 1)).toBe(0);
      expect(native!.getSockOpt(fd, 'rcvlowat')).toBe(1);
      expect(native!.setSockOpt(fd, 'rcvbuf', 1 << 20)).toBe(0);
      expect(native!.getSockOpt(fd, 'rcvbuf')).toBeGreaterThanOrEqual(1 << 20); // Linux doubles it (bookkeeping)
      expect(native!.setSockOpt(fd, 'sndbuf', 1 << 20)).toBe(0);
      expect(native!.getSockOpt(fd, 'sndbuf')).toBeGreaterThanOrEqual(1 << 20);
    } finally {
      c.destroy();
      srv.close();
    }
  });

  it('returns an errno for a descriptor that is not a socket and throws on bad arguments', () => {
    if (process.platform !== 'linux') return;
    expect(native!.setSockOpt(0x3fffffff, 'rcvlowat', 1)).toBe(9); // EBADF
    expect(native!.getSockOpt(0x3fffffff, 'rcvlowat')).toBe(-1);
    expect(() => native!.setSockOpt(-1, 'rcvlowat', 1)).toThrow(RangeError);
    expect(() => native!.setSockOpt('x' as unknown as number, 'rcvlowat', 1)).toThrow(TypeError);
  });
});
