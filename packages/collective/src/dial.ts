import { WebSocket } from 'ws';
import { CloseCode, REJECT_CODES } from './codes';
import { CollectiveError } from './errors';
import { helloMessage, parseChallenge, verifyWelcome } from './handshake';
import type { Stashed } from './link';

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
  /** Absolute time (Date.now()) after which dialling gives up. */
  deadline: number;
  /** Polled between attempts: stop retrying once the connect as a whole has failed. */
  cancelled?: () => boolean;
}

export interface Dialled {
  ws: WebSocket;
  /** Messages that arrived in the same read as the welcome, before the link took over. */
  stash: Stashed[];
}

/**
 * ws masks every client payload byte in JavaScript unless the mask is all
 * zeros. Masking exists to stop cache poisoning of HTTP proxies by browser
 * scripts; peer links are authenticated node-to-node sockets, so a zero mask
 * costs nothing in safety and is worth ~10x in throughput.
 */
function zeroMask(mask: Uint8Array): void {
  mask[0] = mask[1] = mask[2] = mask[3] = 0;
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
export async function dialPeer(o: DialOptions): Promise<Dialled> {
  const where = `peer ${o.peer} at ${o.host}:${o.port}`;
  let delay = 25;
  let last = 'no attempt';
  for (;;) {
    if (o.cancelled?.()) throw new CollectiveError(`gave up connecting to ${where}: the process group failed`, { peer: o.peer });
    const remaining = o.deadline - Date.now();
    if (remaining <= 0) {
      throw new CollectiveError(`timed out connecting to ${where} (last error: ${last})`, { peer: o.peer });
    }
    try {
      return await attempt(o, remaining);
    } catch (err) {
      last = (err as Error).message;
      if (err instanceof TimeoutError) continue;
      if (err instanceof Refused) {
        if (!TRANSIENT_REFUSALS.has(err.code)) throw new CollectiveError(`${where} refused the connection: ${err.message}`, { peer: o.peer });
        last = `refused: ${err.message}`;
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

function attempt(o: DialOptions, remaining: number): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    const ws = new WebSocket(`ws://${host}:${o.port}/`, {
      perMessageDeflate: false,
      maxPayload: o.maxFrameBytes,
      generateMask: zeroMask,
      handshakeTimeout: Math.max(1, Math.min(remaining, 10_000)),
    });
    let state: 'challenge' | 'welcome' | 'done' = 'challenge';
    let dialerNonce: Buffer | undefined;
    const stash: Stashed[] = [];
    const timer = setTimeout(() => {
      fail(new TimeoutError(`no handshake within ${remaining} ms`));
      ws.terminate();
    }, remaining);

    const fail = (err: Error) => {
      if (state === 'done') return;
      state = 'done';
      clearTimeout(timer);
      ws.removeAllListeners('message');
      reject(err);
    };

    ws.on('error', (err) => {
      fail(err);
    });
    ws.on('close', (code, reason) => {
      const text = reason.toString();
      if (REJECT_CODES.has(code)) fail(new Refused(text || `close code ${code}`, code));
      else fail(Object.assign(new Error(`connection closed during handshake (code ${code}${text ? `: ${text}` : ''})`), { code: 'ECONNRESET' }));
    });
    ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (state === 'challenge') {
        let nonce: Buffer;
        try {
          nonce = parseChallenge(buf, isBinary);
        } catch (err) {
          ws.close(CloseCode.Handshake, 'bad challenge');
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
        ws.send(hello.text);
      } else if (state === 'welcome') {
        let ok = false;
        try {
          ok = verifyWelcome(o.secret, o.runId, dialerNonce!, buf, isBinary);
        } catch (err) {
          ws.close(CloseCode.Handshake, 'bad welcome');
          fail(new Refused(`bad welcome: ${(err as Error).message}`));
          return;
        }
        if (!ok) {
          ws.close(CloseCode.AuthFailed, 'listener failed to prove the secret');
          fail(new Refused('the listener could not prove the shared secret (impostor or wrong secret)'));
          return;
        }
        state = 'done';
        clearTimeout(timer);
        // Frames sent right after the welcome can be emitted in this same tick,
        // before the caller's continuation runs: keep them for the link.
        ws.removeAllListeners('message');
        ws.removeAllListeners('close');
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        ws.on('message', (d, b) => stash.push([d as Buffer, b]));
        resolve({ ws, stash });
      }
    });
  });
}
