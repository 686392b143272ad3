import { FrameDefect } from './errors';
import { HEADER_BYTES, OP_NAMES, OpKind, type FrameHeader } from './frame';
import type { Link } from './link';
import type { Target } from './reduce';
import { chunkCount, chunkLength, mod, segmentLength, segmentStart } from './segments';

/** What an op needs from its process group. */
export interface OpHost {
  readonly id: number;
  /** World ranks of the group, in group order. */
  readonly members: readonly number[];
  /** This rank's index in members. */
  readonly rank: number;
  readonly chunkElems: number;
  link(worldRank: number): Link;
  countSent(bytes: number): void;
  countReceived(bytes: number): void;
  sendFailed(link: Link, err: Error): void;
  finished(op: RunningOp): void;
}

/** An op of any result type, as its group tracks it. */
export interface RunningOp {
  readonly seq: number;
  /** The op applies frames that arrived before it began itself (else its group does, at once). */
  readonly takesEarly?: boolean;
  /** False while such an op has not launched: its frames are kept aside like early ones. */
  readonly receiving?: boolean;
  readonly name: string;
  readonly settled: boolean;
  readonly promise: Promise<unknown>;
  begin(): void;
  /** A frame's header arrived: validate it and say where its payload goes. */
  accept(from: number, h: FrameHeader): Target;
  /** The whole payload of an accepted frame has been applied to its target. */
  complete(h: FrameHeader, t: Target): void;
  needs(peer: number): boolean;
  fail(err: unknown): void;
  check(): void;
}

/**
 * One collective in flight on one rank. Every op here is a ring schedule: data
 * only ever arrives from the left neighbour and leaves to the right one, cut
 * into chunks that each travel hop by hop, so sending, receiving and reducing
 * of different chunks overlap. An op settles when every expected chunk has
 * arrived AND every frame it sent has been flushed to the socket: resolving
 * earlier would let the caller overwrite a buffer that is still being sent.
 *
 * No frame buffers: payloads are sent as views of the caller's array (or of
 * the op's result array) and incoming payloads are summed or copied straight
 * into it as they come off the socket; a received chunk is forwarded by
 * sending the view it was just written into.
 */
export abstract class Op<T> implements RunningOp {
  readonly promise: Promise<T>;
  settled = false;
  protected readonly n: number;
  protected readonly i: number;
  protected readonly left: number;
  protected readonly right: number;
  protected readonly ce: number;
  /** Chunks still to receive. */
  protected recvLeft = 0;
  private sendsPending = 0;
  /** Initial frames (read from the caller's buffer) not produced yet. */
  private produceNext = 0;
  private produceCount = 0;
  private make: (k: number) => void = () => {};
  private resolve!: (v: T) => void;
  private reject!: (e: unknown) => void;

  constructor(
    protected readonly host: OpHost,
    readonly kind: OpKind,
    readonly seq: number,
    /** Element count carried in every header; peers must agree on it. */
    readonly total: number,
    readonly aux: number,
  ) {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.n = host.members.length;
    this.i = host.rank;
    this.left = host.members[mod(this.i - 1, this.n)]!;
    this.right = host.members[mod(this.i + 1, this.n)]!;
    this.ce = host.chunkElems;
  }

  get name(): string {
    return `${OP_NAMES[this.kind]} seq ${this.seq}`;
  }

  /** Set up expectations and start producing the first hop. */
  abstract begin(): void;
  /** Validate a header (throw FrameDefect) and return where its payload goes. */
  protected abstract target(h: FrameHeader): Target;
  /** The payload is in place: forward it, if this hop does. */
  protected abstract arrived(h: FrameHeader, t: Target): void;
  protected abstract result(): T;

  accept(from: number, h: FrameHeader): Target {
    if (h.kind !== this.kind) throw new FrameDefect(`op kind mismatch: peer runs ${OP_NAMES[h.kind]}, this rank runs ${this.name}`);
    if (h.total !== this.total) throw new FrameDefect(`element count mismatch in ${this.name}: peer has ${h.total}, this rank has ${this.total}`);
    if (h.aux !== this.aux) throw new FrameDefect(`root mismatch in ${this.name}: peer uses root ${h.aux}, this rank uses ${this.aux}`);
    if (from !== this.left) throw new FrameDefect(`unexpected sender for ${this.name}: only rank ${this.left} sends to this rank`);
    return this.target(h);
  }

  complete(h: FrameHeader, t: Target): void {
    if (this.settled) return;
    this.arrived(h, t);
    this.recvLeft--;
    this.host.countReceived(HEADER_BYTES + h.bytes);
    this.check();
  }

