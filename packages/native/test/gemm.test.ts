import { afterAll, describe, expect, it } from 'vitest';
import { nativeInternals } from '../src/index';
import { firstBitDiff, native, randomF32, rng, skipReason, viewAt } from './helpers';

/**
 * float64 reference of op(A)@op(B) (+bias)(relu), plus the magnitude sum_p |a_ip b_pj| per
 * element that bounds the float32 rounding error.
 */
function reference(
  ta: boolean, tb: boolean, m: number, n: number, k: number,
  a: Float32Array, b: Float32Array, bias: Float32Array | null, relu: boolean,
): { ref: Float64Array; mag: Float64Array } {
  const A = new Float64Array(m * k); // op(A) row-major [m,k]
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) A[i * k + p] = ta ? a[p * m + i]! : a[i * k + p]!;
  const BT = new Float64Array(n * k); // op(B)^T row-major [n,k]
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) BT[j * k + p] = tb ? b[j * k + p]! : b[p * n + j]!;
  const ref = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0, g = 0;
      for (let p = 0; p < k; p++) {
        const x = A[i * k + p]! * BT[j * k + p]!;
        s += x;
        g += Math.abs(x);
      }
      if (bias) {
        s += bias[j]!;
        g += Math.abs(bias[j]!);
      }
      ref[i * n + j] = relu ? Math.max(0, s) : s;
      mag[i * n + j] = g;
    }
  return { ref, mag };
}

/** Largest error relative to the error scale sum|a b|; float32 blocked sums stay far below 1e-5. */
function worstError(c: Float32Array, ref: Float64Array, mag: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(c[i]! - ref[i]!) / (mag[i]! + 1e-30);
    if (!(e <= worst)) worst = e; // NaN propagates
  }
  return worst;
}

const SIZES = [1, 3, 7, 17, 63, 255, 257, 1000];
const COMBOS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const TOL = 1e-5;

// Every size in every position (the other two dims moderate), plus a few mixed big shapes.
const SHAPES: [number, number, number][] = [];
for (const d of SIZES) SHAPES.push([d, 19, 33], [21, d, 35], [23, 18, d]);
SHAPES.push([257, 255, 63], [63, 257, 1000], [255, 17, 257], [1, 1000, 255], [1000, 7, 63], [96, 48, 512]);

function check(
  ta: boolean, tb: boolean, m: number, n: number, k: number, seed: number,
  opts: { bias?: boolean; relu?: boolean; offsets?: [number, number, number] } = {},
): Float32Array {
  const rand = rng(seed);
  const [oa, ob, oc] = opts.offsets ?? [0, 0, 0];
  const a = viewAt(m * k, oa), b = viewAt(k * n, ob);
  a.set(randomF32(m * k, rand));
  b.set(randomF32(k * n, rand));
  const bias = opts.bias ? randomF32(n, rand, 2) : null;
  const c = viewAt(m * n, oc);
  const guard = new Float32Array(c.buffer); // sentinels around the view must survive
  guard.fill(12345.5);
  native!.sgemm(ta, tb, m, n, k, a, b, c, bias, opts.relu ?? false);
  for (let i = 0; i < oc; i++) expect(guard[i]).toBe(12345.5);
  for (let i = oc + m * n; i < guard.length; i++) expect(guard[i]).toBe(12345.5);
  const { ref, mag } = reference(ta, tb, m, n, k, a, b, bias, opts.relu ?? false);
  const err = worstError(c, ref, mag);
  expect(err, `m=${m} n=${n} k=${k} transA=${ta} transB=${tb}`).toBeLessThan(TOL);
  return c;
}

