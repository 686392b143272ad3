import { architectureFor } from './architectures';
import type { ModelSpec } from './types';

/**
 * Approximate training FLOPs per example: a dense layer costs 2*in*out forward (multiply +
 * add) and about twice that backward (input and weight gradients), so 3 * 2 * Σ in*out.
 * Biases and activations are ignored.
 */
export function flopsPerExample(spec: ModelSpec): number {
  let macs = 0;
  for (const l of architectureFor(spec).layers) macs += l.inDim * l.outDim * (l.applications ?? 1);
  return 3 * 2 * macs;
}
