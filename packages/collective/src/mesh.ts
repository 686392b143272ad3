import { CloseCode, closeReason } from './codes';
import { CollectiveError, FrameDefect } from './errors';
import { decodeHeader, HEADER_BYTES, type FrameHeader } from './frame';
import { Link } from './link';
import { nativeRing, RingLane } from './native-ring';
import type { RunningOp } from './ops';
import { nativeAdd, PayloadApplier, type Target } from './reduce';
import type { StreamConsumer, Wire, WireError } from './wire';

/** A frame that arrived before its op (or its subgroup) exists on this rank; its payload is copied. */
export interface Early {
  link: Link;
  h: FrameHeader;
  payload: Buffer;
}

/** Where a routed frame goes: an op's target, or (null) a stash until its op starts. */
export type Route = { op: RunningOp; t: Target } | null;

/** The part of a process group the mesh routes frames to and fails. */
export interface MeshGroup {
  readonly id: number;
  route(link: Link, h: FrameHeader): Route;
  stash(e: Early): void;
  failAll(err: unknown): void;
  /** Names of ops in flight that still need the given peer. */
  needing(peer: number): string[];
  emitPeerLost(rank: number, reason: string): void;
}

/** Past this many bytes of frames for not-yet-started ops, stop reading that link (TCP pushes back on the sender). */
const EARLY_PAUSE_BYTES = 64 * 1024 * 1024;
const MAX_ORPHAN_GROUPS = 64;

/**
 * All peer links of one rank in one run, shared by the world group and its
 * subgroups. It decodes and routes incoming frames, and owns failure: the
 * first fault (lost peer, malformed frame, abort) fails every op of every
 * group on this rank and closes every link with a code that tells each peer
 * which rank was at fault, so no rank is left waiting on a ring that is gone.
 */
export class Mesh {
  readonly links: (Link | undefined)[];
  readonly groups = new Map<number, MeshGroup>();
  /** The native ring of this rank (native-ring.ts); `ring` is null when it is unavailable. */
  readonly lane = new RingLane(nativeRing());
  private readonly orphans = new Map<number, Early[]>();
  failure: { error: unknown } | undefined;
  closed = false;
  /** Called whenever a link is added or the mesh fails (connect waits on this). */
  onChange: () => void = () => {};
  /** Called once on failure or close (the group detaches from its listener). */
  onEnd: () => void = () => {};

  constructor(
    readonly rank: number,
    readonly world: number,
    readonly addresses: readonly string[],
    readonly maxFrameBytes: number,
    private readonly window: number,
  ) {
    this.links = new Array<Link | undefined>(world).fill(undefined);
  }

  get linkCount(): number {
    return this.links.filter((l) => l !== undefined).length;
  }

  addLink(peer: number, wire: Wire): void {
    if (this.failure || this.closed) {
      wire.close(CloseCode.NoGroup, 'process group already ended');
      setTimeout(() => wire.terminate(), 2000).unref();
      return;
    }
    const link = new Link(peer, this.addresses[peer]!, wire, this.window, this);
    this.links[peer] = link;
    this.onChange();
    link.start();
  }

  link(peer: number): Link {
    const l = this.links[peer];
    if (!l) throw new CollectiveError(`no link to peer ${peer}`, { peer });
    return l;
  }

  register(g: MeshGroup): void {
    this.groups.set(g.id, g);
    const waiting = this.orphans.get(g.id);
    if (!waiting) return;
    this.orphans.delete(g.id);
    for (const e of waiting) {
      this.unstashed(e.link, e.payload.length);
      this.deliver(e.link, () => {
        const r = g.route(e.link, e.h);
        if (r) applyEarly(r, e);
        else g.stash(e);
      });
    }
  }