describe.skipIf(!native)(`sgemm vs float64 reference${skipReason}`, () => {
  for (const [ta, tb] of COMBOS) {
    it(`transA=${ta} transB=${tb}: all sizes in m, n and k`, () => {
      let seed = 1;
      for (const [m, n, k] of SHAPES) check(ta, tb, m, n, k, seed++);
    });
    it(`transA=${ta} transB=${tb}: bias + relu, bias only, relu only`, () => {
      for (const [m, n, k] of [[17, 33, 65], [64, 48, 256], [7, 3, 5], [30, 1, 40], [1, 17, 1], [11, 6, 40], [12, 8, 41]] as const) {
        check(ta, tb, m, n, k, 7, { bias: true, relu: true });
        check(ta, tb, m, n, k, 8, { bias: true });
        check(ta, tb, m, n, k, 9, { relu: true });
      }
    });
    it(`transA=${ta} transB=${tb}: views at odd element offsets`, () => {
      for (const [m, n, k] of [[33, 47, 129], [13, 2, 300], [200, 40, 17]] as const)
        check(ta, tb, m, n, k, 11, { offsets: [3, 5, 1], bias: true, relu: true });
    });
  }

  it('the training-step shapes (batch 256)', () => {
    // Forward, dW = x^T @ dy, dX = dy @ W^T; n=1 heads. Checked on a row/column subset of the
    // reference for speed: full reference of the largest products would take seconds in JS.
    check(false, false, 256, 64, 512, 21);
    check(false, false, 256, 1, 1024, 22);
    check(true, false, 512, 64, 256, 23);
    check(true, false, 1024, 1, 256, 24);
    check(false, true, 256, 64, 1024, 25);
    check(false, true, 256, 1024, 1, 26);
  });

  it('k = 0 gives zeros (+ bias, relu) and empty m or n is a no-op', () => {
    const c = new Float32Array(6).fill(7);
    native!.sgemm(false, false, 2, 3, 0, new Float32Array(0), new Float32Array(0), c, new Float32Array([1, -2, 3]), true);
    expect(Array.from(c)).toEqual([1, 0, 3, 1, 0, 3]);
    native!.sgemm(false, false, 0, 3, 4, new Float32Array(0), new Float32Array(12), new Float32Array(0));
    native!.sgemm(true, true, 3, 0, 4, new Float32Array(12), new Float32Array(0), new Float32Array(0));
  });

  it('reads and writes views into WebAssembly memory', () => {
    // (typed locally: the ES2022 lib used here has no WebAssembly declarations)
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } })
      .WebAssembly;
    const mem = new wasm.Memory({ initial: 64 }); // 4 MiB
    const m = 100, n = 70, k = 300;
    const rand = rng(5);
    const a = new Float32Array(mem.buffer, 4 * 1001, m * k);
    const b = new Float32Array(mem.buffer, 4 * (1001 + m * k + 3), k * n);
    const bias = new Float32Array(mem.buffer, 4 * (1001 + m * k + k * n + 7), n);
    const c = new Float32Array(mem.buffer, 4 * (1001 + m * k + k * n + n + 11), m * n);
    a.set(randomF32(m * k, rand));
    b.set(randomF32(k * n, rand));
    bias.set(randomF32(n, rand));
    for (const [ta, tb] of COMBOS) {
      native!.sgemm(ta, tb, m, n, k, a, b, c, bias, true);
      const { ref, mag } = reference(ta, tb, m, n, k, a, b, bias, true);
      expect(worstError(c, ref, mag)).toBeLessThan(TOL);
    }
  });

  it('is deterministic: same bits for the same inputs at different offsets and alignments', () => {
    for (const [ta, tb] of COMBOS)
      for (const [m, n, k] of [[67, 45, 777], [256, 64, 1024], [9, 3, 1000], [300, 20, 5]] as const) {
        const rand = rng(m * 7 + n);
        const a0 = randomF32(m * k, rand), b0 = randomF32(k * n, rand), bias = randomF32(n, rand);
        let first: Float32Array | null = null;
        for (const [oa, ob, oc] of [[0, 0, 0], [1, 3, 5], [7, 2, 1], [16, 16, 16], [0, 0, 0]]) {
          const a = viewAt(m * k, oa!), b = viewAt(k * n, ob!), c = viewAt(m * n, oc!);
          a.set(a0);
          b.set(b0);
          native!.sgemm(ta, tb, m, n, k, a, b, c, bias, false);
          if (first === null) first = c.slice();
          else expect(firstBitDiff(c, first), `m=${m} n=${n} k=${k} ta=${ta} tb=${tb} offsets ${oa},${ob},${oc}`).toBe(-1);
        }
      }
  });

  it('throws clear errors naming the argument', () => {
    const s = native!.sgemm;
    const f = (len: number) => new Float32Array(len);
    expect(() => s(false, false, 2, 3, 4, f(7), f(12), f(6))).toThrow(/argument 'a' has length 7, expected m\*k = 8/);
    expect(() => s(false, false, 2, 3, 4, f(8), f(11), f(6))).toThrow(/argument 'b'.*k\*n = 12/);
    expect(() => s(false, false, 2, 3, 4, f(8), f(12), f(5))).toThrow(/argument 'c'.*m\*n = 6/);
    expect(() => s(false, false, 2, 3, 4, f(8), f(12), f(6), f(2))).toThrow(/argument 'bias'.*n = 3/);
    expect(() => s(false, false, 2, 3, 4, f(8), new Float64Array(12) as unknown as Float32Array, f(6))).toThrow(
      /argument 'b' must be a Float32Array/,
    );
    expect(() => s(false, false, -1, 3, 4, f(8), f(12), f(6))).toThrow(/argument 'm' must be an integer/);
    expect(() => s(false, false, 2.5, 3, 4, f(8), f(12), f(6))).toThrow(/argument 'm' must be an integer/);
    expect(() => s(1 as unknown as boolean, false, 2, 3, 4, f(8), f(12), f(6))).toThrow(/argument 'transA' must be a boolean/);
    const shared = new Float32Array(20);
    expect(() => s(false, false, 2, 3, 4, shared.subarray(0, 8), f(12), shared.subarray(4, 10))).toThrow(
      /argument 'c' must not overlap 'a'/,
    );
    expect(() => s(false, false, 2, 3, 4, f(8), f(12), f(6))).not.toThrow();
  });
});

