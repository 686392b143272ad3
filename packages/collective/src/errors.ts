/**
 * The one error type of the collective layer. `peer` names the rank (in the
 * world group) that the failure is attributed to, when there is one, so a
 * caller can report or evict that worker.
 */
export class CollectiveError extends Error {
  override name = 'CollectiveError';
  peer?: number;

  constructor(message: string, opts: { peer?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (opts.peer !== undefined) this.peer = opts.peer;
  }
}

/**
 * Thrown inside frame handling to describe what is wrong with a frame. It never
 * leaves the package: the mesh turns it into a CollectiveError naming the peer.
 */
export class FrameDefect extends Error {
  override name = 'FrameDefect';
}
