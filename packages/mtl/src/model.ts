// MtlModel: parameters as tf.Variables plus a flat Float32Array mirror of them. The flat
// view is what the cluster moves around (all-reduce, optimizer, checksums, broadcast);
// the variables are what TensorFlow.js differentiates.
import type { LayersModel, Scalar, SymbolicTensor, Tensor, Variable } from '@tensorflow/tfjs';
import type { Architecture, WeightsOf } from './architectures/base';
import { architectureFor } from './architectures';
import { tfRef, type TF } from './backend';
import { lossFor, type TaskLoss } from './losses';
import { createRng, glorotUniform } from './rng';
import { ACTIVATIONS, applyActivation } from './activations';
import { denseMatMul } from './ops/matmul';
import { outputDim, type Activation, type Batch, type ModelSpec, type ParamEntry, type TaskSpec } from './types';

/** Name of the LayersModel input layer (reserved: no task may use it). */
export const INPUT_NAME = 'features';

// Layer and weight names must be valid TensorFlow.js tensor names; '/' separates scopes.
const VALID_NAME = /^[A-Za-z0-9][-A-Za-z0-9._]*$/;

/** What the stages of one staged backward pass hand each other. */
interface StagedPass {
  /** Every tensor the pass made; disposed at its end. */
  live: Tensor[];
  /** Per trunk layer: its input and its pre-activation output. */
  inputs: Tensor[];
  pre: Tensor[];
  /** The trunk's output after the forward stage; then the gradient flowing down. */
  dh: Tensor | null;
}

interface LossItem {
  task: TaskSpec;
  loss: TaskLoss;
  targets: Float32Array;
  mask: Float32Array;
  weight: number;
}

function validateSpec(spec: ModelSpec): void {
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!posInt(spec.inputDim)) throw new Error(`ModelSpec.inputDim must be a positive integer, got ${spec.inputDim}`);
  for (const w of [...spec.trunk, ...(spec.head ?? [])]) {
    if (!posInt(w)) throw new Error(`ModelSpec hidden widths must be positive integers, got ${w}`);
  }
  if (!ACTIVATIONS.includes(spec.activation)) throw new Error(`unknown activation '${spec.activation}'`);
  if (!spec.tasks.length) throw new Error('ModelSpec.tasks must not be empty');
  for (const t of spec.tasks) {
    if (!VALID_NAME.test(t.name)) {
      throw new Error(`task name '${t.name}' is not usable as a layer name (letters, digits, '-', '.', '_'; starting with a letter or digit)`);
    }
    outputDim(t.type); // throws on an unknown type
  }
}

function countMask(mask: Float32Array, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) c += mask[i];
  return c;
}

export class MtlModel {
  readonly layout: ParamEntry[];
  readonly numParams: number;
  private readonly arch: Architecture;
  /** Indices (into arch.layers) of the trunk's layers, in order. */
  private readonly trunkLayers: number[];
  private readonly losses: Map<string, TaskLoss>;
  private readonly vars: Variable[];
  private disposed = false;

  private constructor(readonly spec: ModelSpec, init: Float32Array | ((layout: ParamEntry[], arch: Architecture) => Float32Array)) {
    validateSpec(spec);
    this.arch = architectureFor(spec);
    this.trunkLayers = this.arch.layers.map((l, i) => (l.owner === 'trunk' ? i : -1)).filter((i) => i >= 0);
    const names = new Set<string>([INPUT_NAME]);
    for (const l of this.arch.layers) {
      if (names.has(l.name)) throw new Error(`layer name '${l.name}' is used twice; rename the task`);
      names.add(l.name);
    }
    this.losses = new Map(spec.tasks.map((t) => [t.name, lossFor(t)]));
    this.layout = [];
    let offset = 0;
    for (const l of this.arch.layers) {
      const kernelSize = l.inDim * l.outDim;
      this.layout.push({ name: `${l.name}/kernel`, shape: [l.inDim, l.outDim], offset, size: kernelSize, owner: l.owner });
      offset += kernelSize;
      // A bias-free layer keeps an empty bias entry: layer i stays entries 2i and 2i+1.
      const biasSize = l.bias === false ? 0 : l.outDim;
      this.layout.push({ name: `${l.name}/bias`, shape: [biasSize], offset, size: biasSize, owner: l.owner });
      offset += biasSize;
    }
    this.numParams = offset;
    const flat = typeof init === 'function' ? init(this.layout, this.arch) : init;
    const tf = tfRef();
    this.vars = this.layout.map((e) =>
      tf.tidy(() => tf.variable(tf.tensor(ownValues(tf, flat.subarray(e.offset, e.offset + e.size)), e.shape), true)),
    );
  }

