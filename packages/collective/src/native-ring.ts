import { loadNative, type NativeKernels, type RingResult } from '@mtl/native';
import { CollectiveError, FrameDefect } from './errors';
import { HEADER_BYTES, OP_NAMES, OpKind, writeHeader, type FrameHeader } from './frame';
import type { Link } from './link';
import type { Early } from './mesh';
import { AllReduceOp, type OpHost, type RunningOp } from './ops';
import type { Target } from './reduce';
import { mod } from './segments';

/**
 * All-reduce on the native ring: for a large all-reduce of the world group,
 * `@mtl/native`'s `ringAllReduce` runs the whole op on a libuv worker thread,
 * reading the left link's socket and writing the right one's directly with
 * non-blocking reads and sendmsg, summing with the same AVX add. It speaks the
 * same frames, the same schedule and the same summation order as AllReduceOp,
 * so its peers cannot tell (ranks with and without it mix, bit for bit).
 *
 * Why: measured at W=4 on 2 cores, the JS data path spends ~4 ms of user CPU
 * per 16 MiB op and rank in Node's stream and event-loop code (read
 * callbacks, the Writable, promise plumbing, V8 background work) on top of
 * the ~2 ms the sums need; 4 processes on 2 cores turn every such millisecond
 * into wall time. A thread with a poll loop costs a few syscalls per frame
 * instead, and the JS thread is free while the op runs (gradient buckets:
 * backward compute overlaps the reduction).
 *
 * How the socket is shared: when the op starts, the left link stops reading
 * (exactly at a frame boundary) and the right link defers every JS write,
 * close frame and teardown; the thread reads only this op's frames and hands
 * back anything else it read (other ops' frames, a ping, a close frame, a
 * malformed frame) in stream order, which the link then parses as if it had
 * read it itself. Ops are begun one at a time in issue order while one runs
 * natively (the same order on every rank, so this cannot deadlock). An op goes
 * native only as the oldest op of its group in flight on this rank, with its
 * links at a frame boundary and flushed; it waits up to 20 ms for that (an
 * earlier gradient bucket finishing), keeping its place. Ops of other groups
 * and small ones go on meanwhile on the JS path: their writes to the leased
 * link wait and their frames from it are handed back. An op runs on the JS
 * path instead when the addon or Linux is missing, the socket is TLS, the
 * buffer is small, or the wait runs out. Frames that arrived before the op
 * began are handed to the thread, which applies them first.
 * `MTL_NATIVE_RING=0` turns the native ring off; `MTL_NATIVE_RING_MIN` sets the
 * smallest buffer (bytes, default 256 KiB) that uses it.
 */

/** Buffers smaller than this go the JS path (the thread hand-off costs ~0.1 ms). */
const DEFAULT_MIN_BYTES = 256 * 1024;
/** How long an op waits for earlier ops and frames on its links before taking the JS path. */
const FLUSH_WAIT_MS = 20;
/** Other traffic the thread keeps aside for JS during one op before giving up. */
const MAX_REST_BYTES = 256 * 1024 * 1024;

type RingKernels = Required<Pick<NativeKernels, 'ringAllReduce' | 'ringCancel'>>;

/** The native ring of this process, or null (off, not built, not Linux). */
export function nativeRing(): RingKernels | null {
  if (process.env.MTL_NATIVE_RING === '0') return null;
  const k = loadNative();
  if (!k || typeof k.ringAllReduce !== 'function' || typeof k.ringCancel !== 'function') return null;
  return { ringAllReduce: k.ringAllReduce, ringCancel: k.ringCancel };
}

function minBytes(): number {
  const v = Number(process.env.MTL_NATIVE_RING_MIN);
  return process.env.MTL_NATIVE_RING_MIN !== undefined && Number.isFinite(v) && v >= 0 ? v : DEFAULT_MIN_BYTES;
}

/** What the ring op needs from its group and mesh besides an OpHost. */
export interface RingHost extends OpHost {
  readonly lane: RingLane;
  /** Largest WebSocket payload a link accepts. */
  readonly maxFrameBytes: number;
  /** This rank's world rank and the world size. */
  readonly worldRank: number;
  readonly worldSize: number;
  /** Apply the frames of op's seq that arrived before it began (the JS path). */
  applyEarlyFrames(op: RunningOp): void;
  /** Those frames, if any; takeEarly removes them (the native ring applies them itself). */
  peekEarly(seq: number): readonly Early[] | undefined;
  takeEarly(seq: number): void;
  /** Another op of this group is in flight. */
  othersActive(seq: number): boolean;
  /** The mesh's failure, if it has failed. */
  failure(): { error: unknown } | undefined;
  /** A frame of this op from that link was malformed. */
  defect(link: Link, text: string): void;
  /** An op finished on the native ring (stats). */
  countNative(): void;
  /** The link broke under the op; `send` waits briefly for the close that names the real cause. */
  lost(link: Link, text: string, send: boolean): void;
}

