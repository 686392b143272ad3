// Hidden-layer activations as tf ops. Each matches the tfjs-layers activation of the same
// name op for op, so the exported LayersModel reproduces MtlModel.predict.
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from './backend';
import type { Activation } from './types';

export function applyActivation(tf: TF, name: Activation, x: Tensor): Tensor {
  switch (name) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'elu':
      return tf.elu(x);
    case 'gelu':
      // Exact (erf) GELU, same formula as tfjs-layers' 'gelu'.
      return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    case 'linear':
      return x;
    default:
      throw new Error(`unknown activation '${name as string}'`);
  }
}

export const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'sigmoid', 'elu', 'gelu', 'linear'];