describe.skipIf(!native)(`sgemm paths selectable for tuning and fallback${skipReason}`, () => {
  const internals = nativeInternals();
  afterAll(() => internals?.setIsa('auto'));
  const available = ['generic', 'avx2-6x16', 'avx2-4x24', 'avx2-8x8', 'avx512-6x64', 'avx512-14x32', 'avx512-8x48'].filter((name) => {
    if (!internals) return false; // the addon is not loaded: the describe is skipped
    try {
      internals.setIsa(name);
      return true;
    } catch {
      return false;
    } finally {
      internals.setIsa('auto');
    }
  });

  it('rejects an unknown path', () => {
    expect(() => internals!.setIsa('sse9')).toThrow(/unknown or unsupported isa 'sse9'/);
  });

  for (const name of available) {
    it(`${name} matches the reference on edge shapes in every transpose case`, () => {
      internals!.setIsa(name);
      try {
        for (const [ta, tb] of COMBOS)
          for (const [m, n, k] of [[1, 7, 3], [17, 63, 255], [63, 17, 257], [9, 40, 1000], [13, 2, 33]] as const)
            check(ta, tb, m, n, k, m + n + k, { bias: true, relu: true, offsets: [1, 3, 5] });
      } finally {
        internals!.setIsa('auto');
      }
    });
  }

  // The AVX-512 kernels do the AVX2 kernel's arithmetic in wider tiles: the same bits, so a
  // cluster of mixed hosts (or a W=1 run against a W=2 run on another host) agrees exactly.
  const wide = available.filter((name) => name.startsWith('avx512'));
  it.skipIf(wide.length === 0 || !available.includes('avx2-6x16'))(
    `AVX-512 paths give the AVX2 path's bits on the training shapes and edge shapes (${wide.join(', ') || 'no AVX-512 on this CPU'})`,
    () => {
      const shapes: [number, number, number][] = [[256, 1024, 512], [256, 1024, 1024], [1024, 1024, 256], [67, 45, 777], [13, 70, 300], [7, 130, 9]];
      try {
        for (const [ta, tb] of COMBOS)
          for (const [m, n, k] of shapes) {
            const rand = rng(m + 3 * n + 7 * k);
            const a = randomF32(m * k, rand), b = randomF32(k * n, rand), bias = randomF32(n, rand);
            const run = (isa: string, relu: boolean) => {
              internals!.setIsa(isa);
              const c = new Float32Array(m * n);
              native!.sgemm(ta, tb, m, n, k, a, b, c, bias, relu);
              return c;
            };
            for (const relu of [false, true]) {
              const want = run('avx2-6x16', relu);
              for (const name of wide)
                expect(firstBitDiff(run(name, relu), want), `${name} m=${m} n=${n} k=${k} ta=${ta} tb=${tb} relu=${relu}`).toBe(-1);
            }
          }
      } finally {
        internals!.setIsa('auto');
      }
    },
  );

  it('cache blocking changes do not break correctness (small blocks force every loop)', () => {
    internals!.setBlocking(12, 16, 32);
    try {
      for (const [ta, tb] of COMBOS) check(ta, tb, 50, 70, 100, 3, { bias: true, relu: true });
    } finally {
      internals!.setBlocking(0, 0, 0); // defaults
    }
  });
});
