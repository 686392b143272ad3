import { createHash, randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { loadNative } from '@mtl/native';
import { createKernel, nativeAdd, READ_BUFFER_BYTES, type Kernel } from './reduce';

/**
 * A minimal RFC 6455 WebSocket endpoint over an already-upgraded socket.
 *
 * Why not `ws` for the data plane: measured on this project's 2-core host, a
 * `ws` receiver copies every multi-read message into a freshly allocated
 * buffer (Buffer.concat) and hands out whole messages only, so a 16 MiB
 * all-reduce cost ~4 ms of copying plus 5-10 ms of GC per op, and payloads had
 * to be copied again into aligned frames. Peer links stay WebSocket
 * connections at the protocol level (HTTP upgrade, RFC 6455 frames, close
 * codes; a stock `ws` client can talk to the listener), but this endpoint
 * streams a binary frame's payload to the consumer piece by piece as it comes
 * off the socket, so the collective reduces straight from the socket's read
 * buffers into the destination array, and sends a payload as a view of the
 * caller's Float32Array behind a small header (one writev, no copy).
 *
 * Client frames carry the mask bit with an all-zero key: masking exists to
 * stop browser scripts from poisoning HTTP proxy caches; peer links are
 * authenticated node-to-node sockets, so a zero key costs nothing in safety and
 * lets both ends skip the per-byte XOR. Non-zero keys (other clients) are
 * unmasked correctly, just slower.
 *
 * Two receive modes: 'messages' buffers whole messages up to maxMessage bytes
 * (the handshake, with a small limit so an unauthenticated client cannot make
 * the listener buffer much); 'stream' hands binary frames to the consumer as
 * frameStart / frameData / frameEnd. Fragmented data messages are refused
 * (no peer of ours fragments).
 */

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Bytes of the collective's frame header at the start of every data-plane payload (frame.ts HEADER_BYTES). */
const DATA_HEADER_BYTES = 32;
/** Frame-aligned reads (see nextRead) once data frames are at least this large. */
const FRAME_ALIGNED_MIN = 65536;

/** Payloads still to come of at least this many bytes raise SO_RCVLOWAT (see Wire.syncLowat). */
const LOWAT_MIN = 65536;

/** SO_RCVLOWAT cap in bytes; MTL_RCVLOWAT overrides (0 turns the option off). */
function lowatCap(): number {
  const env = process.env.MTL_RCVLOWAT;
  if (env !== undefined && env !== '') {
    const v = Number(env);
    return Number.isFinite(v) && v >= LOWAT_MIN ? Math.min(Math.floor(v), 1 << 30) : 0;
  }
  return 1 << 20;
}

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function newKey(): string {
  return randomBytes(16).toString('base64');
}

export interface WireError extends Error {
  code: string;
}

function wireError(code: string, message: string): WireError {
  return Object.assign(new Error(message), { code });
}

export interface StreamConsumer {
  /**
   * Optional: memory the rest of the current frame's payload (at most `remaining`
   * bytes) may be read into directly, skipping the read buffer; the consumer
   * then gets pieces that already sit where they belong.
   */
  direct?(remaining: number): Uint8Array | null;
  frameStart(isBinary: boolean, length: number): void;
  frameData(piece: Buffer): void;
  frameEnd(): void;
}

export interface WireEvents {
  /** A whole message ('messages' mode). */
  message?(data: Buffer, isBinary: boolean): void;
  /** Once, when the socket has closed; 1006 if no close frame was received. */
  close?(code: number, reason: string): void;
  /** A protocol violation by the peer; the endpoint closes the connection itself. */
  error?(err: WireError): void;
}

const enum State {
  Header,
  Payload,
}

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** The file descriptor under a Node socket (its libuv handle's), or -1 when it has none. */
export function socketFd(sock: Duplex): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

export class Wire {
  events: WireEvents = {};
  stream: StreamConsumer | undefined;
  /** Largest payload accepted in one frame. */
  maxMessage: number;
  closeSent = false;
  closeReceived = false;
  closed = false;
  private peerCode = 1006;
  private peerReason = '';
  private state = State.Header;
  private readonly hb = Buffer.alloc(14);
  private hfill = 0;
  private opcode = 0;
  private remaining = 0;
  private length = 0;
  private lastLength = 0;
  private masked = false;
  private readonly mask = Buffer.alloc(4);
  private maskZero = true;
  private maskPos = 0;
  /** Where the current frame's payload goes: streamed, buffered, or dropped. */
  private sink: 'stream' | 'buffer' | 'drop' = 'drop';
  private parts: Buffer[] = [];
  private dead = false;
  private held: Buffer[] | undefined;
  private disarm: (() => void) | undefined;
  private directOff = false;
  /** The socket's fd while SO_RCVLOWAT is managed (Linux with the addon), else -1. */
  private lowatFd = -1;
  private lowatSet = 1;
  private lowatCap = 0;
  private setOpt: ((fd: number, name: 'rcvlowat', value: number) => number) | null = null;
  /** A native ring op reads this socket: no JS reads until endReadLease. */
  private readLeased = false;
  /** pause() was called by the link (back-pressure), independently of a lease. */
  private userPaused = false;
  /** A native ring op writes this socket: JS writes (and closing) wait in `deferred`. */
  private writeLeased = false;
  private deferred: (() => void)[] = [];

  readonly socket: Duplex;
  /** Reads go through our own buffers (onread): a plain TCP socket whose handle we own. */
  private readonly fastReads: boolean;
  /** The SIMD kernel whose memory socket reads land in (null: reads are ordinary buffers). */
  readonly kernel: Kernel | null;

  constructor(
    socket: Duplex,
    /** 'server' expects masked frames and sends unmasked ones; 'client' the opposite. */
    readonly role: 'server' | 'client',
    maxMessage: number,
    /** What carries the frames: TCP, or a Unix socket to a worker of the same host (local-socket.ts). */
    readonly transport: 'tcp' | 'unix' = 'tcp',
  ) {
    this.maxMessage = maxMessage;
    // With the native add the sums run where the reads land, so plain buffers do; the
    // WebAssembly memory is only needed by the wasm kernel (the fallback).
    const kernel = nativeAdd() ? null : createKernel();
    const taken = userBufferReads(socket, (chunk) => this.onData(chunk), (views) => this.nextRead(views), kernel);
    const fast = taken?.socket;
    if (taken) this.disarm = taken.disarm;
    this.kernel = fast ? kernel : null;
    this.socket = socket = fast ?? socket;
    this.fastReads = fast !== undefined;
    if (!fast) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A Unix socket's poll ignores SO_RCVLOWAT: managing it there would only cost syscalls.
    else if (transport === 'tcp') this.initLowat(fast);
    socket.on('error', () => {}); // surfaces as 'close' (1006)
    socket.on('end', () => {
      // The peer half-closed: finish our side too.
      const end = (): void => {
        if (!socket.destroyed) socket.end();
      };
      if (!this.whenWritable(end)) end();
    });
    socket.on('close', () => {
      this.closed = true;
      this.dead = true;
      this.events.close?.(this.peerCode, this.peerReason);
    });
  }

  /** Feed bytes that arrived with the upgrade (the `head` of the upgrade event). */
  feed(head: Buffer): void {
    if (head.length > 0) this.onData(head);
  }

  pause(): void {
    this.userPaused = true;
    this.socket.pause();
  }

  resume(): void {
    this.userPaused = false;
    if (!this.readLeased && !this.held) this.socket.resume();
  }

  // --- leases to the native ring (see native-ring.ts) ------------------------

  /** The socket's file descriptor when it is a plain (TCP or Unix) socket read through our buffers, else -1. */
  get fd(): number {
    if (!this.fastReads || this.socket instanceof TLSSocket || this.socket.destroyed) return -1;
    return socketFd(this.socket);
  }

  /** Between frames, nothing held or partly parsed: another reader may take over the stream here. */
  get atFrameBoundary(): boolean {
    return this.state === State.Header && this.hfill === 0 && !this.held && !this.dead && !this.closed && !this.readLeased;
  }

  /** Nothing of ours is waiting to be written: another writer may append frames now. */
  get writeIdle(): boolean {
    return !this.writeLeased && !this.closeSent && !this.closed && this.socket.writableLength === 0 && !this.socket.destroyed;
  }

  /** Stop reading: the native ring reads the socket until endReadLease. */
  leaseRead(): void {
    this.readLeased = true;
    if (this.lowatFd >= 0 && this.lowatSet !== 1) {
      this.setOpt!(this.lowatFd, 'rcvlowat', 1);
      this.lowatSet = 1;
    }
    this.socket.pause();
  }

  /** Take the stream back: parse `rest` (bytes the ring read but did not own), then read on. */
  endReadLease(rest: Buffer | null): void {
    this.readLeased = false;
    if (rest && rest.length > 0 && !this.dead) this.onData(rest);
    if (!this.userPaused && !this.held && !this.socket.destroyed) this.socket.resume();
  }

  /** From now on JS writes, close frames and teardown wait until endWriteLease. */
  leaseWrite(): void {
    this.writeLeased = true;
  }

  endWriteLease(): void {
    this.writeLeased = false;
    const pending = this.deferred;
    this.deferred = [];
    for (const fn of pending) fn();
  }

  /** Run fn now, or once the native ring has stopped writing this socket. */
  private whenWritable(fn: () => void): boolean {
    if (!this.writeLeased) return false;
    this.deferred.push(fn);
    return true;
  }

  // --- sending -----------------------------------------------------------

  /** WebSocket frame header for a final frame of `opcode` with `length` payload bytes, `extra` spare bytes after it. */
  frameHeader(opcode: number, length: number, extra = 0): { buf: Buffer; at: number } {
    const mask = this.role === 'client' ? 4 : 0;
    const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const buf = Buffer.allocUnsafe(2 + ext + mask + extra);
    buf[0] = 0x80 | opcode;
    if (ext === 0) buf[1] = length;
    else if (ext === 2) {
      buf[1] = 126;
      buf.writeUInt16BE(length, 2);
    } else {
      buf[1] = 127;
      buf.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
      buf.writeUInt32BE(length >>> 0, 6);
    }
    if (mask) {
      buf[1]! |= 0x80;
      buf.writeUInt32LE(0, 2 + ext); // zero key: see the class comment
    }
    return { buf, at: 2 + ext + mask };
  }

  /** Send a frame whose header (and any prefix of the payload) is in `head`, followed by `body` (sent without copying). */
  writeRaw(head: Buffer, body: Buffer | undefined, cb?: (err?: Error | null) => void): boolean {
    if (this.whenWritable(() => this.writeRaw(head, body, cb))) return true;
    if (this.socket.destroyed || this.closeSent) {
      if (cb) process.nextTick(cb, new Error('socket closed'));
      return false;
    }
    if (!body || body.length === 0) return this.socket.write(head, cb);
    this.socket.cork();
    this.socket.write(head);
    const ok = this.socket.write(body, cb);
    this.socket.uncork();
    return ok;
  }

  sendText(text: string, cb?: (err?: Error | null) => void): void {
    const data = Buffer.from(text, 'utf8');
    const { buf, at } = this.frameHeader(OP_TEXT, data.length, data.length);
    data.copy(buf, at);
    this.writeRaw(buf, undefined, cb);
  }

  sendBinary(data: Buffer, cb?: (err?: Error | null) => void): void {
    const { buf } = this.frameHeader(OP_BINARY, data.length);
    this.writeRaw(buf, data, cb);
  }

  private control(opcode: number, payload: Buffer): void {
    if (this.whenWritable(() => this.control(opcode, payload))) return;
    if (this.socket.destroyed || this.closeSent) return;
    const { buf, at } = this.frameHeader(opcode, payload.length, payload.length);
    payload.copy(buf, at);
    this.socket.write(buf);
  }

  /** Start (or answer) the closing handshake. */
  close(code: number, reason: string): void {
    if (this.whenWritable(() => this.close(code, reason))) return;
    if (this.closeSent || this.socket.destroyed) return;
    if (this.stream) this.stopDirect();
    const r = Buffer.from(reason, 'utf8').subarray(0, 123);
    const p = Buffer.allocUnsafe(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.control(OP_CLOSE, p);
    this.closeSent = true;
    if (this.closeReceived) this.socket.end();
  }


  terminate(): void {
    if (this.whenWritable(() => this.terminate())) return;
    this.stopDirect();
    this.dead = true;
    this.socket.destroy();
  }

  /** No more reads into destination arrays; incoming data is dropped from now on. */
  stopDirect(): void {
    if (this.directOff) return;
    this.directOff = true;
    this.disarm?.();
  }

  // --- receiving ---------------------------------------------------------

  private fail(code: string, message: string, closeCode: number): void {
    if (this.dead) return;
    this.stopDirect();
    this.dead = true;
    this.events.error?.(wireError(code, message));
    if (!this.closeSent && !this.socket.destroyed) {
      this.close(closeCode, message.slice(0, 100));
    }
    const end = (): void => {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    };
    if (!this.whenWritable(end)) end();
  }

  /**
   * Stop delivering frames (after the current one) until release(): the
   * dialler holds the socket between the welcome and its link taking over, so
   * no frame that arrives in the meantime is lost or parsed in the wrong mode.
   */
  hold(): void {
    this.held = [];
    this.socket.pause();
  }

  release(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const chunk of held) this.onData(chunk);
    if (!this.held && !this.readLeased) this.socket.resume();
  }

  /**
   * The buffer the next socket read goes into. While large data frames flow
   * (the last one was >= FRAME_ALIGNED_MIN bytes), reads follow frame
   * boundaries: one small read for the next frame's headers, then the
   * payload, read straight into its destination when it is only copied
   * (all-gather phase, broadcast: consumer.direct), or into our buffer when it
   * is summed, ending at the frame's end. So no copied payload goes through
   * the read buffer. Measured (16 MiB, 2 MiB chunks, W=4): user CPU per op
   * 11-12 -> 8-9 ms; with 512 KiB chunks the gain is small (each frame costs
   * an extra read). Small frames (barriers, handshake) use the whole buffer.
   */
  private nextRead(views: readonly Buffer[]): Uint8Array {
    if (this.state === State.Payload && this.sink === 'stream' && !this.held && !this.dead && !this.directOff && this.remaining >= 16384 && (!this.masked || this.maskZero)) {
      const v = this.stream!.direct?.(this.remaining);
      if (v) return v;
    }
    const buf = views[this.alignHint()]!;
    if (this.lastLength < FRAME_ALIGNED_MIN || this.sink === 'buffer' || this.directOff || this.held || this.dead) return buf;
    // Between frames: read exactly a data frame's headers (WebSocket + ours).
    if (this.state === State.Header && this.hfill === 0) return buf.subarray(0, (this.role === 'server' ? 14 : 10) + DATA_HEADER_BYTES);
    // A payload that is summed: stop at its end, so the next read is a header read again.
    if (this.state === State.Payload && this.remaining < buf.length) return buf.subarray(0, this.remaining);
    return buf;
  }

  /**
   * Where (mod 4) the next read should start in memory so that the payload's
   * float32 values land 4-byte aligned: data-plane payloads are whole floats
   * and start 32 bytes (our header) into the WebSocket payload, so inside a
   * frame that is the count of payload bytes already consumed; between frames
   * it assumes the next one is a large data frame of the peer's role.
   */
  private alignHint(): number {
    if (this.state === State.Payload) return (this.length - this.remaining) & 3;
    const head = this.role === 'server' ? 14 : 10;
    return -(head - this.hfill) & 3;
  }

  /**
   * SO_RCVLOWAT (Linux, with @mtl/native): while a large streamed payload is
   * under way, the kernel wakes the reader only once min(rest of the frame,
   * cap) bytes are queued instead of every ~64 KiB, so a 2 MiB frame arrives in
   * fewer, larger reads (fewer epoll wake-ups and read callbacks). Never more
   * than what is still to come of the current frame, which the peer has already
   * handed to its socket, so no read can stall; back to 1 (the default) between
   * frames, for small frames and control frames. Without the addon, on other
   * OSes or with MTL_RCVLOWAT=0 nothing changes.
   */
  private initLowat(sock: Socket): void {
    const cap = lowatCap();
    if (cap === 0 || process.platform !== 'linux') return;
    const nat = loadNative();
    const fd = socketFd(sock);
    if (!nat || typeof nat.setSockOpt !== 'function' || fd < 0) return;
    this.setOpt = nat.setSockOpt;
    this.lowatFd = fd;
    this.lowatCap = cap;
  }

  /** Bring SO_RCVLOWAT in line with the frame under way (after each read). */
  private syncLowat(): void {
    const want =
      this.state === State.Payload && this.sink === 'stream' && this.remaining >= LOWAT_MIN && !this.held && !this.dead
        ? Math.min(this.remaining, this.lowatCap)
        : 1;
    if (want === this.lowatSet) return;
    // The fd must still be this socket's (a closed fd number may be reused).
    if (this.socket.destroyed || socketFd(this.socket) !== this.lowatFd || this.setOpt!(this.lowatFd, 'rcvlowat', want) !== 0) {
      this.lowatFd = -1;
      return;
    }
    this.lowatSet = want;
  }

  /** The SO_RCVLOWAT value in force (1: the default, or not managed). Tests only. */
  get rcvLowat(): number {
    return this.lowatFd >= 0 ? this.lowatSet : 1;
  }

  private onData(chunk: Buffer): void {
    this.onDataInner(chunk);
    if (this.lowatFd >= 0) this.syncLowat();
  }

  private onDataInner(chunk: Buffer): void {
    if (this.held) {
      this.held.push(Buffer.from(chunk)); // reads may reuse one buffer
      return;
    }
    let off = 0;
    const n = chunk.length;
    while (off < n && !this.dead) {
      if (this.held) {
        (this.held as Buffer[]).push(Buffer.from(chunk.subarray(off)));
        return;
      }
      if (this.state === State.Header) {
        off = this.readHeader(chunk, off);
      } else {
        const take = Math.min(this.remaining, n - off);
        const piece = chunk.subarray(off, off + take);
        off += take;
        this.remaining -= take;
        if (this.masked && !this.maskZero) this.unmask(piece);
        this.payload(piece);
        if (this.remaining === 0) this.endFrame();
      }
    }
  }

  /** Consume header bytes from chunk at off; returns the new offset. */
  private readHeader(chunk: Buffer, off: number): number {
    const hb = this.hb;
    while (this.hfill < 2 && off < chunk.length) hb[this.hfill++] = chunk[off++]!;
    if (this.hfill < 2) return off;
    const len7 = hb[1]! & 0x7f;
    const masked = (hb[1]! & 0x80) !== 0;
    const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    while (this.hfill < need && off < chunk.length) hb[this.hfill++] = chunk[off++]!;
    if (this.hfill < need) return off;
    this.hfill = 0;

    const fin = (hb[0]! & 0x80) !== 0;
    const opcode = hb[0]! & 0x0f;
    if ((hb[0]! & 0x70) !== 0) return this.protocol('reserved bits set (no extension was negotiated)');
    if (this.role === 'server' && !masked) return this.protocol('client frame is not masked');
    if (this.role === 'client' && masked) return this.protocol('server frame is masked');
    let length = len7;
    let p = 2;
    if (len7 === 126) {
      length = hb.readUInt16BE(2);
      p = 4;
    } else if (len7 === 127) {
      const hi = hb.readUInt32BE(2);
      if (hi > 0x1fffff) return this.protocol('frame length beyond 2^53');
      length = hi * 2 ** 32 + hb.readUInt32BE(6);
      p = 10;
    }
    this.masked = masked;
    if (masked) {
      hb.copy(this.mask, 0, p, p + 4);
      this.maskZero = this.mask.readUInt32LE(0) === 0;
      this.maskPos = 0;
    }
    const control = opcode >= 0x8;
    if (control) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) return this.protocol(`unknown opcode ${opcode}`);
      if (!fin || length > 125) return this.protocol('fragmented or oversized control frame');
    } else {
      if (opcode !== OP_TEXT && opcode !== OP_BINARY) {
        return this.protocol(opcode === OP_CONT ? 'unexpected continuation frame' : `unknown opcode ${opcode}`);
      }
      if (!fin) return this.protocol('fragmented messages are not supported on peer links');
      if (length > this.maxMessage) {
        this.fail('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', `message of ${length} bytes exceeds the limit of ${this.maxMessage}`, 1009);
        return off;
      }
    }
    this.opcode = opcode;
    this.remaining = length;
    this.length = length;
    if (!control) this.lastLength = length;
    if (control || !this.stream) {
      this.sink = 'buffer';
      this.parts = [];
    } else {
      this.sink = 'stream';
      this.stream.frameStart(opcode === OP_BINARY, length);
    }
    this.state = State.Payload;
    if (length === 0) this.endFrame();
    return off;
  }

  private protocol(message: string): number {
    this.fail('WS_ERR_PROTOCOL', message, 1002);
    return Number.MAX_SAFE_INTEGER;
  }

  private unmask(piece: Buffer): void {
    const m = this.mask;
    let k = this.maskPos;
    for (let i = 0; i < piece.length; i++) {
      piece[i]! ^= m[k]!;
      k = (k + 1) & 3;
    }
    this.maskPos = k;
  }

  private payload(piece: Buffer): void {
    if (this.sink === 'stream') this.stream!.frameData(piece);
    else if (this.sink === 'buffer') this.parts.push(Buffer.from(piece)); // small: control frames and handshake messages
  }

  private endFrame(): void {
    this.state = State.Header;
    const sink = this.sink;
    this.sink = 'drop';
    if (sink === 'stream') {
      this.stream!.frameEnd();
      return;
    }
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    switch (this.opcode) {
      case OP_CLOSE:
        return this.onClose(data);
      case OP_PING:
        return this.control(OP_PONG, data);
      case OP_PONG:
        return;
      default:
        this.events.message?.(data, this.opcode === OP_BINARY);
    }
  }

  private onClose(data: Buffer): void {
    if (this.closeReceived) return;
    this.closeReceived = true;
    if (data.length >= 2) {
      this.peerCode = data.readUInt16BE(0);
      this.peerReason = data.subarray(2).toString('utf8');
    } else {
      this.peerCode = 1005;
    }
    if (!this.closeSent) this.close(this.peerCode === 1005 ? 1000 : this.peerCode, '');
    const end = (): void => {
      this.socket.end();
    };
    if (!this.whenWritable(end)) end();
    this.dead = true; // nothing may follow a close frame
  }
}


