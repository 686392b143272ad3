/**
 * Recycles frame buffers of equal size. A frame that has finished its last hop
 * (or whose send was flushed) backs the next op's first-hop frames, instead of
 * a fresh allocation whose pages must be faulted in and later collected.
 * Only buffers that own their whole ArrayBuffer are kept: a slice of a socket
 * read shares memory with other data.
 */
const MAX_POOLED_BYTES = 32 * 1024 * 1024;
const MIN_POOLED_SIZE = 16 * 1024;

const free = new Map<number, Buffer[]>();
let pooledBytes = 0;

export function takeBuffer(size: number): Buffer {
  const list = free.get(size);
  const buf = list?.pop();
  if (buf) {
    pooledBytes -= size;
    return buf;
  }
  return Buffer.allocUnsafeSlow(size);
}

export function giveBuffer(buf: Buffer): void {
  const size = buf.length;
  if (size < MIN_POOLED_SIZE || buf.byteOffset !== 0 || buf.buffer.byteLength !== size) return;
  if (pooledBytes + size > MAX_POOLED_BYTES) return;
  let list = free.get(size);
  if (!list) free.set(size, (list = []));
  list.push(buf);
  pooledBytes += size;
}
