// Hard parameter sharing: a dense trunk shared by all tasks, then one dense head per task
// (optional hidden layers, then the output layer named after the task).
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { denseForward, pushHead, pushStack } from './dense';

export class HpsArchitecture implements Architecture {
  readonly name = 'hps';
  readonly sequential = true;
  readonly layers: DenseDef[] = [];
  private readonly trunkIdx: number[] = [];
  private readonly headIdx = new Map<string, number[]>();

  constructor(readonly spec: ModelSpec) {
    const trunk = pushStack(this.layers, 'trunk_', spec.inputDim, spec.trunk, 'trunk', spec.activation);
    this.trunkIdx.push(...trunk.idx);
    for (const task of spec.tasks) this.headIdx.set(task.name, pushHead(this.layers, spec, task, trunk.outDim));
  }

  private dense(tf: TF, w: WeightsOf, i: number, x: Tensor): Tensor {
    return denseForward(tf, this.layers, w, i, x);
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
