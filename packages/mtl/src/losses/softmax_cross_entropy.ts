// Softmax cross-entropy on logits, targets one-hot: l = -sum_k y_k * logSoftmax(z)_k.
// tf.logSoftmax subtracts the row max first and carries its own gradient, so it is stable.
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { TaskLoss } from './base';

export function softmaxCrossEntropyLoss(k: number): TaskLoss {
  return {
    name: 'softmax_cross_entropy',
    outDim: k,
    outputActivation: 'softmax',
    targets(labels, mask, n) {
      // One-hot built in JS: labels arrive as float class indices, and oneHot needs int tensors.
      const out = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        if (mask[i] === 0) continue;
        const c = labels[i];
        if (!Number.isInteger(c) || c < 0 || c >= k) {
          throw new Error(`multiclass:${k} label must be an integer in [0, ${k - 1}], got ${c} at row ${i}`);
        }
        out[i * k + c] = 1;
      }
      return out;
    },
    perExample(tf: TF, logits: Tensor, targets: Tensor): Tensor {
      return tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1));
    },
    predict(tf: TF, logits: Tensor): Tensor {
      return tf.reshape(tf.softmax(logits), [-1]);
    },
  };
}
