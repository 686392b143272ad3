import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  Reassembler,
  controlFrameBytes,
  decodeMessage,
  encodeFrames,
  proveSecret,
  type ControlMessage,
  type MessageOf,
  type MessageType,
} from '@mtl/protocol';

export interface ControlClientOptions {
  url: string;
  secret: string;
  name: string;
  advertiseHost: string;
  dataPort: number;
  /** The data-plane listener's Unix socket for peers of this host, if any. */
  local?: { hostKey: string; socket: string };
  rankHint?: number;
  connectTimeoutMs?: number;
  /** Largest control frame either way (default MTL_CONTROL_FRAME_BYTES, else 64 MiB); larger messages go in fragments. */
  maxFrameBytes?: number;
  /** CA certificate to trust for a wss:// coordinator (e.g. a self-signed one). */
  tlsCa?: string | Buffer;
}

/**
 * The worker's end of the control plane: proves the secret, then turns frames into typed messages.
 * Messages are queued so the training code can `await next('assign')` without racing the socket.
 */
export class ControlClient extends EventEmitter {
  private ws?: WebSocket;
  private readonly queue: ControlMessage[] = [];
  private waiter?: { types: MessageType[]; resolve: (m: ControlMessage) => void; reject: (e: Error) => void };
  private closedError?: Error;
  private heartbeat?: NodeJS.Timeout;
  private readonly frameBytes: number;
  /** Joins the coordinator's fragmented messages (a resume assignment). */
  private readonly inbound = new Reassembler();
  private fragmentId = 0;

  constructor(private readonly opts: ControlClientOptions) {
    super();
    this.frameBytes = opts.maxFrameBytes ?? controlFrameBytes();
  }

  async connect(): Promise<MessageOf<'welcome'>> {
    const ws = new WebSocket(this.opts.url, { maxPayload: this.frameBytes, perMessageDeflate: false, handshakeTimeout: this.opts.connectTimeoutMs ?? 10_000, ...(this.opts.tlsCa ? { ca: this.opts.tlsCa } : {}) });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return this.shutdown(new Error('coordinator sent a text frame on the control plane'));
      let msg: ControlMessage | undefined;
      try {
        msg = this.inbound.push(decodeMessage(data as Buffer));
      } catch (err) {
        return this.shutdown(new Error(`bad frame from the coordinator: ${(err as Error).message}`));
      }
      if (msg) this.deliver(msg);
    });
    ws.on('close', (code, reason) => this.shutdown(new Error(`lost the coordinator at ${this.opts.url} (${code}${reason.length ? ' ' + reason.toString() : ''})`)));
    ws.on('error', (err) => this.shutdown(new Error(`cannot reach the coordinator at ${this.opts.url}: ${err.message}`)));
    const challenge = await this.next('challenge');
    this.send({
      type: 'hello',
      proof: proveSecret(this.opts.secret, challenge.nonce, 'worker'),
      name: this.opts.name,
      host: this.opts.advertiseHost,
      dataPort: this.opts.dataPort,
      ...(this.opts.local ? { local: this.opts.local } : {}),
      pid: process.pid,
      ...(this.opts.rankHint !== undefined ? { rankHint: this.opts.rankHint } : {}),
    });
    const answer = await this.next('welcome', 'reject');
    if (answer.type === 'reject') throw new Error(`coordinator refused this worker: ${answer.reason}`);
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat', t: Date.now() }), 2000);
    this.heartbeat.unref();
    return answer;
  }

  send(msg: ControlMessage): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    for (const frame of encodeFrames(msg, this.frameBytes, this.fragmentId++)) this.ws.send(frame);
  }

  /** Resolve with the next message of one of the given types; abort/shutdown always wake the waiter. */
  next<T extends MessageType>(...types: T[]): Promise<MessageOf<T>> {
    const i = this.queue.findIndex((m) => (types as MessageType[]).includes(m.type));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as unknown as MessageOf<T>);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiter = { types, resolve: resolve as unknown as (m: ControlMessage) => void, reject };
    });
  }

  /** Wait for the coordinator's shutdown order (after `done`), tolerating a close that follows it. */
  async waitShutdown(timeoutMs: number): Promise<MessageOf<'shutdown'> | undefined> {
    const timer = new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref());
    return Promise.race([this.next('shutdown').catch(() => undefined), timer]);
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.ws?.close(1000, 'worker finished');
  }

  private deliver(msg: ControlMessage): void {
    if (msg.type === 'abort') this.emit('abort', msg.reason);
    const w = this.waiter;
    if (w && w.types.includes(msg.type)) {
      this.waiter = undefined;
      w.resolve(msg);
      return;
    }
    // An abort wakes whoever waits for the run to go on, but not a worker that has already stopped
    // and waits for the coordinator's verdict (a new assignment or the shutdown).
    if (w && msg.type === 'abort' && !w.types.includes('shutdown')) {
      this.waiter = undefined;
      w.reject(new Error(`run aborted by the coordinator: ${msg.reason}`));
      return;
    }
    if (w && msg.type === 'reject') {
      this.waiter = undefined;
      w.reject(new Error(`coordinator refused this worker: ${msg.reason}`));
      return;
    }
    this.queue.push(msg);
  }

  private shutdown(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    clearInterval(this.heartbeat);
    this.emit('lost', err);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
    this.ws?.terminate();
  }
}
