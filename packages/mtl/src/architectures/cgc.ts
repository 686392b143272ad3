// Customized Gate Control (Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task
// Learning (MTL) Model for Personalized Recommendations", RecSys 2020): S shared experts and, per
// task, E_t experts of its own, each a dense stack of the trunk's widths over the input. Task t's
// gate, a softmax over the S shared experts and its own E_t from the input, mixes their outputs
// into t's representation, which feeds t's tower (head widths, then the output layer named after
// the task).
//
// Ownership: the shared experts feed every task's mixture, so they are the trunk (all-reduced over
// every worker). Task t's experts and gate feed only t's mixture, so they belong to t's head with
// its tower (in the parallel variant reduced within t's group only). The trunk hands the heads the
// shared experts' outputs and the input (t's experts and gate read it), side by side in one tensor.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { pushHead, pushStack } from './dense';
import { chain, chainLayers, checkLayerNames, countOf, mix, mixLayerNames, mixLayers } from './gating';

interface TaskPart {
  experts: number[][];
  gate: number;
  tower: number[];
}

export class CgcArchitecture implements Architecture {
  readonly name = 'cgc';
  readonly sequential = false;
  readonly layers: DenseDef[] = [];
  /** Shared experts. */
  readonly experts: number;
  /** Experts of each task. */
  readonly taskExperts: number;
  /** Width of an expert's output. */
  readonly expertDim: number;
  private readonly sharedIdx: number[][] = [];
  private readonly parts = new Map<string, TaskPart>();

  constructor(readonly spec: ModelSpec) {
    this.experts = countOf('cgc', 'shared experts', spec.experts, 4);
    this.taskExperts = countOf('cgc', 'task experts', spec.taskExperts, 1);
    if (!spec.trunk.length) throw new Error('cgc needs at least one trunk width (each expert is a stack of the trunk widths)');
    this.expertDim = spec.trunk[spec.trunk.length - 1]!;
    const stack = (prefix: string, owner: string) => pushStack(this.layers, prefix, spec.inputDim, spec.trunk, owner, spec.activation).idx;
    for (let e = 0; e < this.experts; e++) this.sharedIdx.push(stack(`expert_${e}_`, 'trunk'));
    for (const task of spec.tasks) {
      const experts: number[][] = [];
      for (let e = 0; e < this.taskExperts; e++) experts.push(stack(`${task.name}_expert_${e}_`, task.name));
      const gate = this.layers.length;
      this.layers.push({ name: `${task.name}_gate`, inDim: spec.inputDim, outDim: this.experts + this.taskExperts, owner: task.name, activation: 'softmax' });
      this.parts.set(task.name, { experts, gate, tower: pushHead(this.layers, spec, task, this.expertDim) });
    }
    checkLayerNames('cgc', this.layers, spec.tasks.flatMap((t) => mixLayerNames(t.name)));
  }

  /** [shared experts' outputs (S * expertDim) | input (inputDim)] per example. */
  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    return tf.concat([...this.sharedIdx.map((idx) => chain(tf, this.layers, w, idx, x)), x], 1);
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const part = this.parts.get(task);
    if (!part) throw new Error(`unknown task '${task}'`);
    const n = features.shape[0]!;
    const D = this.expertDim;
    const shared = this.sharedIdx.map((_, e) => tf.slice(features, [0, e * D], [n, D]));
    const x = tf.slice(features, [0, this.experts * D], [n, this.spec.inputDim]);
    const own = part.experts.map((idx) => chain(tf, this.layers, w, idx, x));
    const gate = chain(tf, this.layers, w, [part.gate], x); // [n, S + E_t]
    return chain(tf, this.layers, w, part.tower, mix(tf, gate, [...shared, ...own]));
  }

  buildLayers(
    tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    const shared = this.sharedIdx.map((idx) => chainLayers(dense, idx, input));
    const out: Record<string, SymbolicTensor> = {};
    for (const task of this.spec.tasks) {
      const part = this.parts.get(task.name)!;
      const own = part.experts.map((idx) => chainLayers(dense, idx, input));
      const gate = dense(part.gate).apply(input);
      const h = mixLayers(tf, task.name, gate, [...shared, ...own], this.expertDim);
      out[task.name] = chainLayers(dense, part.tower, h);
    }
    return out;
  }
}
