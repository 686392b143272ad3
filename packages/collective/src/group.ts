import { EventEmitter } from 'node:events';
import { CloseCode } from './codes';
import { dialPeer } from './dial';
import { CollectiveError, FrameDefect } from './errors';
import { HEADER_BYTES, OpKind, type FrameHeader } from './frame';
import type { Link } from './link';
import type { Attachment, PeerListener } from './listener';
import { applyEarly, Mesh, type Early, type MeshGroup, type Route } from './mesh';
import { RingAllReduceOp, type RingHost, type RingLane } from './native-ring';
import { AllGatherOp, AllReduceOp, BroadcastOp, type OpHost, type RunningOp } from './ops';
import { isSameHost, type LocalEndpoint } from './local-socket';
import { mod } from './segments';

export interface PeerAddress {
  rank: number;
  host: string;
  port: number;
  /** The peer's Unix socket for workers of its host (PeerListener.local); dialled instead of TCP from the same host. */
  local?: LocalEndpoint;
}

export interface ConnectOptions {
  rank: number;
  world: number;
  /** Every rank of the world, this one included. */
  peers: PeerAddress[];
  listener: PeerListener;
  secret: string;
  /** Bound into every link's proof: a peer of another run or generation is refused. */
  runId: string;
  /** Budget for establishing every link, in ms (default 30 s). */
  timeoutMs?: number;
  /** Chunk size of the pipelined ring (default 2 MiB, DEFAULT_CHUNK_BYTES); must be the same on every rank. */
  chunkBytes?: number;
  /**
   * Dial peers over TLS (wss). Every peer's listener must then serve TLS.
   * `ca` is the certificate(s) to trust (e.g. the run's self-signed CA);
   * rejectUnauthorized defaults to true.
   */
  tls?: { ca?: string | Buffer | Array<string | Buffer>; rejectUnauthorized?: boolean };
  /** Dial peers of this host over their Unix socket (default true; never with TLS). */
  localLinks?: boolean;
}

export interface GroupStats {
  bytesSent: number;
  bytesReceived: number;
  ops: number;
  /** Of those, all-reduces that ran on the native ring (native-ring.ts). */
  nativeOps: number;
}

export const DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
/** A peer may run at most this many ops ahead of this rank in one group. */
const MAX_SEQ_AHEAD = 1024;

/**
 * A set of ranks that run collectives together: the world group returned by
 * connect(), or a subgroup of it. All groups of a rank share one mesh of links.
 * Ops must be issued in the same order on every member (as in MPI/NCCL);
 * awaiting each op is the normal use, but back-to-back ops without awaiting
 * also work since every frame carries the op's sequence number.
 *
 * `stats` of a subgroup count its own ops; the world group's stats are the
 * rank's totals, subgroups included.
 */
export class ProcessGroup extends EventEmitter implements OpHost, RingHost, MeshGroup {
  readonly rank: number;
  readonly world: number;
  readonly stats: GroupStats = { bytesSent: 0, bytesReceived: 0, ops: 0, nativeOps: 0 };
  /** @internal */ readonly id: number;
  /** @internal */ readonly chunkElems: number;
  private nextSeq = 0;
  private readonly active = new Map<number, RunningOp>();
  private readonly early = new Map<number, Early[]>();
  private readonly chunkBytes: number;
  private closed = false;

  /** @internal */
  constructor(
    private readonly mesh: Mesh,
    /** @internal World ranks of the members, ascending. */
    readonly members: readonly number[],
    chunkBytes: number,
    private readonly parent?: ProcessGroup,
  ) {
    super();
    this.rank = members.indexOf(mesh.rank);
    this.world = members.length;
    this.id = members.reduce((m, r) => (m | (1 << r)) >>> 0, 0);
    this.chunkElems = chunkBytes >>> 2;
    this.chunkBytes = chunkBytes;
    mesh.register(this);
  }