  /** Run frame handling; a defect fails the mesh naming the link's peer, a bug fails it without crashing the process. */
  deliver(link: Link, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof FrameDefect) this.defect(link, err.message);
      else this.fail(new CollectiveError(`internal error handling a frame from peer ${link.peer}: ${(err as Error)?.stack ?? err}`, { peer: link.peer, cause: err }), {});
    }
  }

  /** Account a stashed early frame; pause the link when too much piles up. */
  stashed(link: Link, bytes: number): void {
    link.earlyBytes += bytes;
    if (link.earlyBytes > EARLY_PAUSE_BYTES) link.pauseReads();
  }

  unstashed(link: Link, bytes: number): void {
    link.earlyBytes -= bytes;
    if (link.earlyBytes < EARLY_PAUSE_BYTES / 2) link.resumeReads();
  }

  // --- LinkHandlers -------------------------------------------------------

  consumer(link: Link): StreamConsumer {
    return new Inbound(this, link);
  }

  /** @internal A frame header arrived on a link: decode and route it. */
  routeHeader(link: Link, hb: Buffer, frameLength: number): { h: FrameHeader; route: Route } {
    const h = decodeHeader(hb, frameLength);
    const g = this.groups.get(h.group);
    if (g) return { h, route: g.route(link, h) };
    this.checkOrphan(link, h);
    return { h, route: null };
  }

  /** @internal A whole early frame (its op or group does not exist yet). */
  stashEarly(e: Early): void {
    const g = this.groups.get(e.h.group);
    if (g) {
      g.stash(e);
      return;
    }
    let list = this.orphans.get(e.h.group >>> 0);
    if (!list) {
      if (this.orphans.size >= MAX_ORPHAN_GROUPS) throw new FrameDefect(`too many frames for subgroups this rank has not created`);
      list = [];
      this.orphans.set(e.h.group >>> 0, list);
    }
    list.push(e);
    this.stashed(e.link, e.payload.length);
  }

  private checkOrphan(link: Link, h: FrameHeader): void {
    const mask = h.group >>> 0;
    const has = (r: number) => ((mask >>> r) & 1) === 1;
    const inWorld = this.world === 32 || mask >>> this.world === 0;
    if (!inWorld || !has(this.rank) || !has(link.peer)) {
      throw new FrameDefect(`frame for unknown group 0x${mask.toString(16)} (must be a group containing ranks ${link.peer} and ${this.rank})`);
    }
    if (!this.orphans.has(mask) && this.orphans.size >= MAX_ORPHAN_GROUPS) throw new FrameDefect(`too many frames for subgroups this rank has not created`);
  }

  close(link: Link, code: number, reason: string): void {
    if (link.closing || this.failure || this.closed) return;
    const p = link.peer;
    const where = `peer ${p} (${link.address})`;
    if (code === CloseCode.Normal) {
      // A peer that finished cleanly is only a fault if something here still needs it.
      const needing: string[] = [];
      for (const g of this.groups.values()) needing.push(...g.needing(p));
      if (needing.length > 0) {
        this.fail(new CollectiveError(`${where} closed its process group while ${needing.join(', ')} still needed it`, { peer: p }), { origin: p });
      }
      return;
    }
    if (code === CloseCode.Aborted || code === CloseCode.Relay) {
      const bar = reason.indexOf('|');
      let origin = Number(reason.slice(0, Math.max(0, bar)));
      const text = bar >= 0 ? reason.slice(bar + 1) : reason;
      if (!Number.isInteger(origin) || origin < 0 || origin >= this.world || origin === this.rank) origin = p;
      const msg = code === CloseCode.Aborted ? `${where} aborted: ${text}` : `${text} (reported by peer ${p})`;
      this.fail(new CollectiveError(msg, { peer: origin }), { origin });
      return;
    }
    if (code === CloseCode.BadFrame) {
      this.fail(new CollectiveError(`${where} closed the link: it received a malformed frame from this rank: ${reason}`, { peer: p }), { origin: p });
      return;
    }
    const why = code === 1006 ? 'connection dropped (code 1006, no close frame)' : `closed with code ${code}${reason ? `: ${reason}` : ''}`;
    this.fail(new CollectiveError(`lost connection to ${where}: ${why}`, { peer: p }), { origin: p });
  }

  error(link: Link, err: WireError): void {
    if (link.closing || this.failure || this.closed) return;
    const p = link.peer;
    const code = err.code ?? '';
    let msg: string;
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') msg = `malformed frame from peer ${p} (${link.address}): oversize frame beyond maxFrameBytes ${this.maxFrameBytes} (${err.message})`;
    else if (code.startsWith('WS_ERR_')) msg = `malformed frame from peer ${p} (${link.address}): WebSocket protocol error: ${err.message}`;
    else msg = `lost connection to peer ${p} (${link.address}): ${err.message}`;
    // The wire closes the socket itself after a protocol error; the close that follows is ours to ignore.
    link.closing = true;
    this.fail(new CollectiveError(msg, { peer: p, cause: err }), { origin: p });
  }

  // --- failure ------------------------------------------------------------

  defect(link: Link, text: string): void {
    const p = link.peer;
    this.fail(new CollectiveError(`malformed frame from peer ${p} (${link.address}): ${text}`, { peer: p }), {
      origin: p,
      link,
      code: CloseCode.BadFrame,
      reason: text,
    });
  }

  sendFailed(link: Link, err: Error): void {
    if (this.failure || this.closed) return;
    // A send fails once the socket is closing; the close event that follows
    // carries the real cause (the peer's close code and origin), so wait for it
    // and only fall back to the send error if it never comes.
    const t = setTimeout(() => {
      this.fail(new CollectiveError(`send to peer ${link.peer} (${link.address}) failed: ${err.message}`, { peer: link.peer, cause: err }), { origin: link.peer });
    }, 2000);
    t.unref();
  }

  /**
   * First failure wins. `origin` is the world rank the fault is attributed to
   * (undefined for a local abort); `link`/`code`/`reason` close the offending
   * link with a specific code, every other link gets a relay (or abort) close.
   */
  fail(error: unknown, o: { origin?: number; link?: Link; code?: number; reason?: string; aborted?: boolean }): void {
    if (this.failure || this.closed) return;
    this.failure = { error };
    const message = error instanceof Error ? error.message : String(error);
    const origin = o.origin ?? this.rank;
    for (const l of this.links) {
      if (!l || l.closed) continue;
      if (l === o.link && o.code !== undefined) l.close(o.code, closeReason(o.reason ?? message));
      else l.close(o.aborted ? CloseCode.Aborted : CloseCode.Relay, closeReason(`${origin}|${message}`));
    }
    for (const [, list] of this.orphans) list.length = 0;
    this.orphans.clear();
    for (const g of this.groups.values()) g.failAll(error);
    this.onEnd();
    this.onChange();
    if (o.origin !== undefined && o.origin !== this.rank) {
      for (const g of this.groups.values()) g.emitPeerLost(o.origin, message);
    }
  }

  /** Graceful: every op has settled; say goodbye on every link and wait for the sockets to close. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onEnd();
    const waits: Promise<void>[] = [];
    for (const l of this.links) {
      if (!l) continue;
      if (!l.closed) l.close(CloseCode.Normal, 'process group closed');
      waits.push(l.whenClosed());
    }
    await Promise.all(waits);
  }

  /** Tear down without waiting (after a failure or abort). */
  async drain(): Promise<void> {
    await Promise.all(this.links.filter((l): l is Link => l !== undefined).map((l) => l.whenClosed()));
  }
}

