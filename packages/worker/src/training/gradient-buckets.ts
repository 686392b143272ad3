/**
 * Joins the ranges a staged backward pass reports (each final, reported downwards through one flat
 * buffer) into all-reduce buckets of at least `minElems` elements, the way Horovod's tensor fusion
 * and DDP's buckets do. A bucket holding only a head layer or the loss sums would be a collective
 * of a few kilobytes that needs several event-loop turns to finish while the main thread is busy
 * in the next layer's matrix products, and every later bucket of the group queues behind it
 * (measured: the 16 KB heads bucket of the reference workload took 20-40 ms at W = 2). Joined to
 * the next layer's gradient it costs nothing and the bucket is large enough for the native ring.
 *
 * Every rank sees the same ranges in the same order (they depend on the model only), so every rank
 * forms the same buckets and issues the same collectives.
 */
export class GradientBuckets {
  private lo = -1;
  private hi = -1;

  constructor(
    private readonly minElems: number,
    private readonly launch: (offset: number, size: number) => void,
  ) {}

  /** buffer[offset, offset + size) is final. */
  ready(offset: number, size: number): void {
    // Only a range that ends where the pending bucket begins extends it.
    if (this.lo >= 0 && offset + size !== this.lo) this.flush();
    if (this.lo < 0) this.hi = offset + size;
    this.lo = offset;
    if (this.hi - this.lo >= this.minElems) this.flush();
  }

  /** Launch whatever is pending (the end of the backward pass). */
  flush(): void {
    if (this.lo < 0) return;
    const [lo, hi] = [this.lo, this.hi];
    this.lo = this.hi = -1;
    this.launch(lo, hi - lo);
  }
}

/** MTL_BUCKET_MIN_BYTES (default 256 KiB, the native ring's threshold); 0 keeps every layer its own bucket. */
export function bucketMinElems(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MTL_BUCKET_MIN_BYTES;
  if (raw === undefined || raw === '') return (256 * 1024) / 4;
  const bytes = Number(raw);
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`MTL_BUCKET_MIN_BYTES must be a non-negative integer number of bytes, got '${raw}'`);
  return Math.ceil(bytes / 4);
}