/** Early frames as the native ring takes them: each 32-byte header, then its payload. */
function preFrames(early: readonly Early[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of early) {
    const hb = Buffer.alloc(HEADER_BYTES);
    writeHeader(hb, e.h);
    parts.push(hb, e.payload);
  }
  return Buffer.concat(parts);
}

/** One per mesh: at most one op on the native ring at a time, the rest wait in issue order. */
export class RingLane {
  running: RingAllReduceOp | null = null;
  private readonly waiting: RingAllReduceOp[] = [];
  readonly minBytes = minBytes();

  constructor(readonly ring: RingKernels | null) {}

  /** Would an all-reduce of this many bytes be offered to the native ring? */
  wants(bytes: number): boolean {
    return this.ring !== null && bytes >= this.minBytes;
  }

  start(op: RingAllReduceOp): void {
    if (this.running || this.waiting.length > 0) this.waiting.push(op);
    else op.launch();
  }

  drop(op: RingAllReduceOp): void {
    const k = this.waiting.indexOf(op);
    if (k >= 0) this.waiting.splice(k, 1);
  }

  /** The running op ended: launch waiting ops in order until one takes the ring again. */
  released(): void {
    this.running = null;
    while (!this.running && this.waiting.length > 0) this.waiting.shift()!.launch();
  }
}

/**
 * An all-reduce that runs on the native ring when it can, else as an
 * AllReduceOp (decided when it is launched, not when it is issued).
 */