/** Apply a stashed frame to its op now that the op exists. */
export function applyEarly(r: NonNullable<Route>, e: Early): void {
  if (e.payload.length > 0) new PayloadApplier(e.link.kernel, nativeAdd()).apply(r.t, 0, e.payload);
  r.op.complete(e.h, r.t);
}

/**
 * Per-link receive state: collects each binary frame's 32-byte header, routes
 * it, then applies payload pieces straight from the socket's read buffers to
 * the op's target (sum or copy), or copies them aside for an op that has not
 * started yet. After a fault everything that still arrives is dropped.
 */
class Inbound implements StreamConsumer {
  private readonly hb = Buffer.alloc(HEADER_BYTES);
  private hfill = 0;
  private length = 0;
  private pos = 0;
  private h: FrameHeader | undefined;
  private route: Route = null;
  private early: Buffer | undefined;
  private skip = true;
  private readonly applier: PayloadApplier;

  constructor(
    private readonly mesh: Mesh,
    private readonly link: Link,
  ) {
    this.applier = new PayloadApplier(link.kernel, nativeAdd());
  }

  private dead(): boolean {
    return this.mesh.failure !== undefined || this.link.closing;
  }

  direct(remaining: number): Uint8Array | null {
    const r = this.route;
    if (this.skip || !r || r.t.add || this.hfill < HEADER_BYTES || this.dead()) return null;
    const dst = r.t.dst;
    const left = dst.byteLength - this.pos;
    if (left !== remaining) return null; // never let bytes of the next frame land in dst
    return new Uint8Array(dst.buffer, dst.byteOffset + this.pos, left);
  }

  frameStart(isBinary: boolean, length: number): void {
    this.skip = true;
    this.h = undefined;
    this.route = null;
    this.early = undefined;
    if (this.dead()) return;
    this.mesh.deliver(this.link, () => {
      if (!isBinary) throw new FrameDefect(`text frame (${length} bytes) on the data plane`);
      if (length < HEADER_BYTES) throw new FrameDefect(`short frame: ${length} bytes, header needs ${HEADER_BYTES}`);
      this.skip = false;
      this.length = length;
      this.hfill = 0;
      this.pos = 0;
    });
  }

  frameData(piece: Buffer): void {
    if (this.skip) return;
    if (this.dead()) {
      this.skip = true;
      return;
    }
    let p = 0;
    if (this.hfill < HEADER_BYTES) {
      const k = Math.min(HEADER_BYTES - this.hfill, piece.length);
      piece.copy(this.hb, this.hfill, 0, k);
      this.hfill += k;
      p = k;
      if (this.hfill < HEADER_BYTES) return;
      this.mesh.deliver(this.link, () => {
        const { h, route } = this.mesh.routeHeader(this.link, this.hb, this.length);
        this.h = h;
        this.route = route;
        if (!route) this.early = Buffer.allocUnsafe(h.bytes);
      });
      if (!this.h) {
        this.skip = true;
        return;
      }
      if (p === piece.length) return;
    }
    const rest = p === 0 ? piece : piece.subarray(p);
    if (this.route) this.applier.apply(this.route.t, this.pos, rest);
    else rest.copy(this.early!, this.pos);
    this.pos += rest.length;
  }

  frameEnd(): void {
    if (this.skip || this.dead()) return;
    const h = this.h!;
    const route = this.route;
    const early = this.early;
    this.h = undefined;
    this.route = null;
    this.early = undefined;
    this.mesh.deliver(this.link, () => {
      if (route) route.op.complete(h, route.t);
      else this.mesh.stashEarly({ link: this.link, h, payload: early! });
    });
  }
}