/**
 * Node allocates a fresh 64 KiB ArrayBuffer for every socket read; at ~1 GB/s
 * that external memory drives a full mark-compact every few tens of MiB
 * (measured: 15-28 ms of GC per 16 MiB all-reduce). A socket created with
 * `onread` reads into a buffer of ours instead, but that option exists only
 * when a socket is constructed, not for sockets an http server or client hands
 * over after an upgrade. So a plain TCP socket is re-wrapped: a new
 * net.Socket takes over its handle (documented `handle` option) with `onread`.
 * The buffer function lets each read start at the offset (mod 4) that keeps
 * payload floats aligned (for the JS fallback), and with WebAssembly the reads
 * land in the SIMD kernel's memory (see reduce.ts); a read that starts inside
 * a payload that is only copied (all-gather phase, broadcast) goes straight
 * into its destination. (Cutting reads at frame boundaries to make that the
 * rule measured slower: the extra header reads cost more than the copy.)
 * Everything downstream treats a chunk as valid only during the callback
 * (the receive path copies what it keeps). TLS sockets, or a Node whose
 * sockets do not look as expected, keep ordinary 'data' events.
 */
function userBufferReads(
  socket: Duplex,
  onChunk: (chunk: Buffer) => void,
  next: (views: readonly Buffer[]) => Uint8Array,
  kernel: Kernel | null,
): { socket: Socket; disarm: () => void } | undefined {
  if (!(socket instanceof Socket) || socket instanceof TLSSocket || socket.destroyed) return undefined;
  const s = socket as Socket & { _handle?: { useUserBuffer?: unknown } | null };
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || socket.listenerCount('data') > 0) return undefined;
  const base = kernel ? null : Buffer.allocUnsafeSlow(READ_BUFFER_BYTES + 4);
  const views = kernel ? kernel.reads : [0, 1, 2, 3].map((k) => base!.subarray(k, k + READ_BUFFER_BYTES));
  s._handle = null;
  socket.removeAllListeners();
  socket.on('error', () => {});
  // Retire the old object (its server stops counting it); the handle lives on in the new one.
  socket.destroy();
  // Set when the armed read buffer was swapped under Node's feet (disarm): the
  // next read lands there, not in the buffer Node passes to the callback.
  let swapped: Uint8Array | null = null;
  const fresh = new Socket({
    handle: handle as never,
    readable: true,
    writable: true,
    onread: {
      buffer: () => {
        swapped = null; // the buffer returned here is the one the next read uses
        return next(views);
      },
      callback: (n: number, buf: Uint8Array) => {
        const b = swapped ?? buf;
        onChunk(Buffer.from(b.buffer, b.byteOffset, n));
        return true;
      },
    },
  } as never);
  fresh.setNoDelay(true);
  /**
   * A read into a destination array may be armed when the link fails or
   * closes: point the handle back at our own buffer so nothing lands in a
   * caller's array after its op was rejected. (Each useUserBuffer call adds a
   * read listener in Node, so the wire calls this once.)
   */
  const disarm = (): void => {
    const h = handle as { useUserBuffer?: (b: Uint8Array) => void };
    if (fresh.destroyed) return;
    try {
      h.useUserBuffer?.(views[0]!);
      swapped = views[0]!;
    } catch {
      /* the handle is closing */
    }
  };
  return { socket: fresh, disarm };
}
