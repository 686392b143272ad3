// Pieces shared by the gated mixture-of-experts architectures (CGC, PLE): a chain of dense layers,
// a softmax gate's weighted sum of expert outputs (as tensors and as tf.layers), and checks of the
// counts a spec gives.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { DenseDef, WeightsOf } from './base';
import { denseForward } from './dense';

type DenseFactory = (i: number) => { apply(x: SymbolicTensor): SymbolicTensor };

/** A positive whole number from the spec, or its default; names the architecture and field otherwise. */
export function countOf(arch: string, field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${arch} needs a positive whole number of ${field}, got ${value}`);
  return v;
}

/** x through layers idx in order. */
export function chain(tf: TF, layers: readonly DenseDef[], w: WeightsOf, idx: readonly number[], x: Tensor): Tensor {
  let h = x;
  for (const i of idx) h = denseForward(tf, layers, w, i, h);
  return h;
}

/** The same chain as tf.layers. */
export function chainLayers(dense: DenseFactory, idx: readonly number[], x: SymbolicTensor): SymbolicTensor {
  let h = x;
  for (const i of idx) h = dense(i).apply(h);
  return h;
}

/** sum_e gate[:, e] * outs[e]: gate [n, E] (softmax), outs E tensors [n, D]; returns [n, D]. */
export function mix(tf: TF, gate: Tensor, outs: readonly Tensor[]): Tensor {
  const n = gate.shape[0]!;
  // sum_e gate[:, e] * out_e as E scaled adds: the export's dot of [n, E] with [n, E, D] computes the
  // same sum; as a batched product of [n, 1, E] by [n, E, D] (and its gradient) it ran several
  // times slower on the wasm backend's matrix kernels.
  let h: Tensor | undefined;
  for (let e = 0; e < outs.length; e++) {
    const term = tf.mul(tf.slice(gate, [0, e], [n, 1]), outs[e]!);
    h = h ? tf.add(h, term) : term;
  }
  return h!;
}

/** Names of the three layers mixLayers makes for a mixture called `name`. */
export function mixLayerNames(name: string): string[] {
  return [`${name}_experts`, `${name}_stacked`, `${name}_mix`];
}

/** mix as tf.layers (concatenate, reshape, dot), named by mixLayerNames(name); needs at least two experts. */
export function mixLayers(tf: TF, name: string, gate: SymbolicTensor, outs: readonly SymbolicTensor[], D: number): SymbolicTensor {
  const [joinedName, stackedName, mixName] = mixLayerNames(name);
  const joined = tf.layers.concatenate({ name: joinedName }).apply(outs as SymbolicTensor[]) as SymbolicTensor;
  const stacked = tf.layers.reshape({ targetShape: [outs.length, D], name: stackedName }).apply(joined) as SymbolicTensor;
  return tf.layers.dot({ axes: [1, 1], name: mixName }).apply([gate, stacked]) as SymbolicTensor;
}

/**
 * Refuses a spec whose task names would give two layers of the exported model one name (a task's
 * output layer is named after the task): caught when the model is made, not when it is saved at the
 * end of a run.
 */
export function checkLayerNames(arch: string, layers: readonly DenseDef[], extra: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of [...layers.map((l) => l.name), ...extra]) {
    if (seen.has(name)) throw new Error(`${arch}: layer name '${name}' is used twice; rename the task`);
    seen.add(name);
  }
}
