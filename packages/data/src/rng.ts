// Seeded PRNG: sfc32 (fast, 128-bit state, passes PractRand) seeded through splitmix32.
// Pure 32-bit integer arithmetic (Math.imul, |0, >>>0), so every engine and machine
// produces the same stream; the 4-word state round-trips through checkpoints.

const TWO32 = 4294967296;

// Murmur3 finaliser: a good 32-bit avalanche, used for seeding and hashing.
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Folds a (safe) integer of up to 53 bits into 32 bits without losing its high part,
// so seeds 1 and 2^32+1 (and -1 and 2^32-1) stay distinct.
function foldInt(v: number): number {
  const lo = v >>> 0;
  const hi = Math.floor(v / TWO32) >>> 0;
  return fmix32(lo ^ fmix32(hi + 0x9e3779b9));
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    checkSeed(seed);
    // splitmix32 expands one 32-bit seed into well-mixed state words.
    let s = foldInt(seed);
    const sm = (): number => {
      s = (s + 0x9e3779b9) | 0;
      return fmix32(s);
    };
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = 1; // sfc32's counter word; guarantees a period of at least 2^32
    for (let i = 0; i < 12; i++) this.next(); // recommended warm-up
  }

  /** Next uint32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.next() / TWO32;
  }

  /**
   * Standard normal via Box-Muller. The second value of the pair is discarded so the
   * state stays just the four words (no cached spare to checkpoint).
   */
  normal(): number {
    const u1 = (this.next() + 1) / TWO32; // (0, 1]: log never sees 0
    const u2 = this.next() / TWO32;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [0, n), unbiased (rejection of the top partial range). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO32) throw new RangeError(`int(n): n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO32 - (TWO32 % n);
    let x = this.next();
    while (x >= limit) x = this.next();
    return x % n;
  }

  state(): number[] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  static fromState(s: number[]): Rng {
    if (!Array.isArray(s) || s.length !== 4 || !s.every((v) => Number.isInteger(v) && v >= 0 && v < TWO32)) {
      throw new RangeError('Rng.fromState: expected 4 uint32 words');
    }
    const r = new Rng(0);
    r.a = s[0]! | 0;
    r.b = s[1]! | 0;
    r.c = s[2]! | 0;
    r.d = s[3]! | 0;
    return r;
  }
}

/**
 * Stable 32-bit seed from a base seed and labels, e.g. deriveSeed(seed, 'epoch', 3).
 * Numbers and strings are tagged differently so deriveSeed(s, 3) !== deriveSeed(s, '3').
 */
export function deriveSeed(seed: number, ...parts: (number | string)[]): number {
  checkSeed(seed);
  let h = foldInt(seed);
  const mix = (v: number): void => {
    h = fmix32((Math.imul(h ^ v, 0x9e3779b1) + 0x7f4a7c15) | 0);
  };
  for (const p of parts) {
    if (typeof p === 'number' && Number.isSafeInteger(p)) {
      mix(0x6e756d00); // 'num' tag
      mix(foldInt(p));
    } else {
      const str = String(p);
      mix(typeof p === 'number' ? 0x666c7400 : 0x73747200); // 'flt' / 'str' tag
      mix(str.length);
      for (let i = 0; i < str.length; i++) mix(str.charCodeAt(i));
    }
  }
  return h;
}
