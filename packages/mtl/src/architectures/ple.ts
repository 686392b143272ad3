// Progressive Layered Extraction (Tang et al., "Progressive Layered Extraction (PLE): A Novel
// Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020): L extraction
// levels k = 0..L-1, each with S shared experts and E_t experts per task, every expert a dense stack
// of the trunk's widths. Level 0 reads the model input everywhere; at level k > 0 the shared experts
// read the shared input and task t's experts read t's input, both made by level k-1:
//   - task t's gate (softmax from t's input) mixes the shared experts and t's own experts into t's
//     input for the next level (at the last level: into t's representation, which feeds its tower);
//   - the shared gate (softmax from the shared input) mixes all experts, shared and every task's,
//     into the shared input for the next level. The last level has no shared gate (a CGC layer).
// Layers: `l<k>_expert_<e>_<i>` (shared), `l<k>_<task>_expert_<e>_<i>`, `l<k>_<task>_gate`,
// `l<k>_gate` (shared gate), then the tower `<task>_head_<i>` and the output layer `<task>`.
//
// Ownership follows who depends on a parameter. At a level below the last, task t's experts feed the
// shared gate's mixture and with it every task, so they are the trunk, as are the shared experts and
// shared gates. Task t's gate at level k feeds only t's input at level k+1; below level L-2 that input
// feeds t's experts at level k+1, which feed the shared mixture again (trunk), but the gate at level
// L-2 feeds only t's input to the last level, which nothing but t's own last-level experts and gate
// read: it belongs to t, as do t's last-level experts and gate and its tower. The trunk hands the
// heads the last level's shared experts' outputs and, from level L-2, the shared experts' outputs and
// per task its input and its experts' outputs (with one level: the input), side by side in one tensor.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { pushHead, pushStack } from './dense';
import { chain, chainLayers, checkLayerNames, countOf, mix, mixLayerNames, mixLayers } from './gating';

interface Level {
  /** Input width of this level's experts and gates. */
  inDim: number;
  shared: number[][];
  /** Per task (in task order): its experts, its gate. */
  taskExperts: number[][][];
  taskGate: number[];
  /** The shared gate; -1 at the last level. */
  sharedGate: number;
}

export class PleArchitecture implements Architecture {
  readonly name = 'ple';
  readonly sequential = false;
  readonly layers: DenseDef[] = [];
  /** Shared experts per level. */
  readonly experts: number;
  /** Experts of each task per level. */
  readonly taskExperts: number;
  readonly levels: number;
  /** Width of an expert's output. */
  readonly expertDim: number;
  private readonly level: Level[] = [];
  private readonly towerIdx: number[][] = [];
  /** Offsets into the trunk's output: per task, its input to level L-2 and its experts' outputs there. */
  private readonly taskSlot: Array<{ input: number; experts: number }> = [];

