// Seeded PRNG in plain JS so initial parameters are bit-identical on every process and
// backend (tf.randomUniform's seeding differs between backends).

/** splitmix32-style mixer; turns any numeric seed into a well-spread 32-bit state. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** mulberry32: small, fast, deterministic; returns uniforms in [0, 1). */
export function createRng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
  // Fold both 32-bit halves so seeds above 2^32 still differ.
  const lo = Math.floor(seed) >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let a = mix32(lo ^ mix32(hi));
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Glorot (Xavier) uniform: U(-l, l), l = sqrt(6 / (fanIn + fanOut)), as Keras' default. */
export function glorotUniform(out: Float32Array, fanIn: number, fanOut: number, rng: () => number): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng() - 1) * limit;
}
