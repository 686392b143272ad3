import { loadNative, nativeStatus, type NativeKernels } from '../src/index';

export const native: NativeKernels | null = loadNative();
export const status = nativeStatus();
/** Suffix for describe names, so a skip says why. */
export const skipReason = native ? '' : ` (SKIPPED: native addon not loaded: ${status.reason})`;

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomF32(len: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

/** A Float32Array view of `len` elements at element offset `off` into a fresh, larger buffer. */
export function viewAt(len: number, off: number, buffer?: ArrayBuffer): Float32Array {
  const buf = buffer ?? new ArrayBuffer((len + off + 5) * 4);
  return new Float32Array(buf, off * 4, len);
}

export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDiff(x: Float32Array, y: Float32Array): number {
  const bx = bits(x), by = bits(y);
  if (bx.length !== by.length) return 0;
  for (let i = 0; i < bx.length; i++) if (bx[i] !== by[i]) return i;
  return -1;
}
