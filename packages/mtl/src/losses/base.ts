// One loss per task type behind one small interface (LibMTL style). Losses are per
// example on logits; the model multiplies by the mask and sums (never averages) so that
// shards can be added exactly and divided by the global label count afterwards.
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';

export interface TaskLoss {
  readonly name: string;
  /** Width of the head output (logits). */
  readonly outDim: number;
  /** Activation turning logits into predictions; also the LayersModel output activation. */
  readonly outputActivation: 'linear' | 'sigmoid' | 'softmax';
  /**
   * Dense float targets of shape [n, outDim] built in JS. Unlabelled rows (mask 0) get 0
   * targets: their label may be NaN or garbage, and NaN * 0 would still poison the sum.
   */
  targets(labels: Float32Array, mask: Float32Array, n: number): Float32Array;
  /** Per-example loss, shape [n], from logits [n, outDim] and targets [n, outDim]. */
  perExample(tf: TF, logits: Tensor, targets: Tensor): Tensor;
  /** Predictions from logits [n, outDim]. */
  predict(tf: TF, logits: Tensor): Tensor;
}

/** Copies labels, zeroing rows whose mask is 0 (outDim = 1 losses). */
export function maskedScalarTargets(labels: Float32Array, mask: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mask[i] !== 0 ? labels[i] : 0;
  return out;
}
