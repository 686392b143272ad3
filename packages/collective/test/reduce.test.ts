import { describe, expect, it } from 'vitest';
import { createKernel, nativeAdd, PayloadApplier, READ_BUFFER_BYTES } from '../src/reduce';

/** mulberry32, so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function values(len: number, rand: () => number): Float32Array {
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-45, 3.4e38, -3.4e38];
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    const r = rand();
    a[i] = r < 0.05 ? special[Math.floor(rand() * special.length)]! : (rand() - 0.5) * 2 ** (rand() * 40 - 20);
  }
  return a;
}

const bitsOf = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/**
 * Feed `payload` to the applier in random pieces, each copied to a random
 * byte offset of `area` (so float alignment in memory varies), summing into dst.
 */
function feed(applier: PayloadApplier, dst: Float32Array, payload: Uint8Array, rand: () => number, area: Uint8Array, aligned: boolean): void {
  let off = 0;
  while (off < payload.length) {
    const n = Math.min(payload.length - off, 1 + Math.floor(rand() * (rand() < 0.3 ? 64 : 200_000)));
    const at = aligned ? off & 3 : Math.floor(rand() * 8);
    const piece = area.subarray(at, at + n);
    piece.set(payload.subarray(off, off + n));
    applier.apply({ dst, add: true }, off, piece);
    off += n;
  }
}

const nat = nativeAdd();
const kernel = createKernel();
const variants: [string, () => PayloadApplier | null, boolean][] = [
  ['JS loop', () => new PayloadApplier(null, null), false],
  ['wasm kernel, pieces in its memory', () => (kernel ? new PayloadApplier(kernel, null) : null), true],
  ['wasm kernel, pieces elsewhere (early frames)', () => (kernel ? new PayloadApplier(kernel, null) : null), false],
  ['native add', () => (nat ? new PayloadApplier(null, nat) : null), false],
];

describe('PayloadApplier sums pieces bit-identically on every path', () => {
  it(`native add is ${nat ? 'loaded' : 'not loaded (MTL_NATIVE=0 or not built): the wasm/JS paths are tested'}`, () => {
    expect(nat === null || typeof nat === 'function').toBe(true);
  });

  for (const [name, make, inKernelMem] of variants) {
    for (const aligned of [true, false]) {
      it(`${name}, ${aligned ? 'aligned' : 'unaligned'} pieces`, (ctx) => {
        const applier = make();
        if (!applier) return ctx.skip();
        for (const len of [1, 3, 17, 1000, 65537, 300_001]) {
          const rand = rng(len * 13 + (aligned ? 1 : 0));
          const acc = values(len, rand);
          const x = values(len, rand);
          const want = new Float32Array(len);
          for (let i = 0; i < len; i++) want[i] = Math.fround(acc[i]! + x[i]!);
          const area = inKernelMem ? kernel!.reads[0]! : new Uint8Array(READ_BUFFER_BYTES + 8);
          const dst = acc.slice();
          feed(applier, dst, new Uint8Array(x.buffer), rand, area, aligned);
          const got = bitsOf(dst), exp = bitsOf(want);
          let diff = -1;
          for (let i = 0; i < len && diff < 0; i++) if (got[i] !== exp[i]) diff = i;
          expect(diff, `len ${len}`).toBe(-1);
        }
      });
    }
  }
});
