/**
 * Partitioning of a buffer for the ring: `parts` contiguous segments whose
 * lengths differ by at most one (the first `length % parts` get the extra
 * element), each cut into chunks of at most `chunkElems` elements. Every rank
 * computes the same partition from the op's element count alone.
 */

export function segmentStart(length: number, parts: number, k: number): number {
  const base = Math.floor(length / parts);
  return k * base + Math.min(k, length % parts);
}

export function segmentLength(length: number, parts: number, k: number): number {
  return Math.floor(length / parts) + (k < length % parts ? 1 : 0);
}

export function chunkCount(length: number, chunkElems: number): number {
  return Math.ceil(length / chunkElems);
}

/** Elements in chunk c of a run of `length` elements. */
export function chunkLength(length: number, chunkElems: number, c: number): number {
  return Math.min(chunkElems, length - c * chunkElems);
}

/** Non-negative modulo, for ring positions. */
export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
