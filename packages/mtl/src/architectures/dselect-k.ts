// DSelect-k (Hazimeh et al., "DSelect-k: Differentiable Selection in the Mixture of Experts with
// Applications to Multi-Task Learning", NeurIPS 2021): MMoE's structure (E experts, each a dense stack
// of the trunk's widths over the input, shared by every task; per task a gate, the gate-weighted sum of
// the experts' outputs, then the task's tower) with the paper's differentiable top-k gate in place of
// a dense softmax.
//
// The gate of one task, per example (the paper's per-example gate): E = 2^m experts, k selectors.
// Selector i has m logits z^(i) = (z_i0, ..., z_i,m-1) and a weight logit alpha_i, all linear in the
// input (dense layers `<task>_gate_z`, input -> k*m, selector-major, and `<task>_gate_w`, input -> k).
// The smooth-step function with width gamma,
//   S(t) = 0 for t <= -gamma/2,  -2/gamma^3 t^3 + 3/(2 gamma) t + 1/2 in between,  1 for t >= gamma/2,
// turns each logit into a soft bit; selector i gives expert e (binary digits b_0 ... b_m-1, b_0 the
// most significant) the weight r^(i)_e = prod_j (b_j ? S(z_ij) : 1 - S(z_ij)), which sums to 1 over
// the experts and is one-hot once every |z_ij| >= gamma/2. The gate is
//   q = sum_i softmax(alpha)_i r^(i),
// a convex combination of at most k experts once the selectors are binary. This is the paper's
// per-example gate: its z and alpha are exactly dense layers of the input, as MMoE's gates, and
// export as such. The static gate (z and alpha free parameters, the same for every input) is not a
// dense layer of anything: it would have to be a bias with an unused kernel (a parameter no loss
// moves) or a kernel over a constant made from the input (a second parametrisation of the same
// numbers). The dense layers here carry a bias (zero at the start), so the static gate is the
// special case of a zero kernel. The paper's entropy regulariser (which pushes each selector to a
// one-hot) is left out: an architecture contributes no loss terms here, so it could not be tested
// through the training path; the smooth-step alone makes a selector binary once its logits leave
// [-gamma/2, gamma/2].
//
// E must be a power of two: the m = log2 E binary digits then address exactly the E experts.
//
// Ownership as in MMoE: the experts feed every task's mixture, so they are the trunk; a task's two
// gate layers and its tower feed only its own output. The trunk hands the heads the experts' outputs
// and the input (the gates read it), side by side in one tensor.
//
// Export: the smooth-step is written as s^2 (3 - 2s) with s = clip(t/gamma + 1/2, 0, 1) (the same
// cubic), which standard layers express: Rescaling (t/gamma + 1/2, and 3 - 2s, and 1 - S), ReLU with
// maxValue 1 (the clip), Multiply. The logits are reshaped to [k, m] and paired with their
// complements ([k, m, 2]: 1 - S, S); Cropping2D takes bit j of every selector; broadcast Multiply
// layers build each selector's product over the bits (a Kronecker product of the m pairs, which is
// the expert index order above); a Dot layer takes the softmax-weighted sum over the selectors and
// another mixes the experts. No custom layer: tf.loadLayersModel reads it as it is.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { ModelSpec } from '../types';
import type { Architecture, DenseDef, WeightsOf } from './base';
import { pushHead, pushStack } from './dense';
import { chain, chainLayers, checkLayerNames, countOf, mix } from './gating';

interface TaskPart {
  /** Dense input -> k*m: the selectors' logits. */
  z: number;
  /** Dense input -> k, softmax: the selectors' weights. */
  w: number;
  tower: number[];
}