  constructor(readonly spec: ModelSpec) {
    this.experts = countOf('ple', 'shared experts', spec.experts, 4);
    this.taskExperts = countOf('ple', 'task experts', spec.taskExperts, 1);
    this.levels = countOf('ple', 'levels', spec.levels, 2);
    if (!spec.trunk.length) throw new Error('ple needs at least one trunk width (each expert is a stack of the trunk widths)');
    const D = (this.expertDim = spec.trunk[spec.trunk.length - 1]!);
    const L = this.levels;
    const T = spec.tasks.length;
    const S = this.experts;
    const Et = this.taskExperts;
    const stack = (prefix: string, inDim: number, owner: string) => pushStack(this.layers, prefix, inDim, spec.trunk, owner, spec.activation).idx;
    const gate = (name: string, inDim: number, outDim: number, owner: string) => {
      this.layers.push({ name, inDim, outDim, owner, activation: 'softmax' });
      return this.layers.length - 1;
    };
    for (let k = 0; k < L; k++) {
      this.level.push({ inDim: k === 0 ? spec.inputDim : D, shared: [], taskExperts: spec.tasks.map(() => []), taskGate: spec.tasks.map(() => -1), sharedGate: -1 });
    }
    // The trunk first (layout order): every level but the last entirely, except the task gates of
    // level L-2; then the last level's shared experts.
    for (let k = 0; k < L - 1; k++) {
      const lv = this.level[k]!;
      for (let e = 0; e < S; e++) lv.shared.push(stack(`l${k}_expert_${e}_`, lv.inDim, 'trunk'));
      spec.tasks.forEach((task, t) => {
        for (let e = 0; e < Et; e++) lv.taskExperts[t]!.push(stack(`l${k}_${task.name}_expert_${e}_`, lv.inDim, 'trunk'));
      });
      if (k < L - 2) spec.tasks.forEach((task, t) => (lv.taskGate[t] = gate(`l${k}_${task.name}_gate`, lv.inDim, S + Et, 'trunk')));
      lv.sharedGate = gate(`l${k}_gate`, lv.inDim, S + T * Et, 'trunk');
    }
    const last = this.level[L - 1]!;
    for (let e = 0; e < S; e++) last.shared.push(stack(`l${L - 1}_expert_${e}_`, last.inDim, 'trunk'));
    // Then each task's own part, contiguous, in task order.
    spec.tasks.forEach((task, t) => {
      if (L >= 2) this.level[L - 2]!.taskGate[t] = gate(`l${L - 2}_${task.name}_gate`, this.level[L - 2]!.inDim, S + Et, task.name);
      for (let e = 0; e < Et; e++) last.taskExperts[t]!.push(stack(`l${L - 1}_${task.name}_expert_${e}_`, last.inDim, task.name));
      last.taskGate[t] = gate(`l${L - 1}_${task.name}_gate`, last.inDim, S + Et, task.name);
      this.towerIdx.push(pushHead(this.layers, spec, task, D));
    });
    // The trunk's output: [last shared (S*D) | (L >= 2) level L-2 shared (S*D), per task: input, experts (Et*D) | (L == 1) input].
    let pos = 2 * S * D;
    const inW = L >= 2 ? this.level[L - 2]!.inDim : spec.inputDim;
    for (let t = 0; t < T; t++) {
      this.taskSlot.push({ input: L >= 2 ? pos : S * D, experts: pos + inW });
      if (L >= 2) pos += inW + Et * D;
    }
    const mixNames: string[] = [];
    for (let k = 0; k < L; k++) {
      if (k < L - 1) mixNames.push(...mixLayerNames(`l${k}`));
      for (const task of spec.tasks) mixNames.push(...mixLayerNames(`l${k}_${task.name}`));
    }
    checkLayerNames('ple', this.layers, mixNames);
  }

  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    const L = this.levels;
    const run = (idx: number[], h: Tensor) => chain(tf, this.layers, w, idx, h);
    let inShared = x;
    let inTask: Tensor[] = this.spec.tasks.map(() => x);
    const parts: Tensor[] = [];
    for (let k = 0; k < L - 1; k++) {
      const lv = this.level[k]!;
      const shared = lv.shared.map((idx) => run(idx, inShared));
      const own = lv.taskExperts.map((experts, t) => experts.map((idx) => run(idx, inTask[t]!)));
      if (k === L - 2) {
        parts.push(...shared);
        own.forEach((o, t) => parts.push(inTask[t]!, ...o));
      } else {
        inTask = own.map((o, t) => mix(tf, run([lv.taskGate[t]!], inTask[t]!), [...shared, ...o]));
      }
      inShared = mix(tf, run([lv.sharedGate], inShared), [...shared, ...own.flat()]);
    }
    const lastShared = this.level[L - 1]!.shared.map((idx) => run(idx, inShared));
    return tf.concat(L >= 2 ? [...lastShared, ...parts] : [...lastShared, x], 1);
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const t = this.spec.tasks.findIndex((s) => s.name === task);
    if (t < 0) throw new Error(`unknown task '${task}'`);
    const L = this.levels;
    const n = features.shape[0]!;
    const D = this.expertDim;
    const S = this.experts;
    const run = (idx: number[], h: Tensor) => chain(tf, this.layers, w, idx, h);
    const cut = (from: number, width: number) => tf.slice(features, [0, from], [n, width]);
    const slot = this.taskSlot[t]!;
    let input: Tensor;
    if (L >= 2) {
      const prev = this.level[L - 2]!;
      const selector = cut(slot.input, prev.inDim);
      const prevShared = prev.shared.map((_, e) => cut((S + e) * D, D));
      const prevOwn = prev.taskExperts[t]!.map((_, e) => cut(slot.experts + e * D, D));
      input = mix(tf, run([prev.taskGate[t]!], selector), [...prevShared, ...prevOwn]);
    } else {
      input = cut(slot.input, this.spec.inputDim);
    }
    const last = this.level[L - 1]!;
    const shared = last.shared.map((_, e) => cut(e * D, D));
    const own = last.taskExperts[t]!.map((idx) => run(idx, input));
    const h = mix(tf, run([last.taskGate[t]!], input), [...shared, ...own]);
    return run(this.towerIdx[t]!, h);
  }

  buildLayers(
    tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    const D = this.expertDim;
    const tasks = this.spec.tasks;
    let inShared = input;
    let inTask = tasks.map(() => input);
    for (let k = 0; k < this.levels; k++) {
      const lv = this.level[k]!;
      const shared = lv.shared.map((idx) => chainLayers(dense, idx, inShared));
      const own = lv.taskExperts.map((experts, t) => experts.map((idx) => chainLayers(dense, idx, inTask[t]!)));
      const nextTask = tasks.map((task, t) => mixLayers(tf, `l${k}_${task.name}`, dense(lv.taskGate[t]!).apply(inTask[t]!), [...shared, ...own[t]!], D));
      if (lv.sharedGate >= 0) inShared = mixLayers(tf, `l${k}`, dense(lv.sharedGate).apply(inShared), [...shared, ...own.flat()], D);
      inTask = nextTask;
    }
    const out: Record<string, SymbolicTensor> = {};
    tasks.forEach((task, t) => (out[task.name] = chainLayers(dense, this.towerIdx[t]!, inTask[t]!)));
    return out;
  }
}