  /** Does this op still need something from that peer (used when a peer closes gracefully)? */
  needs(peer: number): boolean {
    return (this.recvLeft > 0 && peer === this.left) || ((this.sendsPending > 0 || this.produceNext < this.produceCount) && peer === this.right);
  }

  /** Reject now; called once by the group when the mesh fails or the op cannot run. */
  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  protected defect(text: string): never {
    throw new FrameDefect(`${text} (${this.name})`);
  }

  /** Send `payload` (a view, not copied) to the right neighbour as chunk `chunk` of step `step`. */
  protected send(step: number, chunk: number, payload: Float32Array): void {
    const link = this.host.link(this.right);
    const h: FrameHeader = { kind: this.kind, step, group: this.host.id, seq: this.seq, chunk, total: this.total, aux: this.aux, bytes: payload.byteLength };
    this.sendsPending++;
    link.send(h, payload, (err) => {
      this.sendsPending--;
      if (err) {
        if (!this.settled) this.host.sendFailed(link, err);
        return;
      }
      this.host.countSent(HEADER_BYTES + h.bytes);
      this.check();
    });
  }

  /**
   * Produce `count` initial frames lazily, only while the right link has window
   * room, so the socket's write queue stays bounded.
   */
  protected produce(count: number, make: (k: number) => void): void {
    this.produceCount = count;
    this.make = make;
    this.pump();
  }

  private readonly pump = (): void => {
    if (this.settled) return;
    const link = this.host.link(this.right);
    while (this.produceNext < this.produceCount) {
      if (link.closed) return; // the mesh fails this op from the close handler
      if (!link.writable()) {
        link.whenWritable(this.pump);
        return;
      }
      this.make(this.produceNext++);
    }
    this.check();
  };

  /** Settle when nothing is left to receive, produce or flush. */
  check(): void {
    if (this.settled || this.recvLeft > 0 || this.sendsPending > 0 || this.produceNext < this.produceCount) return;
    this.settled = true;
    this.host.finished(this);
    this.resolve(this.result());
  }
}

/**
 * Ring all-reduce: reduce-scatter (steps 0..n-2) then all-gather (steps
 * n-1..2n-3) over n segments. At step s rank j sends segment (j - s) mod n.
 * Segment k is summed in ring order starting at rank k and finishes at rank
 * k-1, which then circulates the final bits, so every rank ends with the same
 * bytes and the summation order depends only on n.
 *
 * Everything happens in the caller's buffer: a received partial sum is added
 * into this rank's own copy of that segment, which is then sent on as a view.
 * That overwrites local values the rank no longer needs (every segment but the
 * one it finalises is overwritten again by the gather), and never touches a
 * range that is still being sent: a range is next written only after the
 * chunk sent from it went round the ring.
 */
export class AllReduceOp extends Op<void> {
  private maxChunks = 0;
  private seen = new Uint8Array(0);

  constructor(host: OpHost, seq: number, private readonly buf: Float32Array, kind: OpKind = OpKind.AllReduce) {
    super(host, kind, seq, buf.length, 0);
  }

  begin(): void {
    const { n, i, ce, buf } = this;
    const L = buf.length;
    const steps = 2 * n - 2;
    this.maxChunks = chunkCount(Math.ceil(L / n), ce);
    this.seen = new Uint8Array(steps * this.maxChunks);
    const li = mod(i - 1, n);
    for (let s = 0; s < steps; s++) this.recvLeft += chunkCount(segmentLength(L, n, mod(li - s, n)), ce);
    const start = segmentStart(L, n, i);
    const len = segmentLength(L, n, i);
    this.produce(chunkCount(len, ce), (c) => {
      const off = start + c * ce;
      this.send(0, c, buf.subarray(off, off + chunkLength(len, ce, c)));
    });
  }

  protected target(h: FrameHeader): Target {
    const { n, ce, buf } = this;
    const L = buf.length;
    const s = h.step;
    const c = h.chunk;
    if (s >= 2 * n - 2) this.defect(`step ${s} out of range`);
    const seg = mod(this.i - 1 - s, n);
    const len = segmentLength(L, n, seg);
    if (c >= chunkCount(len, ce)) this.defect(`chunk ${c} out of range for step ${s}`);
    const idx = s * this.maxChunks + c;
    if (this.seen[idx]) this.defect(`duplicate chunk ${c} of step ${s}`);
    this.seen[idx] = 1;
    const elems = chunkLength(len, ce, c);
    if (h.bytes !== elems * 4) this.defect(`payload of ${h.bytes} bytes, expected ${elems * 4} for chunk ${c} of step ${s}`);
    const off = segmentStart(L, n, seg) + c * ce;
    return { dst: buf.subarray(off, off + elems), add: s < n - 1 };
  }

