/** T random task gradients of `dim` float32 values in [-1, 1), reproducible from `seed` (a Lehmer generator). */
export function randomGrads(T: number, dim: number, seed: number): number[][] {
  let s = seed;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: T }, () => Array.from({ length: dim }, () => Math.fround(rnd())));
}
