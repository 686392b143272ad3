// Hard parameter sharing: a dense trunk shared by all tasks, then one dense head per task
// (optional hidden layers, then the output layer named after the task).
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import { applyActivation } from '../activations';
import { denseMatMul } from '../ops/matmul';
import type { TF } from '../backend';
import { lossFor } from '../losses';
import type { Activation, ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';

export class HpsArchitecture implements Architecture {
  readonly name = 'hps';
  readonly sequential = true;
  readonly layers: DenseDef[] = [];
  private readonly trunkIdx: number[] = [];
  private readonly headIdx = new Map<string, number[]>();

  constructor(readonly spec: ModelSpec) {
    let width = spec.inputDim;
    spec.trunk.forEach((units, i) => {
      this.trunkIdx.push(this.layers.length);
      this.layers.push({ name: `trunk_${i}`, inDim: width, outDim: units, owner: 'trunk', activation: spec.activation });
      width = units;
    });
    const trunkOut = width;
    for (const task of spec.tasks) {
      const idx: number[] = [];
      let w = trunkOut;
      (spec.head ?? []).forEach((units, i) => {
        idx.push(this.layers.length);
        this.layers.push({ name: `${task.name}_head_${i}`, inDim: w, outDim: units, owner: task.name, activation: spec.activation });
        w = units;
      });
      idx.push(this.layers.length);
      // The output layer carries the task's name so the LayersModel's outputs are named by task.
      this.layers.push({ name: task.name, inDim: w, outDim: lossFor(task).outDim, owner: task.name, activation: 'output' });
      this.headIdx.set(task.name, idx);
    }
  }

  private dense(tf: TF, w: WeightsOf, i: number, x: Tensor): Tensor {
    const [kernel, bias] = w(i);
    const z = tf.add(denseMatMul(tf, x, kernel), bias);
    const act = this.layers[i].activation;
    return act === 'output' ? z : applyActivation(tf, act as Activation, z);
  }

  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    let h = x;
    for (const i of this.trunkIdx) h = this.dense(tf, w, i, h);
    return h;
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const idx = this.headIdx.get(task);
    if (!idx) throw new Error(`unknown task '${task}'`);
    let h = features;
    for (const i of idx) h = this.dense(tf, w, i, h);
    return h;
  }

  buildLayers(
    _tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    let h = input;
    for (const i of this.trunkIdx) h = dense(i).apply(h);
    const out: Record<string, SymbolicTensor> = {};
    for (const task of this.spec.tasks) {
      let z = h;
      for (const i of this.headIdx.get(task.name)!) z = dense(i).apply(z);
      out[task.name] = z;
    }
    return out;
  }
}
