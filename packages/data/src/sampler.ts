// Data-parallel sampling. The global batch of a step is a fixed slice of the epoch's seeded
// permutation and depends only on (seed, epoch, batchSize); ranks merely split that slice.
// So a run with W workers sees exactly the batches of a 1-worker run (DESIGN.md,
// "Gradient semantics"), and after a re-form the remaining steps re-shard by the new W.
import { deriveSeed, Rng } from './rng';

/** Fisher-Yates shuffle of 0..n-1 with Rng(deriveSeed(seed, 'epoch', epoch)). */
export function epochPermutation(n: number, seed: number, epoch: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new Rng(deriveSeed(seed, 'epoch', epoch));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

export function stepsPerEpoch(n: number, batchSize: number, dropLast: boolean): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** perm[s*B .. s*B+B-1], a copy (the cached permutation must not be mutated by callers). */
export function globalBatchIndices(perm: Uint32Array, stepInEpoch: number, batchSize: number): Uint32Array {
  const start = stepInEpoch * batchSize;
  if (!Number.isInteger(stepInEpoch) || stepInEpoch < 0 || start >= perm.length) {
    throw new RangeError(`step ${stepInEpoch} is outside the epoch (${perm.length} examples, batch ${batchSize})`);
  }
  return perm.slice(start, Math.min(perm.length, start + batchSize));
}

/**
 * Contiguous partition of n items over `world` ranks: sizes differ by at most one and
 * ranks below n % world take the extra item. Ranks may get nothing when n < world; they
 * still join the all-reduce with zero sums and counts.
 */
export function rankRange(n: number, rank: number, world: number): { start: number; end: number } {
  if (!Number.isInteger(world) || world < 1) throw new RangeError(`world must be a positive integer, got ${world}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new RangeError(`rank ${rank} is outside [0, ${world})`);
  const q = Math.floor(n / world);
  const r = n % world;
  const start = rank * q + Math.min(rank, r);
  return { start, end: start + q + (rank < r ? 1 : 0) };
}

export function rankSlice(indices: Uint32Array, rank: number, world: number): Uint32Array {
  const { start, end } = rankRange(indices.length, rank, world);
  return indices.slice(start, end);
}

export class DistributedSampler {
  readonly size: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly stepsPerEpoch: number;
  // Only the current epoch's permutation is kept: steps advance monotonically in practice.
  private cachedEpoch = -1;
  private cachedPerm: Uint32Array = new Uint32Array(0);

  constructor(opts: { size: number; batchSize: number; seed: number; dropLast?: boolean }) {
    this.size = opts.size;
    this.batchSize = opts.batchSize;
    this.seed = opts.seed;
    this.dropLast = opts.dropLast ?? true;
    if (!Number.isInteger(this.size) || this.size < 0) throw new RangeError(`size must be a non-negative integer, got ${this.size}`);
    this.stepsPerEpoch = stepsPerEpoch(this.size, this.batchSize, this.dropLast);
    if (this.stepsPerEpoch === 0) {
      throw new RangeError(`no full batch per epoch: size ${this.size}, batchSize ${this.batchSize}, dropLast ${this.dropLast}`);
    }
  }

  position(globalStep: number): { epoch: number; stepInEpoch: number } {
    if (!Number.isSafeInteger(globalStep) || globalStep < 0) throw new RangeError(`globalStep must be a non-negative integer, got ${globalStep}`);
    return { epoch: Math.floor(globalStep / this.stepsPerEpoch), stepInEpoch: globalStep % this.stepsPerEpoch };
  }

  globalBatch(globalStep: number): Uint32Array {
    const { epoch, stepInEpoch } = this.position(globalStep);
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = epochPermutation(this.size, this.seed, epoch);
      this.cachedEpoch = epoch;
    }
    return globalBatchIndices(this.cachedPerm, stepInEpoch, this.batchSize);
  }

  rankBatch(globalStep: number, rank: number, world: number): Uint32Array {
    return rankSlice(this.globalBatch(globalStep), rank, world);
  }
}
