import { afterAll, describe, expect, it } from 'vitest';
import { nativeInternals } from '../src/index';
import { bits, firstBitDiff, native, randomF32, rng, skipReason, viewAt } from './helpers';

/** The JS reference: one float64 add per element, rounded to float32 (= an IEEE float32 add). */
function addJs(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] = Math.fround(dst[i]! + src[i]!);
}

/** Random values plus the specials: NaN, +-Inf, +-0, subnormals, huge values whose sum overflows, exact cancellations. */
function special(len: number, seed: number): Float32Array {
  const rand = rng(seed);
  const picks = [NaN, Infinity, -Infinity, 0, -0, 1e-45, -1e-45, 1e-40, 3.4e38, -3.4e38, 1, -1, 2 ** -24, 16777216];
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    const r = rand();
    out[i] = r < 0.4 ? picks[Math.floor(rand() * picks.length)]! : r < 0.6 ? (rand() - 0.5) * 1e-38 : (rand() - 0.5) * 2 ** (rand() * 60 - 30);
  }
  return out;
}

function check(a0: Float32Array, b0: Float32Array, offA: number, offB: number, what: string): void {
  const want = a0.slice();
  addJs(want, b0);
  const a = viewAt(a0.length, offA);
  const b = viewAt(b0.length, offB);
  a.set(a0);
  b.set(b0);
  const after = new Float32Array(a.buffer, a.byteOffset + a.byteLength, 1)[0]; // sentinel after dst
  native!.addInto(a, b);
  expect(firstBitDiff(a, want), `${what} len=${a0.length} offsets ${offA},${offB}`).toBe(-1);
  expect(firstBitDiff(b, b0), 'src unchanged').toBe(-1);
  expect(new Float32Array(a.buffer, a.byteOffset + a.byteLength, 1)[0]).toBe(after);
}

describe.skipIf(!native)(`addInto${skipReason}`, () => {
  const internals = nativeInternals();
  afterAll(() => internals?.setAddIsa('auto'));
  const paths = ['generic', 'avx'].filter((name) => {
    if (!internals) return false; // the addon is not loaded: the describe is skipped
    try {
      internals.setAddIsa(name);
      return true;
    } catch {
      return false;
    } finally {
      internals.setAddIsa('auto');
    }
  });

  it('dispatches a path at load time', () => {
    expect(['avx', 'generic']).toContain(native!.addIsa);
    expect(paths).toContain('generic');
  });

  for (const name of paths) {
    it(`${name}: bit-identical to Math.fround(a + b) on random data, odd lengths and offsets`, () => {
      internals!.setAddIsa(name);
      try {
        const lens = [0, 1, 3, 7, 8, 9, 31, 32, 33, 63, 100, 1023, 4097, 65536 + 5, 262147];
        for (const len of lens)
          for (const [oa, ob] of [[0, 0], [1, 3], [3, 1], [5, 6], [8, 0]] as const) {
            const rand = rng(len * 31 + oa * 7 + ob);
            const scale = 2 ** Math.floor(rand() * 40 - 20);
            check(randomF32(len, rand, scale), randomF32(len, rand), oa, ob, `${name} random`);
          }
      } finally {
        internals!.setAddIsa('auto');
      }
    });

    it(`${name}: NaN, Inf, -0, subnormals, overflow give the same bits as the JS reference`, () => {
      internals!.setAddIsa(name);
      try {
        for (const len of [1, 5, 8, 37, 1000, 4099])
          for (const [oa, ob] of [[0, 0], [1, 2], [7, 3]] as const) check(special(len, len + oa), special(len, 3 * len + ob), oa, ob, `${name} special`);
        // Named cases: (-0) + (-0) = -0, (+0) + (-0) = +0, x + (-x) = +0, Inf - Inf = NaN, overflow to Inf.
        const a = new Float32Array([-0, 0, 1.5, Infinity, 3.4e38, NaN, 1e-45, -Infinity, 16777216]);
        const b = new Float32Array([-0, -0, -1.5, -Infinity, 3.4e38, 1, 1e-45, 5, 1]);
        native!.addInto(a, b);
        expect(Object.is(a[0], -0)).toBe(true);
        expect(Object.is(a[1], 0)).toBe(true);
        expect(Object.is(a[2], 0)).toBe(true);
        expect(a[3]).toBeNaN();
        expect(a[4]).toBe(Infinity);
        expect(a[5]).toBeNaN();
        expect(a[6]).toBe(2 ** -148); // two smallest subnormals
        expect(a[7]).toBe(-Infinity);
        expect(a[8]).toBe(16777216); // ties to even
      } finally {
        internals!.setAddIsa('auto');
      }
    });
  }

  it('gives the bits of the WebAssembly f32x4.add path and the JS `+=` loop (what ranks without the addon run)', () => {
    const len = 70001;
    const a0 = special(len, 11), b0 = special(len, 12);
    const js = a0.slice();
    for (let i = 0; i < len; i++) js[i] += b0[i]!;
    const nat = a0.slice();
    native!.addInto(nat, b0);
    expect(firstBitDiff(nat, js)).toBe(-1);
  });

  it('adds an array to itself and works on views into WebAssembly memory', () => {
    const x = special(1001, 3);
    const want = x.slice();
    addJs(want, x.slice());
    native!.addInto(x, x);
    expect(firstBitDiff(x, want)).toBe(-1);
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } })
      .WebAssembly;
    const mem = new wasm.Memory({ initial: 4 });
    const d = new Float32Array(mem.buffer, 4 * 13, 20000);
    const s = new Float32Array(mem.buffer, 4 * 20017, 20000);
    const d0 = randomF32(20000, rng(1)), s0 = randomF32(20000, rng(2));
    d.set(d0);
    s.set(s0);
    addJs(d0, s0);
    native!.addInto(d, s);
    expect(firstBitDiff(d, d0)).toBe(-1);
    expect(bits(s)[0]).toBe(bits(s0)[0]);
  });

  it('throws clear errors: length mismatch, wrong type, partial overlap', () => {
    const f = (n: number) => new Float32Array(n);
    expect(() => native!.addInto(f(8), f(7))).toThrow(/addInto: argument 'src' has length 7, expected dst.length = 8/);
    expect(() => native!.addInto(f(8), new Float64Array(8) as unknown as Float32Array)).toThrow(/argument 'src' must be a Float32Array/);
    expect(() => native!.addInto(null as unknown as Float32Array, f(8))).toThrow(/argument 'dst' must be a Float32Array/);
    const shared = f(20);
    expect(() => native!.addInto(shared.subarray(0, 8), shared.subarray(4, 12))).toThrow(/argument 'dst' must not overlap 'src'/);
    expect(() => native!.addInto(shared.subarray(0, 8), shared.subarray(8, 16))).not.toThrow();
    expect(() => native!.addInto(f(0), f(0))).not.toThrow();
    expect(() => internals!.setAddIsa('sse9')).toThrow(/unknown or unsupported path 'sse9'/);
  });
});
