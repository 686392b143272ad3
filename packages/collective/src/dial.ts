import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { CloseCode, REJECT_CODES } from './codes';
import { CollectiveError } from './errors';
import { helloMessage, parseChallenge, verifyWelcome } from './handshake';
import { abstractPath, tuneLocalSocket } from './local-socket';
import { acceptKey, newKey, Wire } from './wire';

/** Largest handshake message accepted from the listener before it proved the secret. */
const PRE_AUTH_MAX_FRAME_BYTES = 4096;

export interface DialOptions {
  host: string;
  port: number;
  /** The rank being dialled, and ours. */
  peer: number;
  self: number;
  world: number;
  runId: string;
  secret: string;
  chunkBytes: number;
  maxFrameBytes: number;
  /** The peer's abstract Unix socket (same host): tried first, TCP when it cannot be reached. */
  localSocket?: string;
  /** Dial with wss. */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; rejectUnauthorized?: boolean };
  /** Absolute time (Date.now()) after which dialling gives up. */
  deadline: number;
  /** Polled between attempts: stop retrying once the connect as a whole has failed. */
  cancelled?: () => boolean;
}

class Refused extends Error {
  constructor(
    message: string,
    readonly code: number = CloseCode.Handshake,
  ) {
    super(message);
  }
}

/**
 * Refusals that can be transient during a re-form: the peer's listener still
 * serves the previous generation, or has no group attached yet. Retried until
 * the deadline; the last reason ends up in the timeout error.
 */
const TRANSIENT_REFUSALS: ReadonlySet<number> = new Set([CloseCode.WrongRun, CloseCode.NoGroup]);

const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE']);

/**
 * Dial a higher-ranked peer and authenticate. The peer's listener may not be
 * accepting yet (it is up before the join, but a host can be slow), so refused
 * connections are retried with backoff until the deadline, as are transient
 * refusals (wrong run, no group: the peer may still be on the previous
 * generation). A refusal for bad credentials or configuration is final.
 */
export async function dialPeer(o: DialOptions): Promise<Wire> {
  const where = `peer ${o.peer} at ${o.host}:${o.port}`;
  let delay = 25;
  let last = 'no attempt';
  // The peer's last transient refusal: named in the timeout error even when the attempt the deadline
  // cut short ended otherwise (on a loaded host the last attempt may get only a millisecond).
  let refusal = '';
  let local = o.localSocket;
  for (;;) {
    if (o.cancelled?.()) throw new CollectiveError(`gave up connecting to ${where}: the process group failed`, { peer: o.peer });
    const remaining = o.deadline - Date.now();
    if (remaining <= 0) {
      const refused = refusal && refusal !== last ? `; before that ${refusal}` : '';
      throw new CollectiveError(`timed out connecting to ${where} (last error: ${last}${refused})`, { peer: o.peer });
    }
    try {
      return await attempt(o, remaining, local);
    } catch (err) {
      last = (err as Error).message;
      if (local !== undefined && !(err instanceof Refused)) {
        // The socket is advertised but not reachable from here (another
        // mount of /proc, a spoofed host key, a listener gone): TCP at once.
        last = `unix socket ${local}: ${last}`;
        local = undefined;
        continue;
      }
      if (err instanceof TimeoutError) continue;
      if (err instanceof Refused) {
        if (!TRANSIENT_REFUSALS.has(err.code)) throw new CollectiveError(`${where} refused the connection: ${err.message}`, { peer: o.peer });
        last = refusal = `refused: ${err.message}`;
      } else {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== undefined && !RETRYABLE.has(code)) {
          throw new CollectiveError(`cannot connect to ${where}: ${last}`, { peer: o.peer, cause: err });
        }
      }
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, o.deadline - Date.now()))));
    delay = Math.min(delay * 2, 500);
  }
}

class TimeoutError extends Error {}

