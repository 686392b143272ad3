export function sumMask(mask: Float32Array, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) c += mask[i]!;
  return c;
}