  static async connect(opts: ConnectOptions): Promise<ProcessGroup> {
    const { rank, world, listener, secret, runId } = opts;
    const chunkBytes = (opts.chunkBytes ?? DEFAULT_CHUNK_BYTES) & ~3;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(world) || world < 1 || world > 32) throw new RangeError(`world must be an integer in 1..32, got ${world}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new RangeError(`rank must be an integer in 0..${world - 1}, got ${rank}`);
    if (typeof runId !== 'string' || runId.length === 0 || runId.length > 256) throw new TypeError('runId must be a non-empty string of at most 256 characters');
    if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secret must be a non-empty string');
    if (secret !== listener.secret) throw new TypeError('secret differs from the one the listener verifies inbound peers with');
    if (chunkBytes < 4 || chunkBytes + HEADER_BYTES > listener.maxFrameBytes) {
      throw new RangeError(`chunkBytes must be in 4..${listener.maxFrameBytes - HEADER_BYTES} (the listener's maxFrameBytes minus the ${HEADER_BYTES}-byte header), got ${opts.chunkBytes}`);
    }
    const addresses: string[] = new Array<string>(world).fill('');
    const byRank = new Array<PeerAddress | undefined>(world).fill(undefined);
    if (!Array.isArray(opts.peers) || opts.peers.length !== world) throw new TypeError(`peers must list all ${world} ranks, got ${opts.peers?.length}`);
    for (const p of opts.peers) {
      if (!Number.isInteger(p.rank) || p.rank < 0 || p.rank >= world || byRank[p.rank]) throw new TypeError(`peers: bad or duplicate rank ${p.rank}`);
      byRank[p.rank] = p;
      addresses[p.rank] = `${p.host}:${p.port}`;
    }

    // Sends are views of the caller's array (nothing to keep alive), so the
    // window can be deep: it lets a rank that gets the CPU push its whole
    // backlog into the kernel instead of stalling after two chunks. On the
    // shared 2-core host 8 MiB measured ~5-15% faster than 1 MiB (W=2 and W=4).
    const window = Math.max(2 * chunkBytes, 8 * 1024 * 1024);
    const mesh = new Mesh(rank, world, addresses, listener.maxFrameBytes, window);
    const all = Array.from({ length: world }, (_, r) => r);
    const group = new ProcessGroup(mesh, all, chunkBytes);
    if (world === 1) return group;

    const deadline = Date.now() + timeoutMs;
    let lastRefusal = '';
    const attachment: Attachment = {
      runId,
      check: (h) => {
        if (mesh.failure || mesh.closed) return { code: CloseCode.NoGroup, reason: 'process group already ended' };
        if (h.world !== world) return { code: CloseCode.BadRank, reason: `world size mismatch: dialler has ${h.world}, this worker has ${world}` };
        if (h.to !== rank) return { code: CloseCode.BadRank, reason: `this worker is rank ${rank}, not ${h.to}` };
        if (h.from >= world || h.from === rank) return { code: CloseCode.BadRank, reason: `unknown rank ${h.from}` };
        if (h.from > rank) return { code: CloseCode.BadRank, reason: `rank ${h.from} is higher than ${rank}: the lower rank dials` };
        if (mesh.links[h.from]) return { code: CloseCode.BadRank, reason: `duplicate rank ${h.from}: already connected` };
        if (h.chunkBytes !== chunkBytes) return { code: CloseCode.ConfigMismatch, reason: `chunkBytes mismatch: dialler has ${h.chunkBytes}, this worker has ${chunkBytes}` };
        return null;
      },
      accept: (wire, h) => mesh.addLink(h.from, wire),
      refused: (reason) => {
        lastRefusal = reason;
      },
    };
    listener.attach(attachment);
    mesh.onEnd = () => listener.detach(attachment);

    // The lower rank dials the higher: one link per pair, no races.
    for (let peer = rank + 1; peer < world; peer++) {
      const p = byRank[peer]!;
      const local = !opts.tls && opts.localLinks !== false && isSameHost(listener.local, p.local) ? p.local!.socket : undefined;
      void dialPeer({
        host: p.host,
        port: p.port,
        ...(local ? { localSocket: local } : {}),
        peer,
        self: rank,
        world,
        runId,
        secret,
        chunkBytes,
        maxFrameBytes: listener.maxFrameBytes,
        ...(opts.tls ? { tls: opts.tls } : {}),
        deadline,
        cancelled: () => mesh.failure !== undefined,
      }).then(
        (wire) => mesh.addLink(peer, wire),
        (err: unknown) => mesh.fail(err, { origin: peer }),
      );
    }

    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          // Outbound dials time out on their own with a more precise error.
          const missing = all.filter((r) => r < rank && !mesh.links[r]);
          const first = missing[0];
          if (first === undefined) return;
          const names = missing.map((r) => `peer ${r} (${addresses[r]})`).join(', ');
          const err = new CollectiveError(
            `timed out after ${timeoutMs} ms waiting for ${names} to connect to rank ${rank}` + (lastRefusal ? `; last refused dialler: ${lastRefusal}` : ''),
            { peer: first },
          );
          mesh.fail(err, {});
        }, Math.max(0, deadline - Date.now()));
        mesh.onChange = () => {
          if (mesh.failure) {
            clearTimeout(timer);
            reject(mesh.failure.error);
          } else if (mesh.linkCount === world - 1) {
            clearTimeout(timer);
            resolve();
          }
        };
        mesh.onChange();
      });
    } catch (err) {
      // Dials still in flight stop at their next retry; one that still
      // completes finds the mesh failed and closes its socket.
      listener.detach(attachment);
      throw err;
    }
    mesh.onChange = () => {};
    return group;
  }

  /** How this rank's links to its group's peers are carried: over TCP, or a Unix socket (peers of the same host). */
  get linkTransports(): { tcp: number; unix: number } {
    const out = { tcp: 0, unix: 0 };
    for (const r of this.members) {
      const l = this.mesh.links[r];
      if (l) out[l.transport]++;
    }
    return out;
  }

  // --- collectives --------------------------------------------------------

  /** In-place elementwise sum across the group's ranks. Bit-identical result on every rank. */
  allReduce(buf: Float32Array): Promise<void> {
    if (!(buf instanceof Float32Array)) return Promise.reject(new TypeError('allReduce expects a Float32Array'));
    if (this.world === 1) return this.trivial(undefined);
    // The world group's large all-reduces may run on the native ring (native-ring.ts).
    if (!this.parent && this.mesh.lane.wants(buf.byteLength)) return this.run((seq) => new RingAllReduceOp(this, seq, buf));
    return this.run((seq) => new AllReduceOp(this, seq, buf));
  }

  /** Copy root's buffer into every rank's buffer (same length everywhere). */
  broadcast(buf: Float32Array, root: number): Promise<void> {
    if (!(buf instanceof Float32Array)) return Promise.reject(new TypeError('broadcast expects a Float32Array'));
    if (!Number.isInteger(root) || root < 0 || root >= this.world) return Promise.reject(new RangeError(`broadcast root must be in 0..${this.world - 1}, got ${root}`));
    if (this.world === 1) return this.trivial(undefined);
    return this.run((seq) => new BroadcastOp(this, seq, buf, root));
  }

  /** Concatenate every rank's buffer (all of the same length L), in rank order: length L * world. */
  allGather(buf: Float32Array): Promise<Float32Array> {
    if (!(buf instanceof Float32Array)) return Promise.reject(new TypeError('allGather expects a Float32Array'));
    if (this.world === 1) return this.trivial(new Float32Array(buf));
    return this.run((seq) => new AllGatherOp(this, seq, buf));
  }

  /** Resolves once every rank of the group has entered the barrier. */
  barrier(): Promise<void> {
    if (this.world === 1) return this.trivial(undefined);
    // A one-element all-reduce: its result on any rank depends on every rank having sent.
    return this.run((seq) => new AllReduceOp(this, seq, new Float32Array(1), OpKind.Barrier));
  }

  /**
   * The group of the given ranks of this group (ascending, unique, including
   * this rank). Every member must call it with the same list; the same list
   * always yields the same group object.
   */
  subgroup(ranks: number[]): ProcessGroup {
    if (!Array.isArray(ranks) || ranks.length === 0) throw new CollectiveError('subgroup needs a non-empty list of ranks');
    for (let k = 0; k < ranks.length; k++) {
      const r = ranks[k]!;
      if (!Number.isInteger(r) || r < 0 || r >= this.world) throw new CollectiveError(`subgroup rank ${r} is not a rank of this group (0..${this.world - 1})`);
      if (k > 0 && r <= ranks[k - 1]!) throw new CollectiveError(`subgroup ranks must be sorted and unique, got [${ranks.join(', ')}]`);
    }
    if (!ranks.includes(this.rank)) {
      throw new CollectiveError(`rank ${this.rank} is not a member of subgroup [${ranks.join(', ')}]; only members may create it`);
    }
    const members = ranks.map((r) => this.members[r]!);
    const id = members.reduce((m, r) => (m | (1 << r)) >>> 0, 0);
    const existing = this.mesh.groups.get(id);
    if (existing) return existing as ProcessGroup;
    return new ProcessGroup(this.mesh, members, this.chunkBytes, this);
  }

  /** Reject every in-flight and future op (on every group of this rank) with `reason` and close all links. */
  abort(reason: Error): void {
    this.mesh.fail(reason, { aborted: true });
  }

  /**
   * Graceful close after in-flight ops settle. On the world group it closes
   * every link; on a subgroup it only retires that subgroup.
   */
  async close(): Promise<void> {
    this.closed = true;
    const groups = this.parent ? [this] : ([...this.mesh.groups.values()] as ProcessGroup[]);
    await Promise.allSettled(groups.flatMap((g) => [...g.active.values()].map((op) => op.promise)));
    if (this.parent) return;
    for (const g of groups) g.closed = true;
    if (this.mesh.failure) await this.mesh.drain();
    else await this.mesh.shutdown();
  }

  override on(event: 'peer-lost', cb: (rank: number, reason: string) => void): this;
  override on(event: string | symbol, cb: (...args: any[]) => void): this {
    return super.on(event, cb);
  }

  // --- op plumbing (OpHost, MeshGroup) ------------------------------------

  private trivial<T>(v: T): Promise<T> {
    if (this.mesh.failure) return Promise.reject(this.mesh.failure.error);
    if (this.closed || this.mesh.closed) return Promise.reject(new CollectiveError('process group is closed'));
    this.count('ops', 1);
    return Promise.resolve(v);
  }

  private run<T>(make: (seq: number) => RunningOp & { promise: Promise<T> }): Promise<T> {
    if (this.mesh.failure) return Promise.reject(this.mesh.failure.error);
    if (this.closed || this.mesh.closed) return Promise.reject(new CollectiveError('process group is closed'));
    const seq = this.nextSeq;
    this.nextSeq = (seq + 1) >>> 0;
    const op = make(seq);
    this.active.set(seq, op as RunningOp);
    const left = this.members[mod(this.rank - 1, this.world)]!;
    const right = this.members[mod(this.rank + 1, this.world)]!;
    try {
      op.begin();
      if (!op.takesEarly) this.applyEarlyFrames(op);
      op.check();
      for (const peer of [left, right]) {
        if (!op.settled && this.mesh.link(peer).closed && op.needs(peer)) {
          this.mesh.fail(new CollectiveError(`peer ${peer} (${this.mesh.addresses[peer]}) has closed its process group; ${op.name} cannot run`, { peer }), { origin: peer });
        }
      }
    } catch (err) {
      this.mesh.fail(err instanceof CollectiveError ? err : new CollectiveError(`internal error starting ${op.name}: ${(err as Error)?.stack ?? err}`, { cause: err }), {});
    }
    return op.promise;
  }

  /** @internal Where the payload of a frame goes; null: keep it until its op starts. */
  route(link: Link, h: FrameHeader): Route {
    const op = this.active.get(h.seq);
    if (op) return op.receiving === false ? null : { op, t: op.accept(link.peer, h) };
    const ahead = (h.seq - this.nextSeq) >>> 0;
    if (ahead >= MAX_SEQ_AHEAD) {
      throw new FrameDefect(`unexpected sequence number ${h.seq} for group 0x${this.id.toString(16)} (next op here is seq ${this.nextSeq}; older ops are finished)`);
    }
    return null;
  }

  /** @internal */
  stash(e: Early): void {
    // The op may have started while the payload was arriving.
    const op = this.active.get(e.h.seq);
    if (op && op.receiving !== false) {
      applyEarly({ op, t: op.accept(e.link.peer, e.h) }, e);
      return;
    }
    let list = this.early.get(e.h.seq);
    if (!list) this.early.set(e.h.seq, (list = []));
    list.push(e);
    this.mesh.stashed(e.link, e.payload.length);
  }

  // --- RingHost (native-ring.ts) -------------------------------------------

  /** @internal */
  get lane(): RingLane {
    return this.mesh.lane;
  }

  /** @internal */
  get maxFrameBytes(): number {
    return this.mesh.maxFrameBytes;
  }

  /** @internal */
  get worldRank(): number {
    return this.mesh.rank;
  }

  /** @internal */
  get worldSize(): number {
    return this.mesh.world;
  }

  /** @internal Apply the frames of op's seq that arrived before it (in arrival order). */
  applyEarlyFrames(op: RunningOp): void {
    const waiting = this.early.get(op.seq);
    if (!waiting) return;
    this.early.delete(op.seq);
    for (const e of waiting) {
      if (op.settled) break;
      this.mesh.unstashed(e.link, e.payload.length);
      this.mesh.deliver(e.link, () => applyEarly({ op, t: op.accept(e.link.peer, e.h) }, e));
    }
  }

  /** @internal The frames of seq that arrived before its op began, if any. */
  peekEarly(seq: number): readonly Early[] | undefined {
    return this.early.get(seq);
  }

  /** @internal Remove them (the native ring applies them itself). */
  takeEarly(seq: number): void {
    const waiting = this.early.get(seq);
    if (!waiting) return;
    this.early.delete(seq);
    for (const e of waiting) this.mesh.unstashed(e.link, e.payload.length);
  }

  /** @internal */
  othersActive(seq: number): boolean {
    return this.active.size > (this.active.has(seq) ? 1 : 0);
  }

  /** @internal */
  failure(): { error: unknown } | undefined {
    return this.mesh.failure;
  }

  /** @internal */
  defect(link: Link, text: string): void {
    this.mesh.defect(link, text);
  }

  /** @internal */
  lost(link: Link, text: string, wait: boolean): void {
    const p = link.peer;
    const fail = (): void => this.mesh.fail(new CollectiveError(`lost connection to peer ${p} (${link.address}): ${text}`, { peer: p }), { origin: p });
    // The link usually reports the real cause (the peer's close code) first; this is the fallback.
    if (wait) setTimeout(fail, 2000).unref();
    else fail();
  }

  /** @internal */
  link(worldRank: number): Link {
    return this.mesh.link(worldRank);
  }

  /** @internal */
  finished(op: RunningOp): void {
    this.active.delete(op.seq);
    this.count('ops', 1);
  }

  /** @internal */
  countNative(): void {
    this.count('nativeOps', 1);
  }

  /** @internal */
  countSent(bytes: number): void {
    this.count('bytesSent', bytes);
  }

  /** @internal */
  countReceived(bytes: number): void {
    this.count('bytesReceived', bytes);
  }

  private count(key: keyof GroupStats, n: number): void {
    for (let g: ProcessGroup | undefined = this; g; g = g.parent) g.stats[key] += n;
  }

  /** @internal */
  sendFailed(link: Link, err: Error): void {
    this.mesh.sendFailed(link, err);
  }

  /** @internal */
  failAll(err: unknown): void {
    const ops = [...this.active.values()];
    this.active.clear();
    this.early.clear();
    for (const op of ops) op.fail(err);
  }

  /** @internal */
  needing(peer: number): string[] {
    return [...this.active.values()].filter((op) => op.needs(peer)).map((op) => op.name);
  }

  /** @internal */
  emitPeerLost(rank: number, reason: string): void {
    this.emit('peer-lost', rank, reason);
  }
}
