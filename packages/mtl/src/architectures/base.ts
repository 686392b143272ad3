// An architecture decides which dense layers exist and how they connect; the model owns
// the variables, the flat layout, losses and gradients. One file per architecture.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { Activation, ModelSpec } from '../types';

export interface DenseDef {
  /** Layer name in the LayersModel; parameters are `${name}/kernel` and `${name}/bias`. */
  name: string;
  inDim: number;
  outDim: number;
  /** 'trunk' or the owning task's name. */
  owner: string;
  /** Activation applied after this layer ('output' = the task's output activation; 'softmax' for gates). */
  activation: Activation | 'output' | 'softmax';
  /**
   * false: the layer has no bias (x @ kernel only, e.g. a cross-stitch unit). Its `${name}/bias`
   * entry stays in the layout with size 0, so that layer i's kernel and bias remain entries 2i and
   * 2i+1; the exported Dense layer has `useBias: false`. Not for the trunk of a `sequential`
   * architecture (its staged backward differentiates every bias).
   */
  bias?: boolean;
  /** The kernel's initial values (row-major [inDim, outDim]) instead of Glorot-uniform draws. */
  initKernel?: readonly number[];
  /** How many times per example the layer is applied (a cross-stitch row: once per unit of its layer); FLOP counts only. Default 1. */
  applications?: number;
}

/** Returns the [kernel, bias] tensors of layer i (index into `layers`; the bias has shape [0] where the layer has none). */
export type WeightsOf = (i: number) => [Tensor, Tensor];

export interface Architecture {
  readonly name: string;
  readonly spec: ModelSpec;
  /** Dense layers in parameter-layout order: trunk first, then each task's head in task order. */
  readonly layers: readonly DenseDef[];
  /** Shared representation of x [n, inputDim]. */
  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor;
  /** Logits [n, outDim] of one task from the shared representation. */
  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor;
  /**
   * True when the trunk is a chain of its 'trunk' layers in layout order, each computing
   * activation(x @ kernel + bias), and each head reads only the trunk's output: then MtlModel can run the backward pass layer by layer (lossAndGradStaged) and
   * hand out each layer's gradient as soon as it exists.
   */
  readonly sequential: boolean;
  /** Same graph as symbolic tf.layers; `dense(i)` makes layer i with its activation. */
  buildLayers(tf: TF, input: SymbolicTensor, dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor }): Record<string, SymbolicTensor>;
}

/** The architecture a spec names (hard parameter sharing unless it says otherwise). */
export type ArchitectureName = 'hps' | 'mmoe' | 'cgc' | 'ple' | 'dselect-k' | 'cross-stitch';