type SymbolicLayer = { apply(x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor | SymbolicTensor[] | unknown };

export class DselectKArchitecture implements Architecture {
  readonly name = 'dselect-k';
  readonly sequential = false;
  readonly layers: DenseDef[] = [];
  readonly experts: number;
  /** Selectors per task (experts selected per task). */
  readonly k: number;
  /** Smooth-step width. */
  readonly gamma: number;
  /** Binary digits of an expert's index: log2(experts). */
  readonly bits: number;
  /** Width of an expert's output. */
  readonly expertDim: number;
  private readonly expertIdx: number[][] = [];
  private readonly parts = new Map<string, TaskPart>();

  constructor(readonly spec: ModelSpec) {
    const E = (this.experts = countOf('dselect-k', 'experts', spec.experts, 4));
    if (E < 2 || (E & (E - 1)) !== 0) {
      throw new Error(`dselect-k needs a power of two of experts (2, 4, 8, ...): the binary encoding of its gate addresses 2^m experts with m bits, got ${E}`);
    }
    this.k = countOf('dselect-k', 'selected experts (k)', spec.k, 2);
    if (this.k > E) throw new Error(`dselect-k selects k of the ${E} experts per task; k = ${this.k} is more than that`);
    this.gamma = spec.gamma ?? 1;
    if (!(Number.isFinite(this.gamma) && this.gamma > 0)) throw new Error(`dselect-k needs a positive smooth-step width gamma, got ${spec.gamma}`);
    if (!spec.trunk.length) throw new Error('dselect-k needs at least one trunk width (each expert is a stack of the trunk widths)');
    this.bits = Math.log2(E);
    this.expertDim = spec.trunk[spec.trunk.length - 1]!;
    for (let e = 0; e < E; e++) this.expertIdx.push(pushStack(this.layers, `expert_${e}_`, spec.inputDim, spec.trunk, 'trunk', spec.activation).idx);
    for (const task of spec.tasks) {
      const z = this.layers.length;
      this.layers.push({ name: `${task.name}_gate_z`, inDim: spec.inputDim, outDim: this.k * this.bits, owner: task.name, activation: 'linear' });
      const w = this.layers.length;
      this.layers.push({ name: `${task.name}_gate_w`, inDim: spec.inputDim, outDim: this.k, owner: task.name, activation: 'softmax' });
      this.parts.set(task.name, { z, w, tower: pushHead(this.layers, spec, task, this.expertDim) });
    }
    checkLayerNames('dselect-k', this.layers, ['experts', 'experts_stacked', ...spec.tasks.flatMap((t) => this.exportNames(t.name))]);
  }

  /** The layers buildLayers adds for task `name`'s gate and mixture (besides its dense layers). */
  private exportNames(name: string): string[] {
    const out = ['scaled', 's', 'ss', 'cubic', 'S', 'notS', 'S_r', 'notS_r', 'pairs', 'q'].map((p) => `${name}_gate_${p}`);
    out.push(`${name}_mix`);
    for (let j = 0; j < this.bits; j++) out.push(`${name}_gate_bit${j}`, `${name}_gate_bit${j}_r`);
    for (let j = 1; j < this.bits; j++) out.push(`${name}_gate_kron${j}_a`, `${name}_gate_kron${j}_b`, `${name}_gate_kron${j}`, `${name}_gate_kron${j}_r`);
    return out;
  }

  /** [experts' outputs (E * expertDim) | input (inputDim)] per example. */
  trunk(tf: TF, w: WeightsOf, x: Tensor): Tensor {
    return tf.concat([...this.expertIdx.map((idx) => chain(tf, this.layers, w, idx, x)), x], 1);
  }

  /** The gate q [n, E] of one task from the input x [n, inputDim]. */
  gate(tf: TF, w: WeightsOf, task: string, x: Tensor): Tensor {
    const part = this.parts.get(task);
    if (!part) throw new Error(`unknown task '${task}'`);
    const n = x.shape[0]!;
    const { k, bits: m, experts: E } = this;
    const z = tf.reshape(chain(tf, this.layers, w, [part.z], x), [n, k, m]);
    // Smooth-step: s^2 (3 - 2s), s = clip(z/gamma + 1/2, 0, 1).
    const s = tf.clipByValue(tf.add(tf.mul(z, 1 / this.gamma), 0.5), 0, 1);
    const S = tf.mul(tf.mul(s, s), tf.add(tf.mul(s, -2), 3));
    const notS = tf.add(tf.mul(S, -1), 1);
    // Per bit j: [n, k, 2] = (1 - S, S); the selector's weights over the experts are their Kronecker
    // product, bit 0 the most significant digit of the expert's index.
    const pairs = tf.unstack(tf.stack([notS, S], 3), 2);
    let r: Tensor = pairs[0]!;
    for (let j = 1; j < m; j++) {
      const width = r.shape[2]!;
      r = tf.reshape(tf.mul(tf.reshape(r, [n, k, width, 1]), tf.reshape(pairs[j]!, [n, k, 1, 2])), [n, k, 2 * width]);
    }
    const alpha = chain(tf, this.layers, w, [part.w], x); // [n, k], softmax
    return tf.reshape(tf.matMul(tf.reshape(alpha, [n, 1, k]), r), [n, E]);
  }

  head(tf: TF, w: WeightsOf, task: string, features: Tensor): Tensor {
    const part = this.parts.get(task);
    if (!part) throw new Error(`unknown task '${task}'`);
    const n = features.shape[0]!;
    const D = this.expertDim;
    const outs = this.expertIdx.map((_, e) => tf.slice(features, [0, e * D], [n, D]));
    const x = tf.slice(features, [0, this.experts * D], [n, this.spec.inputDim]);
    return chain(tf, this.layers, w, part.tower, mix(tf, this.gate(tf, w, task, x), outs));
  }

  buildLayers(
    tf: TF,
    input: SymbolicTensor,
    dense: (i: number) => { apply(x: SymbolicTensor): SymbolicTensor },
  ): Record<string, SymbolicTensor> {
    const { k, bits: m, experts: E, expertDim: D } = this;
    const apply = (layer: SymbolicLayer, x: SymbolicTensor | SymbolicTensor[]) => layer.apply(x) as SymbolicTensor;
    const outs = this.expertIdx.map((idx) => chainLayers(dense, idx, input));
    const joined = apply(tf.layers.concatenate({ name: 'experts' }), outs);
    const stacked = apply(tf.layers.reshape({ targetShape: [E, D], name: 'experts_stacked' }), joined);
    const out: Record<string, SymbolicTensor> = {};
    for (const task of this.spec.tasks) {
      const part = this.parts.get(task.name)!;
      const name = (p: string) => `${task.name}_gate_${p}`;
      const z = dense(part.z).apply(input); // [n, k*m]
      // s = clip(z/gamma + 1/2, 0, 1); S = s^2 (3 - 2s); 1 - S.
      const s = apply(tf.layers.reLU({ maxValue: 1, name: name('s') }), apply(tf.layers.rescaling({ scale: 1 / this.gamma, offset: 0.5, name: name('scaled') }), z));
      const cubic = apply(tf.layers.rescaling({ scale: -2, offset: 3, name: name('cubic') }), s);
      const S = apply(tf.layers.multiply({ name: name('S') }), [apply(tf.layers.multiply({ name: name('ss') }), [s, s]), cubic]);
      const notS = apply(tf.layers.rescaling({ scale: -1, offset: 1, name: name('notS') }), S);
      const pairs = apply(tf.layers.concatenate({ axis: -1, name: name('pairs') }), [
        apply(tf.layers.reshape({ targetShape: [k, m, 1], name: name('notS_r') }), notS),
        apply(tf.layers.reshape({ targetShape: [k, m, 1], name: name('S_r') }), S),
      ]); // [n, k, m, 2]
      const bit = (j: number) => {
        const cropped = apply(tf.layers.cropping2D({ cropping: [[0, 0], [j, m - 1 - j]], name: name(`bit${j}`) }), pairs); // [n, k, 1, 2]
        return apply(tf.layers.reshape({ targetShape: [k, 2], name: name(`bit${j}_r`) }), cropped);
      };
      let r = bit(0);
      for (let j = 1; j < m; j++) {
        const width = 2 ** j;
        const a = apply(tf.layers.reshape({ targetShape: [k, width, 1], name: name(`kron${j}_a`) }), r);
        const b = apply(tf.layers.reshape({ targetShape: [k, 1, 2], name: name(`kron${j}_b`) }), bit(j));
        r = apply(tf.layers.reshape({ targetShape: [k, 2 * width], name: name(`kron${j}_r`) }), apply(tf.layers.multiply({ name: name(`kron${j}`) }), [a, b]));
      }
      const alpha = dense(part.w).apply(input); // [n, k], softmax
      const q = apply(tf.layers.dot({ axes: [1, 1], name: name('q') }), [alpha, r]); // [n, E]
      const h = apply(tf.layers.dot({ axes: [1, 1], name: `${task.name}_mix` }), [q, stacked]); // [n, D]
      out[task.name] = chainLayers(dense, part.tower, h);
    }
    return out;
  }
}