export class RingAllReduceOp implements RunningOp {
  readonly promise: Promise<void>;
  readonly takesEarly = true;
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  private done = false;
  private js: AllReduceOp | null = null;
  private launched = false;
  /** Native op id while the thread runs. */
  private nativeId = -1;
  private failure: { error: unknown } | undefined;
  /** Why a frame of this op handed back by the thread is malformed. */
  private defectText: string | null = null;
  private readonly left: number;
  private readonly right: number;
  /** Waiting for the right link to flush (see launch). */
  private waiting = false;
  private waitUntil = 0;
  private waitTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: RingHost,
    readonly seq: number,
    private readonly buf: Float32Array,
  ) {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    const n = host.members.length;
    this.left = host.members[mod(host.rank - 1, n)]!;
    this.right = host.members[mod(host.rank + 1, n)]!;
  }

  get name(): string {
    return `allReduce seq ${this.seq}`;
  }

  /** Until it launches, frames for it are kept aside (and then applied by the path it takes). */
  get receiving(): boolean {
    return this.js !== null || this.launched || this.done;
  }

  get settled(): boolean {
    return this.js ? this.js.settled : this.done;
  }


  begin(): void {
    this.host.lane.start(this);
  }

  /** Called by the lane in issue order. */
  launch(): void {
    if (this.done || this.js) return;
    const r = this.startNative();
    if (r === 'started') return;
    if (r === 'busy' && this.waitUntil === 0) {
      // An earlier op (typically the previous gradient bucket) is still finishing or flushing on
      // these links: worth waiting a little rather than running this op on the JS path. The op
      // keeps the lane meanwhile, so later ops stay behind it in issue order.
      this.waitUntil = Date.now() + FLUSH_WAIT_MS;
      this.host.lane.running = this;
      this.waitForFlush();
      return;
    }
    if (this.waitUntil !== 0 && r === 'busy' && Date.now() < this.waitUntil) {
      this.waitForFlush();
      return;
    }
    this.startJs();
  }

  private waitForFlush(): void {
    const next = this.host.link(this.right);
    const retry = (): void => {
      if (this.waiting) this.launch();
    };
    this.waiting = true;
    next.whenSendIdle(retry);
    // Earlier ops settle without an event of ours: look again every millisecond meanwhile.
    this.waitTimer ??= setTimeout(() => {
      this.waitTimer = undefined;
      retry();
    }, 1);
  }

  /** Leave the flush wait; `release`: hand the lane on (the op takes the JS path or failed). */
  private stopWaiting(release: boolean): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    this.waiting = false;
    const lane = this.host.lane;
    if (release && this.waitUntil !== 0 && lane.running === this) {
      lane.running = null;
      queueMicrotask(() => {
        if (!lane.running) lane.released();
      });
    }
  }

  private startJs(): void {
    if (this.js) return;
    this.stopWaiting(true);
    this.host.lane.drop(this);
    const op = new AllReduceOp(this.host, this.seq, this.buf);
    this.js = op;
    op.promise.then(
      () => this.resolve(),
      (e: unknown) => this.reject(e),
    );
    op.begin();
    this.host.applyEarlyFrames(op);
    op.check();
  }

  /** 'started'; 'busy' (earlier ops or frames still in flight on its links: worth a short wait); 'no'. */
  private startNative(): 'started' | 'busy' | 'no' {
    const { host } = this;
    const ring = host.lane.ring;
    if (!ring || host.failure()) return 'no';
    const prev = host.link(this.left);
    const next = host.link(this.right);
    // Frames that came before the op began go to the thread too, if they came from the left
    // (from anywhere else they are a defect, which the JS path reports).
    const early = host.peekEarly(this.seq);
    if (early?.some((e) => e.link !== prev)) return 'no';
    const prevFd = prev.ringFd;
    const nextFd = next.ringFd;
    if (prevFd < 0 || nextFd < 0) return 'no';
    // Only as the oldest op of the group in flight here: an earlier op still running would get
    // its frames from the left only after this one (they are kept aside), and its forwards to the
    // right would wait behind the lease, while peers may have queued this op behind theirs (a
    // cycle: measured as a hang with back-to-back ops). So wait for it instead.
    if (host.othersActive(this.seq) || !prev.readIdle || !next.sendIdle) return next.closed || next.closing || prev.closed ? 'no' : 'busy';
    this.stopWaiting(false);
    const onBreak = (): void => {
      if (this.nativeId >= 0) host.lane.ring?.ringCancel(this.nativeId);
    };
    next.leaseWrite(onBreak);
    prev.leaseRead(onBreak);
    try {
      this.nativeId = ring.ringAllReduce(
        {
          prevFd,
          nextFd,
          prevMasked: !prev.isClient,
          nextMasked: next.isClient,
          n: host.members.length,
          i: host.rank,
          chunkElems: host.chunkElems,
          kind: OpKind.AllReduce,
          group: host.id,
          seq: this.seq,
          maxFrame: host.maxFrameBytes,
          maxRest: MAX_REST_BYTES,
          worldMask: host.worldSize >= 32 ? 0xffffffff : ((1 << host.worldSize) - 1) >>> 0,
          pairMask: ((1 << host.worldRank) | (1 << this.left)) >>> 0,
          pre: early ? preFrames(early) : null,
        },
        this.buf,
        (r) => this.finished(r),
      );
    } catch {
      next.endWriteLease();
      prev.endReadLease(null);
      return 'no';
    }
    if (early) host.takeEarly(this.seq);
    this.launched = true;
    host.lane.running = this;
    return 'started';
  }

  /** The thread is done with the sockets and the buffer. */
  private finished(r: RingResult): void {
    const { host } = this;
    const prev = host.link(this.left);
    const next = host.link(this.right);
    this.nativeId = -1;
    if (r.framesSent > 0) host.countSent(r.framesSent * HEADER_BYTES + r.payloadSent);
    if (r.framesReceived > 0) host.countReceived(r.framesReceived * HEADER_BYTES + r.payloadReceived);
    if (r.status === 'defect') {
      this.defectText = r.message.replace('{op}', this.name).replace(/\{kind:(\d+)\}/, (_, k: string) => OP_NAMES[Number(k)] ?? `kind ${k}`);
    }
    next.endWriteLease();
    // What the thread read but did not own is parsed now; that may fail the mesh (and this op).
    prev.endReadLease(r.rest);
    if (!this.done) {
      if (this.failure) this.settle(this.failure.error);
      else if (r.status === 'ok') {
        this.settle();
        host.countNative();
        host.finished(this);
      } else if (r.status === 'cancelled') {
        // Not by a failure of the mesh: a link was terminated under the op.
        const broken = prev.closing ? prev : next;
        host.lost(broken, `the link was terminated during ${this.name}`, false);
        this.settle(host.failure()?.error ?? new CollectiveError(`${this.name} was cancelled`));
      } else if (r.status === 'defect') host.defect(prev, this.defectText!);
      else if (r.status === 'next-error') host.lost(next, `${r.message} during ${this.name}`, true);
      else host.lost(prev, `${r.message} during ${this.name}`, r.status === 'prev-closed' || r.status === 'prev-error' || r.status === 'handback');
    }
    host.lane.released();
  }

  private settle(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (err === undefined) this.resolve();
    else this.reject(err);
  }

  accept(from: number, h: FrameHeader): Target {
    if (this.js) return this.js.accept(from, h);
    if (this.defectText !== null) throw new FrameDefect(this.defectText);
    throw new FrameDefect(`unexpected sender for ${this.name}: only rank ${this.left} sends to this rank`);
  }

  complete(h: FrameHeader, t: Target): void {
    this.js?.complete(h, t);
  }

  needs(peer: number): boolean {
    if (this.js) return this.js.needs(peer);
    return !this.done && (peer === this.left || peer === this.right);
  }

  fail(err: unknown): void {
    if (this.js) return this.js.fail(err);
    if (this.done || this.failure) return;
    if (this.nativeId >= 0) {
      // The thread may still write into the buffer: settle once it has stopped.
      this.failure = { error: err };
      this.host.lane.ring?.ringCancel(this.nativeId);
      return;
    }
    this.host.lane.drop(this);
    this.stopWaiting(true);
    this.settle(err);
  }

  check(): void {
    this.js?.check();
  }
}
