import type { WebSocket } from 'ws';

export type Stashed = [data: Buffer, isBinary: boolean];

export interface LinkHandlers {
  message(link: Link, data: Buffer, isBinary: boolean): void;
  close(link: Link, code: number, reason: string): void;
  error(link: Link, err: Error): void;
}

/**
 * One authenticated WebSocket to one peer rank, in both directions.
 *
 * Sending is windowed: at most `window` bytes are handed to ws (and from there
 * to the socket) before their write callbacks return; further frames wait in a
 * FIFO. This keeps Node's write buffer bounded and gives ops a signal
 * (whenWritable) to produce new frames lazily instead of allocating a whole
 * buffer's worth up front.
 */
export class Link {
  private inflight = 0;
  private readonly queue: { frame: Buffer; cb: (err?: Error) => void }[] = [];
  private waiters: (() => void)[] = [];
  /** Set when this side started the close, so the close event is not a fault. */
  closing = false;
  closed = false;
  /** Bytes of frames received for ops this rank has not started yet. */
  earlyBytes = 0;

  constructor(
    readonly peer: number,
    readonly address: string,
    private readonly ws: WebSocket,
    private readonly window: number,
    private readonly handlers: LinkHandlers,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.removeAllListeners('message'); // the dialler's stash collector, if any
    ws.on('message', (data, isBinary) => handlers.message(this, data as Buffer, isBinary));
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.failQueued(new Error(`link to peer ${peer} closed`));
      handlers.close(this, code, reason.toString());
    });
    ws.on('error', (err) => handlers.error(this, err));
  }

  /** Feed messages that arrived between the handshake and this link taking over. */
  replay(stash: Stashed[]): void {
    for (const [data, isBinary] of stash) this.handlers.message(this, data, isBinary);
  }

  /** Bytes handed to ws but not yet flushed, plus bytes queued behind them. */
  get backlog(): number {
    let n = this.inflight;
    for (const q of this.queue) n += q.frame.length;
    return n;
  }

  writable(): boolean {
    return !this.closed && this.queue.length === 0 && this.inflight < this.window;
  }

  /** Call fn once when the window has room again (or the link closes). */
  whenWritable(fn: () => void): void {
    this.waiters.push(fn);
  }

  send(frame: Buffer, cb: (err?: Error) => void): void {
    if (this.closed || this.closing) {
      process.nextTick(cb, new Error(`link to peer ${this.peer} is closed`));
      return;
    }
    // Always let one frame through so a frame larger than the window still moves.
    if (this.queue.length > 0 || (this.inflight > 0 && this.inflight + frame.length > this.window)) {
      this.queue.push({ frame, cb });
      return;
    }
    this.write(frame, cb);
  }

  private write(frame: Buffer, cb: (err?: Error) => void): void {
    this.inflight += frame.length;
    this.ws.send(frame, { binary: true, compress: false, fin: true }, (err) => {
      this.inflight -= frame.length;
      cb(err ?? undefined);
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const next = this.queue[0]!;
      if (this.inflight > 0 && this.inflight + next.frame.length > this.window) return;
      this.queue.shift();
      this.write(next.frame, next.cb);
    }
    if (this.waiters.length > 0 && (this.closed || this.writable())) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const fn of waiters) fn();
    }
  }

  private failQueued(err: Error): void {
    const queued = this.queue.splice(0);
    for (const q of queued) q.cb(err);
    const waiters = this.waiters;
    this.waiters = [];
    for (const fn of waiters) fn();
  }

  pauseReads(): void {
    if (!this.ws.isPaused) this.ws.pause();
  }

  resumeReads(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  /** Start a close from this side; the socket is destroyed if the peer does not answer in time. */
  close(code: number, reason: string): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.ws.close(code, reason);
    const t = setTimeout(() => this.ws.terminate(), 2000);
    t.unref();
  }

  terminate(): void {
    this.closing = true;
    this.ws.terminate();
  }

  /** Resolves once the socket is fully closed. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.ws.once('close', () => resolve()));
  }
}
