// Squared error (y - ŷ)^2 per example, the same scale as PyTorch's MSELoss (no 1/2).
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { maskedScalarTargets, type TaskLoss } from './base';

export const mseLoss: TaskLoss = {
  name: 'mse',
  outDim: 1,
  outputActivation: 'linear',
  targets: maskedScalarTargets,
  perExample(tf: TF, logits: Tensor, targets: Tensor): Tensor {
    return tf.reshape(tf.squaredDifference(logits, targets), [-1]);
  },
  predict(tf: TF, logits: Tensor): Tensor {
    return tf.reshape(logits, [-1]);
  },
};