  /** Deterministic init from seed: Glorot-uniform kernels from a JS PRNG (or a layer's own `initKernel`), zero biases. */
  static create(spec: ModelSpec, seed: number): MtlModel {
    return new MtlModel(spec, (layout, arch) => {
      const rng = createRng(seed);
      const flat = new Float32Array(layout.reduce((s, e) => s + e.size, 0));
      arch.layers.forEach((l, i) => {
        const k = layout[2 * i];
        if (!l.initKernel) glorotUniform(flat.subarray(k.offset, k.offset + k.size), l.inDim, l.outDim, rng);
        else if (l.initKernel.length !== k.size) throw new Error(`${l.name}: initKernel has ${l.initKernel.length} values, expected ${k.size}`);
        else flat.set(l.initKernel, k.offset);
      });
      return flat;
    });
  }

  trunkRange(): { offset: number; size: number } {
    let size = 0;
    for (const e of this.layout) if (e.owner === 'trunk') size += e.size;
    return { offset: 0, size };
  }

  headRange(task: string): { offset: number; size: number } {
    const entries = this.layout.filter((e) => e.owner === task);
    if (!this.losses.has(task) || !entries.length) throw new Error(`unknown task '${task}'`);
    return { offset: entries[0].offset, size: entries.reduce((s, e) => s + e.size, 0) };
  }

  /** The variables' values, flat in layout order (read back from the backend: not for every step). */
  getParams(out?: Float32Array): Float32Array {
    this.alive();
    if (out && out.length !== this.numParams) throw new Error(`getParams: out has length ${out.length}, expected ${this.numParams}`);
    const dst = out ?? new Float32Array(this.numParams);
    this.layout.forEach((e, i) => dst.set(this.vars[i].dataSync() as Float32Array, e.offset));
    return dst;
  }

  setParams(flat: Float32Array): void {
    this.alive();
    if (flat.length !== this.numParams) throw new Error(`setParams: got ${flat.length} values, expected ${this.numParams}`);
    this.setParamsRange(flat, 0, this.numParams);
  }

