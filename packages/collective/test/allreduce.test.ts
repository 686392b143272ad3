import { describe, expect, it } from 'vitest';
import { HEADER_BYTES } from '../src/frame';
import { chunkCount, mod, segmentLength } from '../src/segments';
import { makeWorld, randomArray, sameBytes } from './helpers';

function reference(inputs: Float32Array[]): Float64Array {
  const ref = new Float64Array(inputs[0]!.length);
  for (const x of inputs) for (let i = 0; i < ref.length; i++) ref[i]! += x[i]!;
  return ref;
}

function maxError(got: Float32Array, ref: Float64Array): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i]! - ref[i]!));
  return m;
}

describe('allReduce', () => {
  for (let W = 1; W <= 5; W++) {
    it(`sums like a float64 reference and is bit-identical on every rank, W=${W}`, async () => {
      // 64 KiB chunks: the 1M-element case runs many chunks per segment.
      const w = await makeWorld(W, { chunkBytes: 64 * 1024 });
      try {
        const lengths = [...new Set([0, 1, W - 1, 7, 1000, 1_000_003])];
        for (const L of lengths) {
          const inputs = w.groups.map((_, r) => randomArray(L, 1000 * W + 10 * r + L));
          const ref = reference(inputs);
          const bufs = inputs.map((x) => new Float32Array(x));
          await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
          // |x| < 1 and W <= 5: float32 rounding of W-1 additions stays far below 1e-5.
          expect(maxError(bufs[0]!, ref), `L=${L}`).toBeLessThan(1e-5);
          for (const b of bufs) expect(sameBytes(b, bufs[0]!), `L=${L}`).toBe(true);
        }
      } finally {
        await w.close();
      }
    });
  }

  it('handles tiny chunks, uneven segments and segments with no elements', async () => {
    const W = 4;
    const w = await makeWorld(W, { chunkBytes: 12 }); // 3 floats per chunk
    try {
      for (const L of [2, 3, 5, 7, 13, 1001]) {
        const inputs = w.groups.map((_, r) => randomArray(L, r + 7 * L));
        const ref = reference(inputs);
        await Promise.all(w.groups.map((g, r) => g.allReduce(inputs[r]!)));
        expect(maxError(inputs[0]!, ref)).toBeLessThan(1e-5);
        for (const b of inputs) expect(sameBytes(b, inputs[0]!)).toBe(true);
      }
    } finally {
      await w.close();
    }
  });

  it('is deterministic: the same inputs give the same bits again', async () => {
    const W = 3;
    const L = 10_001;
    const w = await makeWorld(W, { chunkBytes: 4096 });
    try {
      const run = async () => {
        const bufs = w.groups.map((_, r) => randomArray(L, r + 42));
        await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
        return bufs[1]!;
      };
      const a = await run();
      const b = await run();
      expect(sameBytes(a, b)).toBe(true);
    } finally {
      await w.close();
    }
  });

  it('counts exactly the header and payload bytes it sends, 2(W-1)/W of the buffer', async () => {
    const W = 4;
    const L = 1001;
    const chunkBytes = 256; // 64 floats
    const ce = chunkBytes / 4;
    const w = await makeWorld(W, { chunkBytes });
    try {
      const bufs = w.groups.map(() => new Float32Array(L).fill(1));
      await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
      expect(bufs[2]![1000]).toBe(W);
      for (let i = 0; i < W; i++) {
        let expected = 0;
        for (let s = 0; s < 2 * W - 2; s++) {
          const len = segmentLength(L, W, mod(i - s, W));
          expected += len * 4 + chunkCount(len, ce) * HEADER_BYTES;
        }
        expect(w.groups[i]!.stats.bytesSent).toBe(expected);
        expect(w.groups[i]!.stats.ops).toBe(1);
      }
      const total = w.groups.reduce((n, g) => n + g.stats.bytesSent, 0);
      const received = w.groups.reduce((n, g) => n + g.stats.bytesReceived, 0);
      expect(received).toBe(total);
    } finally {
      await w.close();
    }
  });

  for (const W of [3, 4]) {
    it(`large frames (frame-aligned and direct reads), odd lengths, back-to-back ops: bit-identical, W=${W}`, async () => {
      // 256 KiB chunks: frames are past the 64 KiB threshold where reads follow
      // frame boundaries (header reads, copied payloads read into place); the
      // odd lengths give uneven segments and short last chunks (small frames in
      // between), and ops issued without awaiting make frames arrive before
      // their op has started on the receiver (kept aside, summed later).
      const w = await makeWorld(W, { chunkBytes: 256 * 1024 });
      try {
        for (const L of [1_048_573, 3 * 65536 + 5, 2_000_001]) {
          const inputs = [0, 1, 2].map((k) => w.groups.map((_, r) => randomArray(L, 97 * W + 13 * r + k + L)));
          const refs = inputs.map(reference);
          const bufs = inputs.map((xs) => xs.map((x) => new Float32Array(x)));
          // Rank r starts 10r ms late, so its left neighbour's frames are there first.
          await Promise.all(
            w.groups.map(async (g, r) => {
              await new Promise((res) => setTimeout(res, 10 * r));
              await Promise.all(bufs.map((b) => g.allReduce(b[r]!)));
            }),
          );
          for (let k = 0; k < bufs.length; k++) {
            expect(maxError(bufs[k]![0]!, refs[k]!), `L=${L} op ${k}`).toBeLessThan(1e-5);
            for (const b of bufs[k]!) expect(sameBytes(b, bufs[k]![0]!), `L=${L} op ${k}`).toBe(true);
          }
          // Copy-only paths with large frames too.
          const root = L % W;
          const src = randomArray(L, L + 5);
          const bc = w.groups.map((_, r) => (r === root ? new Float32Array(src) : new Float32Array(L)));
          await Promise.all(w.groups.map((g, r) => g.broadcast(bc[r]!, root)));
          for (const b of bc) expect(sameBytes(b, src)).toBe(true);
        }
      } finally {
        await w.close();
      }
    });
  }

  it('moves a larger buffer with the default chunk size (throughput smoke)', async () => {
    const W = 2;
    const L = 4 * 1024 * 1024; // 16 MiB
    const w = await makeWorld(W);
    try {
      const bufs = w.groups.map((_, r) => new Float32Array(L).fill(r + 1));
      const t0 = performance.now();
      for (let k = 0; k < 3; k++) await Promise.all(w.groups.map((g, r) => g.allReduce(bufs[r]!)));
      const ms = (performance.now() - t0) / 3;
      expect(bufs[0]![L - 1]).toBe(3 * 2 ** 2); // (1+2) doubled by each of the two later ops
      expect(sameBytes(bufs[0]!, bufs[1]!)).toBe(true);
      console.log(`in-process W=2 allReduce 16 MiB: ${ms.toFixed(1)} ms/op, bus bandwidth ${((L * 4) / ms / 1e6).toFixed(2)} GB/s (both ranks share one thread)`);
    } finally {
      await w.close();
    }
  });
});
