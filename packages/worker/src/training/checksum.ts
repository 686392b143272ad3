import type { ProcessGroup } from '@mtl/collective';
import { paramChecksum } from '@mtl/mtl';

export class ReplicaDivergenceError extends Error {
  override name = 'ReplicaDivergenceError';
}

/**
 * Compare the parameter checksum across ranks. The first 48 bits of the sha256 travel as two 24-bit
 * integers, which float32 holds exactly, through an all-gather; every rank checks every other.
 */
export async function verifyReplicas(group: ProcessGroup, params: Float32Array, step: number): Promise<string> {
  const hex = paramChecksum(params);
  const mine = new Float32Array([parseInt(hex.slice(0, 6), 16), parseInt(hex.slice(6, 12), 16)]);
  const all = await group.allGather(mine);
  const differing: number[] = [];
  for (let r = 0; r < group.world; r++) {
    if (all[2 * r] !== all[0] || all[2 * r + 1] !== all[1]) differing.push(r);
  }
  if (differing.length > 0) {
    throw new ReplicaDivergenceError(
      `parameter checksum mismatch after step ${step}: rank(s) ${differing.join(', ')} differ from rank 0 (this is rank ${group.rank}, checksum ${hex.slice(0, 12)}); replicas are no longer identical`,
    );
  }
  return hex;
}
