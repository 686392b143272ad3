import { createHash } from 'node:crypto';

/** sha256 (hex) of the raw float32 bytes: replicas are in sync iff these agree. */
export function paramChecksum(params: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(params.buffer, params.byteOffset, params.byteLength)).digest('hex');
}
