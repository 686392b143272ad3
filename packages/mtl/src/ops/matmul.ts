// x @ w with a hand-written backward pass that materialises the transposes and then
// calls a plain matMul. tfjs' default gradient uses transposed-operand matMuls, which the
// wasm backend runs an order of magnitude slower than non-transposed ones (see DESIGN.md,
// "Compute backends"); an explicit transpose is O(n*k) and cheap by comparison.
import type { Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { fastWasmMatMulRegistered } from './wasm-kernels';

/**
 * x @ w. On wasm with the fast kernels registered (ops/wasm-kernels.ts, done by selectBackend) the
 * stock op and gradient are already fast, and the stock gradient skips the input gradient of the
 * first layer, which a customGrad cannot; without them, matMulFastGrad. Elsewhere the stock op.
 */
export function denseMatMul(tf: TF, x: Tensor, w: Tensor): Tensor {
  return tf.getBackend() === 'wasm' && !fastWasmMatMulRegistered() ? matMulFastGrad(tf, x, w) : tf.matMul(x, w);
}

export function matMulFastGrad(tf: TF, x: Tensor, w: Tensor): Tensor {
  const f = tf.customGrad((...args) => {
    const [a, b, save] = args as [Tensor, Tensor, (t: Tensor[]) => void];
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sa, sb] = saved;
        return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
      },
    };
  });
  return f(x, w);
}
