// Cross-stitch networks (Misra et al., "Cross-stitch Networks for Multi-task Learning", CVPR 2016):
// one column per task, a dense stack of the trunk's widths over the input (`<task>_column_<l>`), and
// after each hidden layer l a cross-stitch unit: a learned T x T matrix alpha^l that mixes the T
// columns' activations unit by unit,
//   x~_t = sum_u alpha^l_tu x_u        (the same alpha for every unit of the layer),
// so column t's next layer (or, after the last unit, task t's tower: head widths, then the output
// layer named after the task) reads x~_t.
//
// The unit as layers: row t of alpha^l is a bias-free dense layer `stitch_<l>_<task t>` with kernel
// [T, 1] (kernel[u] = alpha^l_tu, how much of column u task t's column takes), applied to each unit
// of the columns' activations stacked on a last axis ([n, D, T] -> [n, D, 1]). The paper's unit is a
// linear map without a bias, so these layers have none (DenseDef.bias = false: an empty bias entry,
// an exported Dense with useBias false). Initialisation as the paper's "near identity" start: 0.9 on
// the diagonal and 0.1/(T-1) off it (each row sums to 1, a convex mix of the columns; with one task,
// 1), set rather than drawn. The paper also scales the units' learning rate up (the units see
// gradients of a different scale than the columns'); here they train with the run's optimizer and
// learning rate like every other parameter.
//
// Ownership follows who depends on a parameter. Column t's layers and the units below the last feed
// the other columns through the units above them, so every task's loss depends on them: the trunk
// (all-reduced over every worker). The last unit's row t is the last mix into task t's column: no
// other task reads it, so it belongs to task t with its tower (reduced within t's group in the
// parallel variant). A layer has one owner, which is why every row is a layer of its own. The trunk
// hands the heads the T columns' last activations (before the last unit), side by side.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { pushHead, pushStack } from './dense';
import { chain, chainLayers, checkLayerNames } from './gating';

/** Diagonal and off-diagonal entries of the cross-stitch units at the start (the paper's near-identity). */
export const STITCH_SELF = 0.9;
export const STITCH_OTHER_TOTAL = 0.1;

export class CrossStitchArchitecture implements Architecture {
  readonly name = 'cross-stitch';
  readonly sequential = false;
  readonly layers: DenseDef[] = [];
  /** Column t's layers, in order (task order). */
  private readonly column: number[][] = [];
  /** stitch[l][t]: row t of unit l (after hidden layer l). */
  private readonly stitch: number[][] = [];
  private readonly towerIdx: number[][] = [];

  constructor(readonly spec: ModelSpec) {
    const T = spec.tasks.length;
    const L = spec.trunk.length;
    if (!L) throw new Error('cross-stitch needs at least one trunk width (each column is a stack of the trunk widths, and a cross-stitch unit follows each)');
    const row = (l: number, t: number, owner: string) => {
      const initKernel = spec.tasks.map((_, u) => (T === 1 ? 1 : u === t ? STITCH_SELF : STITCH_OTHER_TOTAL / (T - 1)));
      this.layers.push({ name: `stitch_${l}_${spec.tasks[t]!.name}`, inDim: T, outDim: 1, owner, activation: 'linear', bias: false, initKernel, applications: spec.trunk[l]! });
      return this.layers.length - 1;
    };
    // The trunk (layout order): every column, then the units below the last.
    for (const task of spec.tasks) this.column.push(pushStack(this.layers, `${task.name}_column_`, spec.inputDim, spec.trunk, 'trunk', spec.activation).idx);
    for (let l = 0; l < L - 1; l++) this.stitch.push(spec.tasks.map((_, t) => row(l, t, 'trunk')));
    // Then each task's own part: its row of the last unit, its tower.
    this.stitch.push([]);
    spec.tasks.forEach((task, t) => {
      this.stitch[L - 1]!.push(row(L - 1, t, task.name));
      this.towerIdx.push(pushHead(this.layers, spec, task, spec.trunk[L - 1]!));
    });
    checkLayerNames('cross-stitch', this.layers, this.exportNames());
  }

