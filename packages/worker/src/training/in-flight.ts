/**
 * The collectives a step has started (gradient buckets), awaited together at its end. Each is
 * observed as soon as it is added, so one that fails while the backward pass is still running is
 * not an unhandled rejection; the failure surfaces from done().
 */
export class InFlight {
  private readonly ops: Promise<void>[] = [];

  add(op: Promise<void>): void {
    op.catch(() => {});
    this.ops.push(op);
  }

  async done(): Promise<void> {
    await Promise.all(this.ops);
  }
}
