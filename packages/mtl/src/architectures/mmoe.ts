// Multi-gate Mixture-of-Experts (Ma et al., "Modeling Task Relationships in Multi-task Learning
// with Multi-gate Mixture-of-Experts", KDD 2018): E experts, each a dense stack of the trunk's
// widths over the input, shared by every task; per task a softmax gate over the experts from the
// input, the gate-weighted sum of the experts' outputs, then the task's tower (head widths, then
// the output layer named after the task). The experts are the trunk (every rank all-reduces them);
// a task's gate and tower are its head. The trunk hands the heads its experts' outputs and the
// input (the gates read it), side by side in one tensor.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { denseForward, pushHead, pushStack } from './dense';

export class MmoeArchitecture implements Architecture {
  readonly name = 'mmoe';
  readonly sequential = false;
  readonly layers: DenseDef[] = [];
  readonly experts: number;
  /** Width of an expert's output. */
  readonly expertDim: number;
  private readonly expertIdx: number[][] = [];
  private readonly gateIdx = new Map<string, number>();
  private readonly towerIdx = new Map<string, number[]>();

  constructor(readonly spec: ModelSpec) {
    this.experts = spec.experts ?? 4;
    if (!Number.isInteger(this.experts) || this.experts < 1) throw new Error(`mmoe needs a positive whole number of experts, got ${spec.experts}`);
    for (let e = 0; e < this.experts; e++) this.expertIdx.push(pushStack(this.layers, `expert_${e}_`, spec.inputDim, spec.trunk, 'trunk', spec.activation).idx);
    this.expertDim = spec.trunk[spec.trunk.length - 1] ?? spec.inputDim;
    for (const task of spec.tasks) {
      this.gateIdx.set(task.name, this.layers.length);
      this.layers.push({ name: `${task.name}_gate`, inDim: spec.inputDim, outDim: this.experts, owner: task.name, activation: 'softmax' });
      this.towerIdx.set(task.name, pushHead(this.layers, spec, task, this.expertDim));
    }
  }

  private dense(tf: TF, w: WeightsOf, i: number, x: Tensor): Tensor {
    return denseForward(tf, this.layers, w, i, x);
  }

  /** [experts' outputs (E * expertDim) | input (inputDim)] per example. */
  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    const outs = this.expertIdx.map((idx) => {
      let h = x;
      for (const i of idx) h = this.dense(tf, w, i, h);
      return h;
    });
    return tf.concat([...outs, x], 1);
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const g = this.gateIdx.get(task);
    if (g === undefined) throw new Error(`unknown task '${task}'`);
    const n = features.shape[0]!;
    const E = this.experts;
    const D = this.expertDim;
    const experts = tf.reshape(tf.slice(features, [0, 0], [n, E * D]), [n, E, D]);
    const x = tf.slice(features, [0, E * D], [n, this.spec.inputDim]);
    const gate = this.dense(tf, w, g, x); // [n, E]
    // sum_e gate[:, e] * expert_e  ==  [n, 1, E] @ [n, E, D]
    let h: Tensor = tf.reshape(tf.matMul(tf.reshape(gate, [n, 1, E]), experts), [n, D]);
    for (const i of this.towerIdx.get(task)!) h = this.dense(tf, w, i, h);
    return h;
  }

  buildLayers(
    tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    const outs = this.expertIdx.map((idx) => {
      let h = input;
      for (const i of idx) h = dense(i).apply(h);
      return h;
    });
    const joined = outs.length > 1 ? (tf.layers.concatenate({ name: 'experts' }).apply(outs) as SymbolicTensor) : outs[0]!;
    const stacked = tf.layers.reshape({ targetShape: [this.experts, this.expertDim], name: 'experts_stacked' }).apply(joined) as SymbolicTensor;
    const out: Record<string, SymbolicTensor> = {};
    for (const task of this.spec.tasks) {
      const gate = dense(this.gateIdx.get(task.name)!).apply(input);
      let z = tf.layers.dot({ axes: [1, 1], name: `${task.name}_mix` }).apply([gate, stacked]) as SymbolicTensor;
      for (const i of this.towerIdx.get(task.name)!) z = dense(i).apply(z);
      out[task.name] = z;
    }
    return out;
  }
}
