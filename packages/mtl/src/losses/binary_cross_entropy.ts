// Binary logistic loss on logits z with label y in [0, 1]:
//   l = max(z, 0) - z*y + log(1 + exp(-|z|))
// which never exponentiates a large positive number. The gradient is given explicitly as
// sigmoid(z) - y: differentiating the formula through max/abs would give the wrong
// (sub)gradient exactly at z = 0 (tfjs uses step(0) = sign(0) = 0 there).
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { maskedScalarTargets, type TaskLoss } from './base';

export const binaryCrossEntropyLoss: TaskLoss = {
  name: 'binary_cross_entropy',
  outDim: 1,
  outputActivation: 'sigmoid',
  targets(labels, mask, n) {
    const t = maskedScalarTargets(labels, mask, n);
    for (let i = 0; i < n; i++) {
      if (mask[i] !== 0 && !(t[i] >= 0 && t[i] <= 1)) {
        throw new Error(`binary label must be in [0, 1], got ${labels[i]} at row ${i}`);
      }
    }
    return t;
  },
  perExample(tf: TF, logits: Tensor, targets: Tensor): Tensor {
    const loss = tf.customGrad((...args) => {
      const [z, y, save] = args as [Tensor, Tensor, (t: Tensor[]) => void];
      save([z, y]);
      const value = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
      const gradFunc = (dy: Tensor, saved: Tensor[]) => {
        const [zs, ys] = saved;
        return [tf.mul(dy, tf.sub(tf.sigmoid(zs), ys)), tf.mul(dy, tf.neg(zs))];
      };
      return { value, gradFunc };
    });
    return tf.reshape(loss(logits, targets), [-1]);
  },
  predict(tf: TF, logits: Tensor): Tensor {
    return tf.reshape(tf.sigmoid(logits), [-1]);
  },
};
