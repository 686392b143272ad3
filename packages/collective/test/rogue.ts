import { WebSocket } from 'ws';
import { DEFAULT_CHUNK_BYTES } from '../src/group';
import { helloMessage, parseChallenge } from '../src/handshake';
import { SECRET } from './helpers';

export interface RogueOptions {
  secret?: string;
  runId?: string;
  from: number;
  to: number;
  world: number;
  chunkBytes?: number;
  /** Mask client frames with random keys (as browsers and stock clients do) instead of zero keys. */
  randomMask?: boolean;
}

export interface Rogue {
  ws: WebSocket;
  /** Resolves with the close code and reason the listener sent. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves true once welcomed (authenticated), false if closed first. */
  welcomed: Promise<boolean>;
}

/**
 * A hand-driven peer: does the real handshake (optionally with wrong
 * credentials) and then lets a test write arbitrary frames into the link.
 */
export function rogueDial(port: number, o: RogueOptions): Rogue {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, ...(o.randomMask ? {} : { generateMask: (m: Buffer) => m.fill(0) }) });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const welcomed = new Promise<boolean>((resolve) => {
    let state = 0;
    ws.on('message', (data, isBinary) => {
      if (state === 0) {
        const nonce = parseChallenge(data as Buffer, isBinary);
        const hello = helloMessage(o.secret ?? SECRET, nonce, {
          runId: o.runId ?? 'run-1',
          world: o.world,
          from: o.from,
          to: o.to,
          chunkBytes: o.chunkBytes ?? DEFAULT_CHUNK_BYTES,
        });
        ws.send(hello.text);
        state = 1;
      } else if (state === 1) {
        state = 2;
        resolve(true);
      }
    });
    ws.on('close', () => resolve(false));
  });
  return { ws, closed, welcomed };
}
