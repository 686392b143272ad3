import { HEADER_BYTES, writeHeader, type FrameHeader } from './frame';
import type { Kernel } from './reduce';
import type { StreamConsumer, Wire, WireError } from './wire';

export interface LinkHandlers {
  /** Incoming data-plane frames, streamed (see Wire). */
  consumer(link: Link): StreamConsumer;
  close(link: Link, code: number, reason: string): void;
  error(link: Link, err: WireError): void;
}

/**
 * One authenticated WebSocket to one peer rank, in both directions.
 *
 * Sending is windowed: at most `window` bytes are handed to the socket before
 * their write callbacks return; further frames wait in a FIFO. This keeps
 * Node's write queue bounded and gives ops a signal (whenWritable) to produce
 * new frames lazily. A frame is one writev of a small buffer (WebSocket header
 * + 32-byte frame header) and the payload view, never copied.
 */
export class Link {
  private inflight = 0;
  private readonly queue: { h: FrameHeader; payload: Float32Array; cb: (err?: Error) => void }[] = [];
  private waiters: (() => void)[] = [];
  /** Set when this side started the close, so the close event is not a fault. */
  closing = false;
  closed = false;
  /** Bytes of frames received for ops this rank has not started yet. */
  earlyBytes = 0;
  private readonly closeWaiters: (() => void)[] = [];
  readonly kernel: Kernel | null;
  readonly transport: 'tcp' | 'unix';

  constructor(
    readonly peer: number,
    readonly address: string,
    private readonly wire: Wire,
    private readonly window: number,
    handlers: LinkHandlers,
  ) {
    this.kernel = wire.kernel;
    this.transport = wire.transport;
    wire.stream = handlers.consumer(this);
    wire.events = {
      close: (code, reason) => {
        this.closed = true;
        this.failQueued(new Error(`link to peer ${peer} closed`));
        handlers.close(this, code, reason);
        for (const fn of this.closeWaiters.splice(0)) fn();
      },
      error: (err) => handlers.error(this, err),
    };
  }

  /** Begin receiving (frames held since the handshake are delivered now). */
  start(): void {
    if (this.wire.closed) queueMicrotask(() => this.wire.events.close?.(1006, ''));
    else this.wire.release();
  }

  /** Bytes handed to the socket but not yet flushed, plus bytes queued behind them. */
  get backlog(): number {
    let n = this.inflight;
    for (const q of this.queue) n += HEADER_BYTES + q.payload.byteLength;
    return n;
  }

  writable(): boolean {
    return !this.closed && this.queue.length === 0 && this.inflight < this.window;
  }

  /** Call fn once when the window has room again (or the link closes). */
  whenWritable(fn: () => void): void {
    this.waiters.push(fn);
  }

  /** Send one frame; `payload` is referenced, not copied, until cb runs. */
  send(h: FrameHeader, payload: Float32Array, cb: (err?: Error) => void): void {
    if (this.closed || this.closing) {
      process.nextTick(cb, new Error(`link to peer ${this.peer} is closed`));
      return;
    }
    const size = HEADER_BYTES + payload.byteLength;
    // Always let one frame through so a frame larger than the window still moves.
    if (this.queue.length > 0 || (this.inflight > 0 && this.inflight + size > this.window)) {
      this.queue.push({ h, payload, cb });
      return;
    }
    this.write(h, payload, cb);
  }

  private write(h: FrameHeader, payload: Float32Array, cb: (err?: Error) => void): void {
    const size = HEADER_BYTES + payload.byteLength;
    this.inflight += size;
    const { buf, at } = this.wire.frameHeader(0x2, size, HEADER_BYTES);
    writeHeader(at === 0 ? buf : buf.subarray(at), h);
    const body = payload.byteLength > 0 ? Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) : undefined;
    this.wire.writeRaw(buf, body, (err) => {
      this.inflight -= size;
      cb(err ?? undefined);
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const next = this.queue[0]!;
      const size = HEADER_BYTES + next.payload.byteLength;
      if (this.inflight > 0 && this.inflight + size > this.window) return;
      this.queue.shift();
      this.write(next.h, next.payload, next.cb);
    }
    if (this.waiters.length > 0 && (this.closed || this.writable())) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const fn of waiters) fn();
    }
    if (this.idleWaiters.length > 0 && (this.closed || (this.inflight === 0 && this.queue.length === 0))) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const fn of idle) fn();
    }
  }

  private idleWaiters: (() => void)[] = [];

  /**
   * Call fn once every frame handed to this link has been flushed (or it closed); if that is
   * already so, on the next turn of the event loop (bytes may still sit in the socket's buffer).
   */
  whenSendIdle(fn: () => void): void {
    if (this.closed || (this.inflight === 0 && this.queue.length === 0)) setImmediate(fn);
    else this.idleWaiters.push(fn);
  }

  private failQueued(err: Error): void {
    const queued = this.queue.splice(0);
    for (const q of queued) q.cb(err);
    const waiters = [...this.waiters, ...this.idleWaiters];
    this.waiters = [];
    this.idleWaiters = [];
    for (const fn of waiters) fn();
  }

  // --- the native ring (native-ring.ts) takes over the socket for one op ----

  /** The socket's descriptor when the native ring may drive it (plain TCP on our reads), else -1. */
  get ringFd(): number {
    return this.closed || this.closing ? -1 : this.wire.fd;
  }

  /** This side is the WebSocket client of the link (it dialled), so the frames it sends are masked. */
  get isClient(): boolean {
    return this.wire.role === 'client';
  }

  /** No frame is partly read: the ring may read from here on. */
  get readIdle(): boolean {
    return !this.closed && !this.closing && this.wire.atFrameBoundary;
  }

  /** Nothing is queued or unflushed: the ring may write from here on. */
  get sendIdle(): boolean {
    return !this.closed && !this.closing && this.inflight === 0 && this.queue.length === 0 && this.wire.writeIdle;
  }

  /** Called if the link is terminated while the ring holds it (the ring must stop first). */
  private onBreak: (() => void) | null = null;

  leaseRead(onBreak: () => void): void {
    this.onBreak = onBreak;
    this.wire.leaseRead();
  }

  endReadLease(rest: Buffer | null): void {
    this.onBreak = null;
    this.wire.endReadLease(rest);
  }

  leaseWrite(onBreak: () => void): void {
    this.onBreak = onBreak;
    this.wire.leaseWrite();
  }

  endWriteLease(): void {
    this.onBreak = null;
    this.wire.endWriteLease();
  }

  pauseReads(): void {
    this.wire.pause();
  }

  resumeReads(): void {
    this.wire.resume();
  }

  /** Start a close from this side; the socket is destroyed if the peer does not answer in time. */
  close(code: number, reason: string): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.wire.stopDirect();
    this.wire.close(code, reason);
    const t = setTimeout(() => this.wire.terminate(), 2000);
    t.unref();
  }

  terminate(): void {
    this.closing = true;
    // Under a lease the socket is destroyed once the ring has stopped (the wire defers it).
    this.onBreak?.();
    this.wire.terminate();
  }

  /** Resolves once the socket is fully closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }
}
