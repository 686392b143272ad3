import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { newNonce } from '@mtl/protocol';
import { CloseCode, closeReason } from './codes';
import { CollectiveError } from './errors';
import { challengeMessage, parseHello, verifyHello, welcomeMessage, type Hello } from './handshake';
import { abstractPath, localHostKey, newLocalSocketName, tuneLocalSocket, type LocalEndpoint } from './local-socket';
import { acceptKey, Wire } from './wire';

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** How long an accepted socket may take to send its hello. */
const HELLO_TIMEOUT_MS = 10_000;
/** How long an authenticated socket may wait for its process group to attach. */
const PARK_TIMEOUT_MS = 30_000;
/**
 * Largest frame an unauthenticated client may send: the hello is a few hundred
 * bytes of JSON. Anything bigger is closed (1009) before it is buffered.
 */
export const PRE_AUTH_MAX_FRAME_BYTES = 4096;

export interface ListenOptions {
  host?: string;
  port?: number;
  secret: string;
  maxFrameBytes?: number;
  /** Serve wss: PEM key and certificate (chain), optionally a CA to send along. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer | Array<string | Buffer> };
  /**
   * Also take links from workers of this host on an abstract Unix socket
   * (local-socket.ts). Default true; off with TLS and where there are no
   * abstract sockets.
   */
  local?: boolean;
}

/** What a process group registers with the listener to receive its inbound links. */
export interface Attachment {
  runId: string;
  /** Returns a refusal (close code and reason) or null to accept. */
  check(hello: Hello): { code: number; reason: string } | null;
  /** Takes ownership of the authenticated socket. */
  accept(wire: Wire, hello: Hello): void;
  /** Told about every refused dialler, so a connect timeout can say why nobody arrived. */
  refused?(reason: string): void;
}

interface Parked {
  ws: Wire;
  hello: Hello;
  timer: NodeJS.Timeout;
}

/**
 * The data-plane server of one worker. It exists before the worker joins (so
 * its port can be advertised) and outlives process groups: after a re-form the
 * next group attaches to the same listener. Every socket must authenticate; a
 * refused socket is closed with a reason and the listener keeps serving others.
 *
 * An HTTP(S) server whose only job is the WebSocket upgrade; the upgraded
 * socket is driven by Wire (see wire.ts for why not `ws`).
 */
export class PeerListener {
  private attachment: Attachment | undefined;
  private readonly parked = new Set<Parked>();
  /** Upgraded sockets that have not authenticated yet. */
  private readonly pending = new Set<Wire>();
  private closed = false;
  /** Sockets accepted on the Unix socket, to tell them apart in the upgrade. */
  private readonly localSockets = new WeakSet<Duplex>();
  private localServer: NetServer | undefined;
  /** Where workers of this host reach this listener, when it listens on a Unix socket too. */
  local: LocalEndpoint | undefined;

  private constructor(
    private readonly server: Server,
    /** @internal */ readonly secret: string,
    readonly maxFrameBytes: number,
    readonly port: number,
    /** Whether peers must dial this listener with wss. */
    readonly tls: boolean,
  ) {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'close' });
      res.end('peer links speak WebSocket\n');
    });
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    // Server-level errors after listening (rare) must not crash the worker.
    server.on('error', () => {});
  }

  static listen(opts: ListenOptions): Promise<PeerListener> {
    const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 64) throw new RangeError(`maxFrameBytes must be an integer >= 64, got ${maxFrameBytes}`);
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new TypeError('PeerListener needs a non-empty secret');
    return new Promise((resolve, reject) => {
      const server: Server = opts.tls
        ? (createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}) }) as unknown as Server)
        : createHttpServer();
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => {
        server.off('error', onError);
        const addr = server.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : (opts.port ?? 0);
        const listener = new PeerListener(server, opts.secret, maxFrameBytes, port, opts.tls !== undefined);
        const hostKey = opts.tls || opts.local === false ? null : localHostKey();
        if (hostKey === null) return resolve(listener);
        void listener.listenLocal(hostKey).then(() => resolve(listener));
      });
    });
  }

  /** The abstract Unix socket beside the TCP port; without it (it failed to listen) peers use TCP. */
  private listenLocal(hostKey: string): Promise<void> {
    const name = newLocalSocketName();
    // Half-open like the HTTP server's own sockets: Wire finishes a half-closed link itself.
    const local = createNetServer({ allowHalfOpen: true }, (sock) => {
      this.localSockets.add(sock);
      this.server.emit('connection', sock);
    });
    return new Promise((resolve) => {
      local.once('error', () => resolve());
      local.listen({ path: abstractPath(name) }, () => {
        local.removeAllListeners('error');
        local.on('error', () => {});
        this.localServer = local;
        this.local = { hostKey, socket: name };
        resolve();
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

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers['upgrade'];
    if (
      this.closed ||
      req.method !== 'GET' ||
      typeof upgrade !== 'string' ||
      upgrade.toLowerCase() !== 'websocket' ||
      typeof key !== 'string' ||
      Buffer.from(key, 'base64').length !== 16 ||
      req.headers['sec-websocket-version'] !== '13'
    ) {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' + `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    );
    const s = socket as Socket;
    s.setNoDelay?.(true);
    s.setTimeout?.(0);
    const unix = this.localSockets.has(socket);
    if (unix) tuneLocalSocket(s);
    const ws = new Wire(socket, 'server', PRE_AUTH_MAX_FRAME_BYTES, unix ? 'unix' : 'tcp');
    this.pending.add(ws);
    this.onConnection(ws);
    ws.feed(head);
  }

  private onConnection(ws: Wire): void {
    const nonce = newNonce();
    const timer = setTimeout(() => refuse(ws, CloseCode.Handshake, 'no hello within handshake timeout'), HELLO_TIMEOUT_MS);
    const onClose = (): void => {
      clearTimeout(timer);
      this.pending.delete(ws);
    };
    ws.events = {
      close: onClose,
      message: (data, isBinary) => {
        clearTimeout(timer);
        let hello: Hello;
        try {
          hello = parseHello(data, isBinary);
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
        this.pending.delete(ws);
        // A dialler must wait for our welcome before sending anything else.
        ws.events.message = () => refuse(ws, CloseCode.Handshake, 'data before welcome');
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
          ws.events.close = () => {
            onClose();
            clearTimeout(p.timer);
            this.parked.delete(p);
          };
        }
      },
    };
    ws.sendText(challengeMessage(nonce));
  }

  private place(ws: Wire, hello: Hello): void {
    const a = this.attachment!;
    if (ws.closed || ws.closeSent || ws.closeReceived) return;
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
    ws.events = {};
    ws.sendText(welcomeMessage(this.secret, hello));
    ws.maxMessage = this.maxFrameBytes;
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
    for (const ws of this.pending) ws.terminate();
    this.pending.clear();
    const local = this.localServer;
    await Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      local ? new Promise<void>((resolve) => local.close(() => resolve())) : undefined,
    ]);
  }
}

function refuse(ws: Wire, code: number, reason: string): void {
  ws.close(code, closeReason(reason));
  // A dialler that ignores the close must not hold the socket forever.
  setTimeout(() => ws.terminate(), 2000).unref();
}
