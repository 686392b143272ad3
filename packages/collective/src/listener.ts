import { WebSocketServer, type WebSocket } from 'ws';
import { newNonce } from '@mtl/protocol';
import { CloseCode, closeReason } from './codes';
import { CollectiveError } from './errors';
import { challengeMessage, parseHello, verifyHello, welcomeMessage, type Hello } from './handshake';

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** How long an accepted socket may take to send its hello. */
const HELLO_TIMEOUT_MS = 10_000;
/** How long an authenticated socket may wait for its process group to attach. */
const PARK_TIMEOUT_MS = 30_000;

/** What a process group registers with the listener to receive its inbound links. */
export interface Attachment {
  runId: string;
  /** Returns a refusal (close code and reason) or null to accept. */
  check(hello: Hello): { code: number; reason: string } | null;
  /** Takes ownership of the authenticated socket. */
  accept(ws: WebSocket, hello: Hello): void;
  /** Told about every refused dialler, so a connect timeout can say why nobody arrived. */
  refused?(reason: string): void;
}

interface Parked {
  ws: WebSocket;
  hello: Hello;
  timer: NodeJS.Timeout;
}

/**
 * The data-plane server of one worker. It exists before the worker joins (so
 * its port can be advertised) and outlives process groups: after a re-form the
 * next group attaches to the same listener. Every socket must authenticate; a
 * refused socket is closed with a reason and the listener keeps serving others.
 */
export class PeerListener {
  private attachment: Attachment | undefined;
  private readonly parked = new Set<Parked>();
  private closed = false;

  private constructor(
    private readonly wss: WebSocketServer,
    /** @internal */ readonly secret: string,
    readonly maxFrameBytes: number,
    readonly port: number,
  ) {
    wss.on('connection', (ws) => this.onConnection(ws));
    // Server-level errors after listening (rare) must not crash the worker.
    wss.on('error', () => {});
  }

  static listen(opts: { host?: string; port?: number; secret: string; maxFrameBytes?: number }): Promise<PeerListener> {
    const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 64) throw new RangeError(`maxFrameBytes must be an integer >= 64, got ${maxFrameBytes}`);
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new TypeError('PeerListener needs a non-empty secret');
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({
        host: opts.host ?? '0.0.0.0',
        port: opts.port ?? 0,
        perMessageDeflate: false,
        maxPayload: maxFrameBytes,
        clientTracking: false,
      });
      const onError = (err: Error) => reject(err);
      wss.once('error', onError);
      wss.once('listening', () => {
        wss.off('error', onError);
        const addr = wss.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : (opts.port ?? 0);
        resolve(new PeerListener(wss, opts.secret, maxFrameBytes, port));
      });
    });
  }

  /** @internal Route authenticated inbound links of one run to a process group. */
  attach(a: Attachment): void {
    if (this.closed) throw new CollectiveError('peer listener is closed');
    if (this.attachment) throw new CollectiveError(`peer listener already serves run "${this.attachment.runId}"; close or abort that process group first`);
    this.attachment = a;
    for (const p of [...this.parked]) {
      this.parked.delete(p);
      clearTimeout(p.timer);
      this.place(p.ws, p.hello);
    }
  }

  /** @internal */
  detach(a: Attachment): void {
    if (this.attachment === a) this.attachment = undefined;
  }

  private onConnection(ws: WebSocket): void {
    ws.on('error', () => {}); // failures surface as 'close'; an unhandled 'error' would crash the process
    if (this.closed) {
      ws.terminate();
      return;
    }
    const nonce = newNonce();
    const timer = setTimeout(() => refuse(ws, CloseCode.Handshake, 'no hello within handshake timeout'), HELLO_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      let hello: Hello;
      try {
        hello = parseHello(data as Buffer, isBinary);
      } catch (err) {
        refuse(ws, CloseCode.Handshake, `bad hello: ${(err as Error).message}`);
        return;
      }
      if (!verifyHello(this.secret, nonce, hello)) {
        const reason = `authentication failed for rank ${hello.from}: bad proof (wrong secret?)`;
        this.attachment?.refused?.(reason);
        refuse(ws, CloseCode.AuthFailed, reason);
        return;
      }
      // A dialler must wait for our welcome before sending anything else.
      ws.on('message', () => refuse(ws, CloseCode.Handshake, 'data before welcome'));
      if (this.attachment) {
        this.place(ws, hello);
      } else {
        const p: Parked = {
          ws,
          hello,
          timer: setTimeout(() => {
            this.parked.delete(p);
            refuse(ws, CloseCode.NoGroup, `no process group for run "${hello.runId}" on this worker`);
          }, PARK_TIMEOUT_MS),
        };
        this.parked.add(p);
        ws.once('close', () => {
          clearTimeout(p.timer);
          this.parked.delete(p);
        });
      }
    });
    ws.once('close', () => clearTimeout(timer));
    ws.send(challengeMessage(nonce));
  }

  private place(ws: WebSocket, hello: Hello): void {
    const a = this.attachment!;
    if (ws.readyState !== ws.OPEN) return;
    const refusal =
      hello.runId !== a.runId
        ? { code: CloseCode.WrongRun, reason: `wrong run: dialler is in run "${hello.runId}", this worker is in run "${a.runId}"` }
        : a.check(hello);
    if (refusal) {
      a.refused?.(`rank ${hello.from}: ${refusal.reason}`);
      refuse(ws, refusal.code, refusal.reason);
      return;
    }
    // The group takes the socket over synchronously, before any frame can be emitted.
    ws.removeAllListeners('message');
    ws.send(welcomeMessage(this.secret, hello));
    a.accept(ws, hello);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.parked) {
      clearTimeout(p.timer);
      refuse(p.ws, CloseCode.NoGroup, 'peer listener closed');
    }
    this.parked.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function refuse(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, closeReason(reason));
  // A dialler that ignores the close must not hold the socket forever.
  setTimeout(() => ws.terminate(), 2000).unref();
}