/** HTTP upgrade to WebSocket; resolves with the upgraded socket and any bytes that came with the 101. */
function upgrade(o: DialOptions, timeoutMs: number, local: string | undefined): { req: ClientRequest; done: Promise<{ socket: Socket; head: Buffer }> } {
  const key = newKey();
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const common = {
    ...(local !== undefined ? { socketPath: abstractPath(local) } : { host: o.host, port: o.port }),
    path: '/',
    method: 'GET',
    timeout: timeoutMs,
    headers: {
      Host: `${host}:${o.port}`,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
    },
  };
  const req = o.tls && local === undefined
    ? httpsRequest({ ...common, ...(o.tls.ca ? { ca: o.tls.ca } : {}), rejectUnauthorized: o.tls.rejectUnauthorized ?? true })
    : httpRequest(common);
  const done = new Promise<{ socket: Socket; head: Buffer }>((resolve, reject) => {
    req.on('error', reject);
    req.on('timeout', () => {
      req.destroy(new TimeoutError(`no WebSocket upgrade within ${timeoutMs} ms`));
    });
    req.on('response', (res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode} instead of a WebSocket upgrade`), { code: 'EUPGRADE' }));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key) || String(res.headers['upgrade']).toLowerCase() !== 'websocket') {
        socket.destroy();
        reject(Object.assign(new Error('invalid WebSocket upgrade response'), { code: 'EUPGRADE' }));
        return;
      }
      resolve({ socket, head });
    });
  });
  req.end();
  return { req, done };
}

function attempt(o: DialOptions, remaining: number, local: string | undefined): Promise<Wire> {
  return new Promise((resolve, reject) => {
    let state: 'upgrade' | 'challenge' | 'welcome' | 'done' = 'upgrade';
    let ws: Wire | undefined;
    const { req, done } = upgrade(o, Math.max(1, Math.min(remaining, 10_000)), local);
    const timer = setTimeout(() => {
      fail(new TimeoutError(`no handshake within ${remaining} ms`));
      req.destroy();
      ws?.terminate();
    }, remaining);

    const fail = (err: Error) => {
      if (state === 'done') return;
      state = 'done';
      clearTimeout(timer);
      if (ws) ws.events = {};
      reject(err);
    };

    done.then(({ socket, head }) => {
      if (state === 'done') {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      socket.setTimeout(0);
      if (local !== undefined) tuneLocalSocket(socket);
      const w = new Wire(socket, 'client', PRE_AUTH_MAX_FRAME_BYTES, local !== undefined ? 'unix' : 'tcp');
      ws = w;
      state = 'challenge';
      let dialerNonce: Buffer | undefined;
      w.events = {
        error: (err) => fail(err),
        close: (code, reason) => {
          if (REJECT_CODES.has(code)) fail(new Refused(reason || `close code ${code}`, code));
          else fail(Object.assign(new Error(`connection closed during handshake (code ${code}${reason ? `: ${reason}` : ''})`), { code: 'ECONNRESET' }));
        },
        message: (buf, isBinary) => {
          if (state === 'challenge') {
            let nonce: Buffer;
            try {
              nonce = parseChallenge(buf, isBinary);
            } catch (err) {
              w.close(CloseCode.Handshake, 'bad challenge');
              fail(new Refused(`bad challenge: ${(err as Error).message}`));
              return;
            }
            const hello = helloMessage(o.secret, nonce, {
              runId: o.runId,
              world: o.world,
              from: o.self,
              to: o.peer,
              chunkBytes: o.chunkBytes,
            });
            dialerNonce = hello.nonce;
            state = 'welcome';
            w.sendText(hello.text);
          } else if (state === 'welcome') {
            let ok = false;
            try {
              ok = verifyWelcome(o.secret, o.runId, dialerNonce!, buf, isBinary);
            } catch (err) {
              w.close(CloseCode.Handshake, 'bad welcome');
              fail(new Refused(`bad welcome: ${(err as Error).message}`));
              return;
            }
            if (!ok) {
              w.close(CloseCode.AuthFailed, 'listener failed to prove the secret');
              fail(new Refused('the listener could not prove the shared secret (impostor or wrong secret)'));
              return;
            }
            state = 'done';
            clearTimeout(timer);
            // Frames sent right after the welcome may already be in this read:
            // hold them until the link takes the socket over.
            w.events = {};
            w.hold();
            w.maxMessage = o.maxFrameBytes;
            resolve(w);
          }
        },
      };
      w.feed(head);
    }, fail);
  });
}
