import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, tfRef } from '../src';
import { matMulFastGrad } from '../src/ops/matmul';
import { lcg, maxAbsDiff } from './helpers/reference';

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('matMulFastGrad', () => {
  it('has the same value and gradients as tf.matMul', () => {
    const tf = tfRef();
    const r = lcg(3);
    const x = tf.tensor2d(Float32Array.from({ length: 5 * 4 }, () => r() - 0.5), [5, 4]);
    const w = tf.tensor2d(Float32Array.from({ length: 4 * 3 }, () => r() - 0.5), [4, 3]);
    const dy = tf.tensor2d(Float32Array.from({ length: 5 * 3 }, () => r() - 0.5), [5, 3]);
    const before = tf.memory().numTensors;
    const [a, b] = [
      tf.grads((p: import('@tensorflow/tfjs').Tensor, q: import('@tensorflow/tfjs').Tensor) => tf.matMul(p, q)),
      tf.grads((p: import('@tensorflow/tfjs').Tensor, q: import('@tensorflow/tfjs').Tensor) => matMulFastGrad(tf, p, q)),
    ].map((g) => g([x, w], dy).map((t) => {
      const d = t.dataSync();
      t.dispose();
      return d;
    }));
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(a[0], b[0])).toBeLessThan(1e-7);
    expect(maxAbsDiff(a[1], b[1])).toBeLessThan(1e-7);
    const v1 = tf.tidy(() => tf.matMul(x, w).dataSync());
    const v2 = tf.tidy(() => matMulFastGrad(tf, x, w).dataSync());
    expect(v2).toEqual(v1);
    [x, w, dy].forEach((t) => t.dispose());
  });
});
