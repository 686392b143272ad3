// The pieces every architecture builds from: a stack of dense layers appended to the layout, and
// one dense layer's forward pass with its activation.
import type { Tensor } from '@tensorflow/tfjs';
import { applyActivation } from '../activations';
import type { TF } from '../backend';
import { lossFor } from '../losses';
import { denseMatMul } from '../ops/matmul';
import type { Activation, ModelSpec, TaskSpec } from '../types';
import type { DenseDef, WeightsOf } from './base';

/** Appends layers `${prefix}${i}` of the given widths over inDim; returns their indices and the output width. */
export function pushStack(layers: DenseDef[], prefix: string, inDim: number, widths: number[], owner: string, activation: Activation): { idx: number[]; outDim: number } {
  const idx: number[] = [];
  let width = inDim;
  widths.forEach((units, i) => {
    idx.push(layers.length);
    layers.push({ name: `${prefix}${i}`, inDim: width, outDim: units, owner, activation });
    width = units;
  });
  return { idx, outDim: width };
}

/** A task's head: its hidden layers (spec.head), then the output layer, which carries the task's
 * name so the LayersModel's outputs are named by task. Returns the layers' indices. */
export function pushHead(layers: DenseDef[], spec: ModelSpec, task: TaskSpec, inDim: number): number[] {
  const { idx, outDim } = pushStack(layers, `${task.name}_head_`, inDim, spec.head ?? [], task.name, spec.activation);
  idx.push(layers.length);
  layers.push({ name: task.name, inDim: outDim, outDim: lossFor(task).outDim, owner: task.name, activation: 'output' });
  return idx;
}

/** activation(x @ kernel + bias) of layer i (x @ kernel where it has no bias); 'output' leaves the logits as they are. */
export function denseForward(tf: TF, layers: readonly DenseDef[], w: WeightsOf, i: number, x: Tensor): Tensor {
  const [kernel, bias] = w(i);
  const xk = denseMatMul(tf, x, kernel);
  const z = layers[i]!.bias === false ? xk : tf.add(xk, bias);
  const act = layers[i]!.activation;
  return act === 'output' ? z : act === 'softmax' ? tf.softmax(z) : applyActivation(tf, act, z);
}
