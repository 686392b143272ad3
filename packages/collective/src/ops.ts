import { FrameDefect } from './errors';
import { allocFrame, OP_NAMES, OpKind, payloadView, setStep, type FrameHeader } from './frame';
import type { Link } from './link';
import { giveBuffer } from './pool';
import { addInto, addIntoBoth } from './reduce';
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
  readonly name: string;
  readonly settled: boolean;
  readonly promise: Promise<unknown>;
  begin(): void;
  onFrame(from: number, h: FrameHeader, frame: Buffer): void;
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
  private make: (k: number) => Buffer = () => Buffer.alloc(0);
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
  protected abstract handle(h: FrameHeader, frame: Buffer): void;
  protected abstract result(): T;

  onFrame(from: number, h: FrameHeader, frame: Buffer): void {
    if (h.kind !== this.kind) throw new FrameDefect(`op kind mismatch: peer runs ${OP_NAMES[h.kind]}, this rank runs ${this.name}`);
    if (h.total !== this.total) throw new FrameDefect(`element count mismatch in ${this.name}: peer has ${h.total}, this rank has ${this.total}`);
    if (h.aux !== this.aux) throw new FrameDefect(`root mismatch in ${this.name}: peer uses root ${h.aux}, this rank uses ${this.aux}`);
    if (from !== this.left) throw new FrameDefect(`unexpected sender for ${this.name}: only rank ${this.left} sends to this rank`);
    this.handle(h, frame);
    this.recvLeft--;
    this.host.countReceived(frame.length);
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

  protected frame(step: number, chunk: number, elems: number): Buffer {
    return allocFrame({
      kind: this.kind,
      step,
      group: this.host.id,
      seq: this.seq,
      chunk,
      total: this.total,
      aux: this.aux,
      bytes: elems * 4,
    });
  }

  /** Forward a received frame to the right neighbour as the next hop, reusing its buffer. */
  protected forward(frame: Buffer, step: number): void {
    setStep(frame, step);
    this.send(frame);
  }

  protected send(frame: Buffer): void {
    const link = this.host.link(this.right);
    this.sendsPending++;
    link.send(frame, (err) => {
      this.sendsPending--;
      if (err) {
        if (!this.settled) this.host.sendFailed(link, err);
        return;
      }
      this.host.countSent(frame.length);
      giveBuffer(frame); // flushed to the socket: nothing references it any more
      this.check();
    });
  }

  /**
   * Produce `count` initial frames lazily, only while the right link has window
   * room: a large broadcast then never holds more than a window of copies.
   */
  protected produce(count: number, make: (k: number) => Buffer): void {
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
      this.send(this.make(this.produceNext++));
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
      const elems = chunkLength(len, ce, c);
      const f = this.frame(0, c, elems);
      const off = start + c * ce;
      payloadView(f).set(buf.subarray(off, off + elems));
      return f;
    });
  }

  protected handle(h: FrameHeader, frame: Buffer): void {
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
    const own = buf.subarray(off, off + elems);
    const p = payloadView(frame);
    if (s < n - 2) {
      addInto(p, own); // partial sum travels on; this rank's copy is overwritten in the gather
      this.forward(frame, s + 1);
    } else if (s === n - 2) {
      addIntoBoth(p, own); // final sum: keep it and start circulating it
      this.forward(frame, s + 1);
    } else {
      own.set(p);
      if (s < 2 * n - 3) this.forward(frame, s + 1);
      else giveBuffer(frame);
    }
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
      this.produce(nch, (c) => {
        const elems = chunkLength(L, ce, c);
        const f = this.frame(0, c, elems);
        payloadView(f).set(buf.subarray(c * ce, c * ce + elems));
        return f;
      });
    } else {
      this.recvLeft = nch;
      this.seen = new Uint8Array(nch);
    }
  }

  protected handle(h: FrameHeader, frame: Buffer): void {
    const { n, ce, buf } = this;
    const L = buf.length;
    if (this.dist === 0) this.defect('the root receives nothing');
    if (h.step !== this.dist - 1) this.defect(`hop ${h.step}, expected ${this.dist - 1}`);
    const c = h.chunk;
    if (c >= this.seen.length) this.defect(`chunk ${c} out of range`);
    if (this.seen[c]) this.defect(`duplicate chunk ${c}`);
    this.seen[c] = 1;
    const elems = chunkLength(L, ce, c);
    if (h.bytes !== elems * 4) this.defect(`payload of ${h.bytes} bytes, expected ${elems * 4} for chunk ${c}`);
    buf.set(payloadView(frame), c * ce);
    if (this.dist < n - 1) this.forward(frame, this.dist);
    else giveBuffer(frame);
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
    this.produce(this.nch, (c) => {
      const elems = chunkLength(L, ce, c);
      const f = this.frame(0, c, elems);
      payloadView(f).set(buf.subarray(c * ce, c * ce + elems));
      return f;
    });
  }

  protected handle(h: FrameHeader, frame: Buffer): void {
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
    out.set(payloadView(frame), slot * L + c * ce);
    if (s < n - 2) this.forward(frame, s + 1);
    else giveBuffer(frame);
  }

  protected result(): Float32Array {
    return this.out;
  }
}
