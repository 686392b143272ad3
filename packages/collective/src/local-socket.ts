import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { loadNative } from '@mtl/native';
import { socketFd } from './wire';

/**
 * Links between workers of one host run over a Unix domain socket instead of
 * TCP loopback: the same WebSocket upgrade, handshake and frames, a cheaper
 * kernel path. Measured on the 2-core host (docs/performance.md): exchanging
 * 6.3 MB each way between two pinned processes costs 1.85 ms of CPU per
 * process over TCP loopback and 0.86 ms over a Unix socket with a 1 MiB send
 * buffer; at W=2 that CPU comes straight out of the backward pass.
 *
 * Which peers are local: a worker's listener also listens on an abstract Unix
 * socket (Linux; no file to clean up, gone with the process) and advertises it
 * with a host key, the kernel's boot id and the inode of its network
 * namespace. Abstract sockets are scoped to a network namespace, so two
 * workers with equal keys can reach each other's socket and workers in other
 * namespaces (containers, the netns test bed) keep TCP. A dial over the Unix
 * socket that fails falls back to TCP.
 */

/** Where a worker's listener takes links from workers of the same host. */
export interface LocalEndpoint {
  /** This kernel and network namespace: `<boot id>/<netns inode>`. */
  hostKey: string;
  /** The abstract socket's name (without the leading NUL). */
  socket: string;
}

/** Largest abstract name accepted (sun_path is 108 bytes, one for the NUL). */
export const MAX_LOCAL_SOCKET_NAME = 107;

/**
 * Send buffer of a Unix-socket link. The default (~208 KiB) makes a large
 * frame cross in many small wake-ups; 1 MiB halved the kernel time of the
 * exchange above, and more gained nothing. Capped by net.core.wmem_max.
 */
const LOCAL_SNDBUF_BYTES = 1024 * 1024;

let cachedKey: string | null | undefined;

/** The host key of this process, or null where there are no abstract sockets (not Linux, no /proc). */
export function localHostKey(): string | null {
  if (cachedKey !== undefined) return cachedKey;
  cachedKey = null;
  if (process.platform !== 'linux') return cachedKey;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const netns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1];
    if (boot && netns) cachedKey = `${boot}/${netns}`;
  } catch {
    /* no /proc: TCP only */
  }
  return cachedKey;
}

/** A fresh abstract socket name for one listener. */
export function newLocalSocketName(): string {
  return `mtl-data-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/** The path node:net takes for an abstract socket name. */
export function abstractPath(name: string): string {
  return `\0${name}`;
}

/** Whether a peer advertising `peer` can be reached over its Unix socket from a listener advertising `self`. */
export function isSameHost(self: LocalEndpoint | undefined, peer: LocalEndpoint | undefined): boolean {
  return self !== undefined && peer !== undefined && self.hostKey === peer.hostKey;
}

/** Give a Unix-socket link its larger send buffer (needs the native addon; a no-op without it). */
export function tuneLocalSocket(sock: Socket): void {
  const nat = loadNative();
  const fd = socketFd(sock);
  if (!nat || typeof nat.setSockOpt !== 'function' || fd < 0) return;
  nat.setSockOpt(fd, 'sndbuf', LOCAL_SNDBUF_BYTES);
}
