import type { WebSocket } from 'ws';
import { DEFAULT_CONTROL_FRAME_BYTES, Reassembler, encodeFrames, type ControlMessage } from '@mtl/protocol';

/** What the coordinator knows about one admitted worker and the socket to it. */
export class WorkerLink {
  rank = -1;
  lastSeen = Date.now();
  done = false;
  checksum?: string;
  /** Reported its own failure; its disconnect that follows is not a new cause. */
  failed = false;
  closed = false;
  /** Joins the worker's fragmented messages (checkpoints, the final model). */
  readonly inbound = new Reassembler();
  /** Frames to the worker stay within this; larger messages go in fragments. */
  frameBytes = DEFAULT_CONTROL_FRAME_BYTES;
  private fragmentId = 0;

  constructor(
    readonly id: string,
    readonly ws: WebSocket,
    readonly name: string,
    readonly host: string,
    readonly dataPort: number,
    readonly pid: number,
    readonly rankHint: number | undefined,
    readonly remote: string,
    /** Its Unix socket for peers of its host, if it offers one. */
    readonly local?: { hostKey: string; socket: string },
  ) {}

  send(msg: ControlMessage): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    for (const frame of encodeFrames(msg, this.frameBytes, this.fragmentId++)) this.ws.send(frame);
  }

  /** How errors name this worker: enough to find the process on its host. */
  describe(): string {
    const rank = this.rank >= 0 ? `rank ${this.rank}, ` : '';
    return `worker ${this.name} (${rank}host ${this.host}, pid ${this.pid})`;
  }
}

/**
 * Ranks follow the workers' hints when those are unique and in range (the local launcher hints, so log
 * prefixes match ranks); everyone else fills the free ranks in join order.
 */
export function assignRanks(links: WorkerLink[]): void {
  const world = links.length;
  const taken = new Set<number>();
  for (const l of links) {
    const h = l.rankHint;
    if (h !== undefined && h < world && !taken.has(h)) {
      l.rank = h;
      taken.add(h);
    } else {
      l.rank = -1;
    }
  }
  let next = 0;
  for (const l of links) {
    if (l.rank >= 0) continue;
    while (taken.has(next)) next++;
    l.rank = next;
    taken.add(next);
  }
}