  protected arrived(h: FrameHeader, t: Target): void {
    if (h.step < 2 * this.n - 3) this.send(h.step + 1, h.chunk, t.dst);
  }

  protected result(): void {}
}

/**
 * Pipelined chain broadcast root -> root+1 -> ... -> root-1. Each rank forwards
 * a chunk as soon as it has it, so the time is about one buffer transfer plus
 * n-2 chunk latencies. The step field carries the hop number.
 */
export class BroadcastOp extends Op<void> {
  private seen = new Uint8Array(0);
  private dist = 0;

  constructor(host: OpHost, seq: number, private readonly buf: Float32Array, root: number) {
    super(host, OpKind.Broadcast, seq, buf.length, root);
  }

  begin(): void {
    const { n, i, ce, buf } = this;
    const L = buf.length;
    const nch = chunkCount(L, ce);
    this.dist = mod(i - this.aux, n);
    if (this.dist === 0) {
      this.produce(nch, (c) => this.send(0, c, buf.subarray(c * ce, c * ce + chunkLength(L, ce, c))));
    } else {
      this.recvLeft = nch;
      this.seen = new Uint8Array(nch);
    }
  }

  protected target(h: FrameHeader): Target {
    const { ce, buf } = this;
    const L = buf.length;
    if (this.dist === 0) this.defect('the root receives nothing');
    if (h.step !== this.dist - 1) this.defect(`hop ${h.step}, expected ${this.dist - 1}`);
    const c = h.chunk;
    if (c >= this.seen.length) this.defect(`chunk ${c} out of range`);
    if (this.seen[c]) this.defect(`duplicate chunk ${c}`);
    this.seen[c] = 1;
    const elems = chunkLength(L, ce, c);
    if (h.bytes !== elems * 4) this.defect(`payload of ${h.bytes} bytes, expected ${elems * 4} for chunk ${c}`);
    return { dst: buf.subarray(c * ce, c * ce + elems), add: false };
  }

  protected arrived(h: FrameHeader, t: Target): void {
    if (this.dist < this.n - 1) this.send(this.dist, h.chunk, t.dst);
  }

  protected result(): void {}
}

/**
 * Ring all-gather: slot j of the result is rank j's buffer; at step s
 * (0..n-2) rank j sends slot (j - s) mod n, so each rank sends (n-1) slots.
 */
export class AllGatherOp extends Op<Float32Array> {
  private readonly out: Float32Array;
  private seen = new Uint8Array(0);
  private nch = 0;

  constructor(host: OpHost, seq: number, private readonly buf: Float32Array) {
    super(host, OpKind.AllGather, seq, buf.length, 0);
    this.out = new Float32Array(buf.length * host.members.length);
  }

  begin(): void {
    const { n, i, ce, buf, out } = this;
    const L = buf.length;
    out.set(buf, i * L);
    this.nch = chunkCount(L, ce);
    this.recvLeft = (n - 1) * this.nch;
    this.seen = new Uint8Array(this.recvLeft);
    // Sent from the op's own copy, so the caller may reuse buf as soon as the call returns.
    this.produce(this.nch, (c) => this.send(0, c, out.subarray(i * L + c * ce, i * L + c * ce + chunkLength(L, ce, c))));
  }

  protected target(h: FrameHeader): Target {
    const { n, ce, out } = this;
    const L = this.buf.length;
    const s = h.step;
    const c = h.chunk;
    if (s >= n - 1) this.defect(`step ${s} out of range`);
    if (c >= this.nch) this.defect(`chunk ${c} out of range`);
    const idx = s * this.nch + c;
    if (this.seen[idx]) this.defect(`duplicate chunk ${c} of step ${s}`);
    this.seen[idx] = 1;
    const elems = chunkLength(L, ce, c);
    if (h.bytes !== elems * 4) this.defect(`payload of ${h.bytes} bytes, expected ${elems * 4} for chunk ${c}`);
    const slot = mod(this.i - 1 - s, n);
    const off = slot * L + c * ce;
    return { dst: out.subarray(off, off + elems), add: false };
  }

  protected arrived(h: FrameHeader, t: Target): void {
    if (h.step < this.n - 2) this.send(h.step + 1, h.chunk, t.dst);
  }

  protected result(): Float32Array {
    return this.out;
  }
}