  /** The layers buildLayers adds besides the dense ones. */
  private exportNames(): string[] {
    const out: string[] = [];
    for (let l = 0; l < this.spec.trunk.length; l++) {
      out.push(`stitch_${l}_stacked`);
      for (const task of this.spec.tasks) out.push(`stitch_${l}_${task.name}_in`, `stitch_${l}_${task.name}_out`);
    }
    return out;
  }

  /**
   * Unit l's row t applied to the columns' activations hs (T of [n, D]): sum_u alpha_tu hs[u], as
   * T scaled adds (the export's Dense over a stacked last axis computes the same sum; as a product
   * of [n*D, T] by [T, 1] it ran several times slower on the wasm backend's matrix kernels).
   */
  private mixRow(tf: TF, w: WeightsOf, l: number, t: number, hs: Tensor[]): Tensor {
    const [kernel] = w(this.stitch[l]![t]!);
    let out: Tensor | undefined;
    for (let u = 0; u < hs.length; u++) {
      const term = tf.mul(hs[u]!, tf.slice(kernel, [u, 0], [1, 1]));
      out = out ? tf.add(out, term) : term;
    }
    return out!;
  }

  /** The T columns' activations after the last hidden layer (before the last unit): [n, T * D]. */
  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    const T = this.spec.tasks.length;
    const L = this.spec.trunk.length;
    let inputs: Tensor[] = this.spec.tasks.map(() => x);
    let hs: Tensor[] = [];
    for (let l = 0; l < L; l++) {
      hs = inputs.map((h, t) => chain(tf, this.layers, w, [this.column[t]![l]!], h));
      if (l < L - 1) {
        const cols = hs;
        inputs = Array.from({ length: T }, (_, t) => this.mixRow(tf, w, l, t, cols));
      }
    }
    return hs.length === 1 ? hs[0]! : tf.concat(hs, 1);
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const t = this.spec.tasks.findIndex((s) => s.name === task);
    if (t < 0) throw new Error(`unknown task '${task}'`);
    const T = this.spec.tasks.length;
    const L = this.spec.trunk.length;
    const D = this.spec.trunk[L - 1]!;
    const n = features.shape[0]!;
    const hs = Array.from({ length: T }, (_, u) => tf.slice(features, [0, u * D], [n, D]));
    return chain(tf, this.layers, w, this.towerIdx[t]!, this.mixRow(tf, w, L - 1, t, hs));
  }

  buildLayers(
    tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    const tasks = this.spec.tasks;
    const L = this.spec.trunk.length;
    let inputs = tasks.map(() => input);
    for (let l = 0; l < L; l++) {
      const D = this.spec.trunk[l]!;
      const hs = inputs.map((h, t) => chainLayers(dense, [this.column[t]![l]!], h));
      // [n, D] each -> [n, D, 1] each -> [n, D, T]; row t is a bias-free Dense on the last axis -> [n, D, 1] -> [n, D].
      const cols = hs.map((h, t) => tf.layers.reshape({ targetShape: [D, 1], name: `stitch_${l}_${tasks[t]!.name}_in` }).apply(h) as SymbolicTensor);
      const stacked = cols.length === 1 ? cols[0]! : (tf.layers.concatenate({ axis: -1, name: `stitch_${l}_stacked` }).apply(cols) as SymbolicTensor);
      inputs = tasks.map((task, t) => tf.layers.reshape({ targetShape: [D], name: `stitch_${l}_${task.name}_out` }).apply(dense(this.stitch[l]![t]!).apply(stacked)) as SymbolicTensor);
    }
    const out: Record<string, SymbolicTensor> = {};
    tasks.forEach((task, t) => (out[task.name] = chainLayers(dense, this.towerIdx[t]!, inputs[t]!)));
    return out;
  }
}