  /**
   * setParams for the variables inside flat[offset, offset + size) only, e.g. one gradient bucket's
   * layers once their update is in (the range must hold whole variables). Not while a backward
   * pass of this model is running: it reads the variables.
   */
  setParamsRange(flat: Float32Array, offset: number, size: number): void {
    this.alive();
    if (flat.length !== this.numParams) throw new Error(`setParamsRange: got ${flat.length} values, expected ${this.numParams}`);
    const end = offset + size;
    if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || end > this.numParams) {
      throw new Error(`setParamsRange: range [${offset}, ${end}) is outside the ${this.numParams} parameters`);
    }
    const tf = tfRef();
    this.layout.forEach((e, i) => {
      const eEnd = e.offset + e.size;
      if (eEnd <= offset || e.offset >= end) return;
      if (e.offset < offset || eEnd > end) throw new Error(`setParamsRange: range [${offset}, ${end}) splits ${e.name} [${e.offset}, ${eEnd})`);
      tf.tidy(() => this.vars[i].assign(tf.tensor(ownValues(tf, flat.subarray(e.offset, eEnd)), e.shape)));
    });
  }

  lossAndGrad(
    batch: Batch,
    taskWeights: Record<string, number>,
    gradOut: Float32Array,
  ): { lossSums: Record<string, number>; counts: Record<string, number> } {
    this.alive();
    if (gradOut.length !== this.numParams) throw new Error(`lossAndGrad: gradOut has length ${gradOut.length}, expected ${this.numParams}`);
    const { items, lossSums, counts } = this.prepare(batch, taskWeights);
    gradOut.fill(0);
    if (batch.n === 0 || items.length === 0) return { lossSums, counts };
    const sums = this.gradPass(batch, items, gradOut, 0);
    items.forEach((it, j) => (lossSums[it.task.name] = sums[j]));
    return { lossSums, counts };
  }

  /**
   * lossAndGrad with the backward pass run layer by layer, last layer first (what DDP's gradient
   * buckets rely on): `onReady(offset, size)` is called as soon as gradOut[offset, offset+size) is
   * final (first all heads, then each trunk layer downwards), and the event loop gets a turn between
   * layers so that collectives started from `onReady` make progress while the rest is computed.
   * Same value as lossAndGrad up to float rounding. The ranges and their order depend on the model
   * only, never on the batch (an empty batch reports the same ranges, zero-filled), so every rank
   * issues the same sequence of collectives; architectures that are not `sequential` report the
   * whole vector once. `onLossSums`, when given, receives the per-task loss sums once, before the
   * first range (so a caller can reduce them together with the first gradient bucket).
   */
  async lossAndGradStaged(
    batch: Batch,
    taskWeights: Record<string, number>,
    gradOut: Float32Array,
    onReady: (offset: number, size: number) => void,
    onLossSums?: (lossSums: Record<string, number>) => void,
  ): Promise<{ lossSums: Record<string, number>; counts: Record<string, number> }> {
    this.alive();
    if (gradOut.length !== this.numParams) throw new Error(`lossAndGradStaged: gradOut has length ${gradOut.length}, expected ${this.numParams}`);
    const trunkLayers = this.trunkLayers;
    if (!this.arch.sequential || trunkLayers.length === 0) {
      const r = this.lossAndGrad(batch, taskWeights, gradOut);
      onLossSums?.(r.lossSums);
      onReady(0, this.numParams);
      return r;
    }
    const { items, lossSums, counts } = this.prepare(batch, taskWeights);
    gradOut.fill(0);
    // Reported in stagedRanges() order: the heads first, then each trunk layer downwards.
    const ranges = this.stagedRanges();
    let nextRange = 0;
    const reportNext = () => onReady(...ranges[nextRange++]);
    if (batch.n === 0 || items.length === 0) {
      onLossSums?.(lossSums);
      for (const [o, s] of ranges) onReady(o, s);
      return { lossSums, counts };
    }
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    // The async function only sequences the stages: each stage is a small synchronous method, so
    // V8 optimises them separately. One large async body took TurboFan 110-130 ms to compile
    // and deoptimised again within a step, every ~240 steps, on the worker's own core
    // (docs/performance.md, "Steps that stall on the compiler").
    const st: StagedPass = { live: [], inputs: [], pre: [], dh: null };
    try {
      this.stagedForward(batch, st);
      this.stagedHeads(batch, items, lossSums, gradOut, st);
      onLossSums?.(lossSums);
      reportNext();
      await turn();
      for (let l = trunkLayers.length - 1; l >= 0; l--) {
        this.stagedLayerGrad(l, gradOut, st);
        reportNext();
        if (l > 0) {
          // Turns before and after the input gradient's product let the collectives move on.
          await turn();
          this.stagedInputGrad(l, st);
          await turn();
        }
      }
      return { lossSums, counts };
    } finally {
      for (const t of st.live) if (!t.isDisposed) t.dispose();
    }
  }

  /** Staged pass, forward: each trunk layer's input and pre-activation output, kept for the backward pass. */
  private stagedForward(batch: Batch, st: StagedPass): void {
    const tf = tfRef();
    const { n } = batch;
    const w = this.weightsOf();
    let h: Tensor = tf.tensor2d(batch.x.subarray(0, n * this.spec.inputDim), [n, this.spec.inputDim]);
    st.live.push(h);
    for (const i of this.trunkLayers) {
      const [kernel, bias] = w(i);
      const act = this.arch.layers[i].activation;
      const x = h;
      st.inputs.push(x);
      const [z, out] = tf.tidy(() => {
        const zi = tf.add(denseMatMul(tf, x, kernel), bias);
        return [zi, act === 'output' || act === 'linear' ? zi : applyActivation(tf, act as Activation, zi)];
      });
      st.pre.push(z);
      st.live.push(z);
      if (out !== z) st.live.push(out);
      h = out;
    }
    st.dh = h;
  }

  /**
   * Staged pass, heads and losses: gradients with respect to the trunk's output (left in st.dh)
   * and every involved head parameter (written to gradOut), through tf.grads (the heads are
   * small; their forward runs again inside grads). Fills lossSums.
   */
  private stagedHeads(batch: Batch, items: LossItem[], lossSums: Record<string, number>, gradOut: Float32Array, st: StagedPass): void {
    const tf = tfRef();
    const { n } = batch;
    const w = this.weightsOf();
    const h = st.dh!;
    const involved = new Set<string>();
    for (const it of items) involved.add(it.task.name);
    const headIdx: number[] = [];
    for (let j = 0; j < this.layout.length; j++) if (involved.has(this.layout[j].owner)) headIdx.push(j);
    const kept: Tensor[] = [];
    const targets = items.map((it) => ({ y: tf.tensor2d(it.targets, [n, it.loss.outDim]), m: tf.tensor1d(it.mask) }));
    const headVars = headIdx.map((j) => this.vars[j]);
    const f = (...args: Tensor[]): Scalar => {
      const [feat, ...hv] = args;
      const byIndex = new Map(headIdx.map((j, q) => [j, hv[q]]));
      const wh = (i: number): [Tensor, Tensor] => (byIndex.has(2 * i) ? [byIndex.get(2 * i)!, byIndex.get(2 * i + 1)!] : w(i));
      return this.weightedLoss(tf, wh, items, targets, feat, kept);
    };
    let grads: Tensor[];
    try {
      grads = tf.grads(f)([h, ...headVars]);
    } finally {
      for (const t of targets) {
        t.y.dispose();
        t.m.dispose();
      }
    }
    st.dh = grads[0];
    st.live.push(...grads);
    for (let q = 0; q < headIdx.length; q++) this.copyOut(grads[q + 1], gradOut, this.layout[headIdx[q]].offset);
    for (let q = 0; q < items.length; q++) {
      lossSums[items[q].task.name] = (kept[q].dataSync() as Float32Array)[0];
      kept[q].dispose();
    }
  }

  /** Staged pass, trunk layer l: its kernel and bias gradients into gradOut; d/dz kept in st.dh for the input gradient. */
  private stagedLayerGrad(l: number, gradOut: Float32Array, st: StagedPass): void {
    const tf = tfRef();
    const i = this.trunkLayers[l];
    const act = this.arch.layers[i].activation;
    const dh = st.dh!;
    // d/dz of the activation through tfjs' own gradient (recomputes one elementwise op).
    const dz = act === 'output' || act === 'linear' ? dh : tf.grads((z: Tensor) => applyActivation(tf, act as Activation, z))([st.pre[l]], dh)[0];
    if (dz !== dh) st.live.push(dz);
    // One bucket per layer. Splitting the kernel gradient into row blocks (smaller last bucket)
    // was measured slower at W=2: the extra products, slices and collectives cost more CPU than
    // the shorter tail saves (docs/performance.md).
    const dW = tf.matMul(st.inputs[l], dz, true, false);
    const db = tf.sum(dz, 0);
    st.live.push(dW, db);
    this.copyOut(dW, gradOut, this.layout[2 * i].offset);
    this.copyOut(db, gradOut, this.layout[2 * i + 1].offset);
    dW.dispose();
    db.dispose();
    st.dh = dz;
  }

  /** Staged pass: the gradient with respect to trunk layer l's input, from its d/dz (in st.dh). */
  private stagedInputGrad(l: number, st: StagedPass): void {
    const tf = tfRef();
    const [kernel] = this.weightsOf()(this.trunkLayers[l]);
    const dh = tf.matMul(st.dh!, kernel, false, true);
    st.live.push(dh);
    st.dh = dh;
  }

  private copyOut(t: Tensor, gradOut: Float32Array, offset: number): void {
    gradOut.set(heapView(tfRef(), t) ?? (t.dataSync() as Float32Array), offset);
  }

  /** The ranges lossAndGradStaged reports, in order; they depend on the model only. */
  stagedRanges(): Array<[number, number]> {
    const trunkLayers = this.trunkLayers;
    if (!this.arch.sequential || trunkLayers.length === 0) return [[0, this.numParams]];
    const head = this.trunkRange().size;
    const out: Array<[number, number]> = [[head, this.numParams - head]];
    for (let l = trunkLayers.length - 1; l >= 0; l--) {
      const i = trunkLayers[l];
      out.push([this.layout[2 * i].offset, this.layout[2 * i].size + this.layout[2 * i + 1].size]);
    }
    return out;
  }

  perTaskGrads(batch: Batch, gradOut: Float32Array): { lossSums: Record<string, number>; counts: Record<string, number> } {
    this.alive();
    const T = this.spec.tasks.length;
    if (gradOut.length !== T * this.numParams) {
      throw new Error(`perTaskGrads: gradOut has length ${gradOut.length}, expected ${T}*${this.numParams}`);
    }
    const weights: Record<string, number> = {};
    for (const t of this.spec.tasks) weights[t.name] = 1;
    const { items, lossSums, counts } = this.prepare(batch, weights);
    gradOut.fill(0);
    if (batch.n === 0) return { lossSums, counts };
    // One backward pass per task: each needs its own vector-Jacobian product through the trunk.
    for (const it of items) {
      const t = this.spec.tasks.indexOf(it.task);
      lossSums[it.task.name] = this.gradPass(batch, [it], gradOut, t * this.numParams)[0];
    }
    return { lossSums, counts };
  }

  predict(x: Float32Array, n: number): Record<string, Float32Array> {
    this.alive();
    const d = this.spec.inputDim;
    if (x.length < n * d) throw new Error(`predict: x has ${x.length} values, expected ${n}*${d}`);
    const out: Record<string, Float32Array> = {};
    if (n === 0) {
      for (const t of this.spec.tasks) out[t.name] = new Float32Array(0);
      return out;
    }
    const tf = tfRef();
    const w = this.weightsOf();
    const all = tf.tidy(() => {
      const h = this.arch.trunk(tf, w, tf.tensor2d(x.subarray(0, n * d), [n, d]));
      const parts = this.spec.tasks.map((t) => this.losses.get(t.name)!.predict(tf, this.arch.head(tf, w, t.name, h)));
      return parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    });
    let data: Float32Array;
    try {
      data = all.dataSync() as Float32Array;
    } finally {
      all.dispose();
    }
    let pos = 0;
    for (const t of this.spec.tasks) {
      const len = n * this.losses.get(t.name)!.outDim;
      out[t.name] = data.slice(pos, pos + len);
      pos += len;
    }
    return out;
  }

  toLayersModel(): LayersModel {
    this.alive();
    const tf = tfRef();
    const input = tf.input({ shape: [this.spec.inputDim], name: INPUT_NAME });
    const made = new Map<number, ReturnType<TF['layers']['dense']>>();
    const outputs = this.arch.buildLayers(tf, input, (i) => {
      const def = this.arch.layers[i];
      const activation = def.activation === 'output' ? this.losses.get(def.owner)!.outputActivation : def.activation;
      const layer = tf.layers.dense({
        units: def.outDim,
        activation,
        useBias: def.bias !== false,
        name: def.name,
        // Real values are set below; zeros avoid spending random draws on throwaway init.
        kernelInitializer: 'zeros',
        biasInitializer: 'zeros',
      });
      made.set(i, layer);
      return layer as unknown as { apply(x: SymbolicTensor): SymbolicTensor };
    });
    const model = tf.model({ inputs: input, outputs: this.spec.tasks.map((t) => outputs[t.name]), name: `mtl_${this.arch.name}` });
    for (const [i, layer] of made) layer.setWeights(this.arch.layers[i].bias === false ? [this.vars[2 * i]] : [this.vars[2 * i], this.vars[2 * i + 1]]);
    return model;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.vars) v.dispose();
  }

  private alive(): void {
    if (this.disposed) throw new Error('MtlModel has been disposed');
  }

  private weightsOf() {
    return (i: number): [Tensor, Tensor] => [this.vars[2 * i], this.vars[2 * i + 1]];
  }

  /** Validates the batch and builds per-task targets for the tasks present in it. */
  private prepare(batch: Batch, taskWeights: Record<string, number>) {
    const { n } = batch;
    const d = this.spec.inputDim;
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`batch.n must be a non-negative integer, got ${n}`);
    if (batch.inputDim !== d) throw new Error(`batch.inputDim is ${batch.inputDim}, model expects ${d}`);
    if (batch.x.length < n * d) throw new Error(`batch.x has ${batch.x.length} values, expected ${n}*${d}`);
    const lossSums: Record<string, number> = {};
    const counts: Record<string, number> = {};
    const items: LossItem[] = [];
    for (const task of this.spec.tasks) {
      lossSums[task.name] = 0;
      counts[task.name] = 0;
      const labels = batch.labels[task.name];
      // A task absent from the batch (e.g. another group's task in the parallel variant) is skipped.
      if (!labels) continue;
      if (labels.length < n) throw new Error(`labels of task '${task.name}' have ${labels.length} values, expected ${n}`);
      const weight = taskWeights[task.name];
      if (weight === undefined || !Number.isFinite(weight)) {
        throw new Error(`task '${task.name}' is in the batch but has no finite weight in taskWeights`);
      }
      let mask = batch.mask[task.name];
      if (!mask) mask = new Float32Array(n).fill(1);
      else if (mask.length < n) throw new Error(`mask of task '${task.name}' has ${mask.length} values, expected ${n}`);
      const loss = this.losses.get(task.name)!;
      counts[task.name] = countMask(mask, n);
      items.push({ task, loss, weight, mask: mask.subarray(0, n), targets: loss.targets(labels, mask, n) });
    }
    return { items, lossSums, counts };
  }

  /**
   * sum_j w_j * (masked loss sum of item j) from the trunk's output; each item's loss sum is kept
   * (tf.keep) and pushed to `kept`, so it outlives the gradient function's tidy.
   */
  private weightedLoss(tf: TF, w: WeightsOf, items: LossItem[], targets: Array<{ y: Tensor; m: Tensor }>, features: Tensor, kept: Tensor[]): Scalar {
    let total: Scalar | undefined;
    items.forEach((it, j) => {
      const logits = this.arch.head(tf, w, it.task.name, features);
      const sum = tf.sum(tf.mul(it.loss.perExample(tf, logits, targets[j].y), targets[j].m)) as Scalar;
      kept.push(tf.keep(sum));
      const ws = tf.mul(sum, it.weight) as Scalar;
      total = total ? (tf.add(total, ws) as Scalar) : ws;
    });
    return total!;
  }

  /**
   * d(sum_j w_j * sum_i mask_ij * loss_j(i)) / d params, written into gradOut at `base`
   * (params outside the involved layers keep their current, zero, values). Returns the
   * per-item loss sums. One dataSync for gradients and losses together.
   */
  private gradPass(batch: Batch, items: LossItem[], gradOut: Float32Array, base: number): number[] {
    const tf = tfRef();
    const { n } = batch;
    const d = this.spec.inputDim;
    const w = this.weightsOf();
    const owners = new Set(['trunk', ...items.map((it) => it.task.name)]);
    const involved = this.layout.map((_, i) => i).filter((i) => owners.has(this.layout[i].owner));
    const varList = involved.map((i) => this.vars[i]);
    const kept: Tensor[] = [];
    let present: boolean[] = [];
    let packed: Tensor | undefined;
    try {
      packed = tf.tidy(() => {
        const x = tf.tensor2d(batch.x.subarray(0, n * d), [n, d]);
        const inputs = items.map((it) => ({
          y: tf.tensor2d(it.targets, [n, it.loss.outDim]),
          m: tf.tensor1d(it.mask),
        }));
        // The loss sums are kept past variableGrads' internal tidy; disposed in the finally below.
        const { grads } = tf.variableGrads(() => this.weightedLoss(tf, w, items, inputs, this.arch.trunk(tf, w, x), kept), varList);
        present = varList.map((v) => grads[v.name] !== undefined);
        const parts = varList.filter((_, j) => present[j]).map((v) => tf.reshape(grads[v.name], [-1]));
        parts.push(tf.stack(kept));
        return tf.concat(parts, 0);
      });
      const data = packed.dataSync() as Float32Array;
      let pos = 0;
      involved.forEach((i, j) => {
        const e = this.layout[i];
        if (present[j]) {
          gradOut.set(data.subarray(pos, pos + e.size), base + e.offset);
          pos += e.size;
        } else {
          gradOut.fill(0, base + e.offset, base + e.offset + e.size);
        }
      });
      return Array.from(data.subarray(pos, pos + items.length));
    } finally {
      packed?.dispose();
      for (const t of kept) t.dispose();
    }
  }
}

/**
 * A view of a float32 tensor's bytes where the backend keeps them in a heap it exposes (wasm), so a
 * gradient is copied once into the flat vector instead of twice through dataSync; null elsewhere.
 * The view is only valid until the next tfjs allocation.
 */
/**
 * Values a new tensor may take without a copy of ours: the wasm backend copies them into its heap
 * when the tensor is made, so the caller's array can change afterwards (the trainer's parameters,
 * updated in place every step); other backends may keep the array itself, so they get a copy.
 */
function ownValues(tf: TF, values: Float32Array): Float32Array {
  return tf.getBackend() === 'wasm' ? values : values.slice();
}

function heapView(tf: TF, t: Tensor): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const b = tf.backend() as unknown as { typedArrayFromHeap?: (t: Tensor) => Float32Array };
  return typeof b.typedArrayFromHeap === 'function' ? b.typedArrayFromHeap(t) : null;
}

