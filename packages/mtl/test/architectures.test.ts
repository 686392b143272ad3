// CGC and PLE (Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
// Model for Personalized Recommendations", RecSys 2020), DSelect-k (Hazimeh et al., "DSelect-k:
// Differentiable Selection in the Mixture of Experts with Applications to Multi-Task Learning", NeurIPS
// 2021), Cross-stitch networks (Misra et al., "Cross-stitch Networks for Multi-task Learning", CVPR
// 2016), and the ownership rule every architecture must keep: a parameter owned by task t is one no other task's loss depends on (in the parallel
// variant a task's parameters are reduced within its own group only).
import type { Scalar, Tensor } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lossFor, MtlModel, selectBackend, tfRef, type ModelSpec } from '../src';
import { architectureFor } from '../src/architectures';
import { lcg, makeBatch, maxAbs, maxAbsDiff, refDselectGate, refLogits, smoothStep } from './helpers/reference';
import type { DselectKArchitecture } from '../src/architectures';

const tasks = [
  { name: 'reg', type: 'regression' as const },
  { name: 'bin', type: 'binary' as const },
  { name: 'cls', type: 'multiclass:3' as const },
];
// Input 3, experts of widths [5, 4] (expert output D = 4), towers of one hidden layer of 3.
const base: ModelSpec = { inputDim: 3, trunk: [5, 4], activation: 'tanh', tasks, head: [3] };
const cgc: ModelSpec = { ...base, architecture: 'cgc', experts: 2, taskExperts: 1 };
const ple2: ModelSpec = { ...base, architecture: 'ple', experts: 2, taskExperts: 1, levels: 2 };
const ple3: ModelSpec = { ...base, architecture: 'ple', experts: 2, taskExperts: 2, levels: 3 };
const dsk: ModelSpec = { ...base, architecture: 'dselect-k', experts: 4, k: 2, gamma: 1 };
const dsk8: ModelSpec = { ...base, architecture: 'dselect-k', experts: 8, k: 3, gamma: 0.5 };
const xs: ModelSpec = { ...base, architecture: 'cross-stitch' };
const xs3: ModelSpec = { ...base, architecture: 'cross-stitch', trunk: [5, 4, 4] };

beforeAll(async () => {
  await selectBackend('cpu');
});

const ownersOf = (m: MtlModel) => Object.fromEntries(m.layout.filter((e) => e.name.endsWith('/kernel')).map((e) => [e.name.slice(0, -'/kernel'.length), e.owner]));

/** The trunk first, then each task's parameters contiguously in task order (what trunkRange and headRange assume). */
function expectTrunkThenTasks(m: MtlModel, spec: ModelSpec): void {
  const order = ['trunk', ...spec.tasks.map((t) => t.name)];
  let at = 0;
  for (const e of m.layout) {
    const k = order.indexOf(e.owner);
    expect(k, e.name).toBeGreaterThanOrEqual(at);
    at = k;
  }
  let trunk = 0;
  for (const e of m.layout) if (e.owner === 'trunk') trunk += e.size;
  expect(m.trunkRange()).toEqual({ offset: 0, size: trunk });
  for (const t of spec.tasks) {
    const own = m.layout.filter((e) => e.owner === t.name);
    expect(m.headRange(t.name)).toEqual({ offset: own[0]!.offset, size: own.reduce((s, e) => s + e.size, 0) });
  }
}

describe('parameter counts from the paper\'s structure', () => {
  // An expert over an input of width a: a*5 + 5 + 5*4 + 4 (from the input 3: 44; from an expert output of 4: 49).
  // Towers: reg and bin 4*3 + 3 + 3*1 + 1 = 19, cls 4*3 + 3 + 3*3 + 3 = 27; together 65.
  // A task gate over S + E_t experts from a width a: a*(S + E_t) + (S + E_t).
  it('cgc: 2 shared experts, 1 per task', () => {
    const m = MtlModel.create(cgc, 1);
    // shared 2*44 = 88; per task: its expert 44 + its gate 3*3 + 3 = 12, so 56, times 3 = 168; towers 65.
    expect(m.numParams).toBe(88 + 168 + 65);
    expect(m.trunkRange().size).toBe(88);
    expect(m.headRange('reg').size).toBe(44 + 12 + 19);
    expect(m.headRange('cls').size).toBe(44 + 12 + 27);
    m.dispose();
  });

  it('ple: 2 levels of 2 shared experts and 1 per task', () => {
    const m = MtlModel.create(ple2, 1);
    // level 0: shared 2*44 = 88, task experts 3*44 = 132, task gates 3*12 = 36, shared gate 3*(2+3) + 5 = 20;
    // level 1 (CGC, from width 4): shared 2*49 = 98, task experts 3*49 = 147, task gates 3*(4*3 + 3) = 45; towers 65.
    expect(m.numParams).toBe(88 + 132 + 36 + 20 + 98 + 147 + 45 + 65);
    // Trunk: every expert and the shared gate of level 0, and level 1's shared experts; level 0's
    // task gates feed only their own task's input to the last level.
    expect(m.trunkRange().size).toBe(88 + 132 + 20 + 98);
    expect(m.headRange('reg').size).toBe(12 + 49 + 15 + 19);
    m.dispose();
  });

  it('ple: 3 levels of 2 shared experts and 2 per task', () => {
    const m = MtlModel.create(ple3, 1);
    // level 0: shared 88, task experts 3*2*44 = 264, task gates 3*(3*4 + 4) = 48, shared gate 3*(2+6) + 8 = 32;
    // level 1: shared 2*49 = 98, task experts 3*2*49 = 294, task gates 3*(4*4 + 4) = 60, shared gate 4*8 + 8 = 40;
    // level 2: shared 98, task experts 294, task gates 60; towers 65.
    expect(m.numParams).toBe(88 + 264 + 48 + 32 + 98 + 294 + 60 + 40 + 98 + 294 + 60 + 65);
    expect(m.trunkRange().size).toBe(88 + 264 + 48 + 32 + 98 + 294 + 40 + 98);
    m.dispose();
  });

  it('dselect-k: 4 experts (2 bits), 2 selectors per task', () => {
    const m = MtlModel.create(dsk, 1);
    // experts 4*44 = 176; per task: z logits 3*(2*2) + 4 = 16, selector weights 3*2 + 2 = 8; towers 65.
    expect(m.numParams).toBe(176 + 3 * 24 + 65);
    expect(m.trunkRange().size).toBe(176);
    expect(m.headRange('reg').size).toBe(24 + 19);
    expect(m.headRange('cls').size).toBe(24 + 27);
    m.dispose();
    // 8 experts (3 bits), 3 selectors: z logits 3*(3*3) + 9 = 36, selector weights 3*3 + 3 = 12.
    const m8 = MtlModel.create(dsk8, 1);
    expect(m8.numParams).toBe(8 * 44 + 3 * 48 + 65);
    expect(m8.headRange('bin').size).toBe(48 + 19);
    m8.dispose();
  });

  it('cross-stitch: a column per task, a bias-free 3 x 3 unit after each hidden layer', () => {
    const m = MtlModel.create(xs, 1);
    // columns 3*44 = 132; unit 0 (below the last): 3 rows of 3 = 9, the trunk's; unit 1 (the last):
    // task t's row, 3 weights, is t's; towers 65.
    expect(m.numParams).toBe(132 + 9 + 9 + 65);
    expect(m.trunkRange().size).toBe(132 + 9);
    expect(m.headRange('reg').size).toBe(3 + 19);
    expect(m.headRange('cls').size).toBe(3 + 27);
    m.dispose();
    // Three hidden layers [5, 4, 4]: a column is 3*5 + 5 + 5*4 + 4 + 4*4 + 4 = 64; units 0 and 1 in the trunk.
    const m3 = MtlModel.create(xs3, 1);
    expect(m3.numParams).toBe(3 * 64 + 2 * 9 + 9 + 65);
    expect(m3.trunkRange().size).toBe(3 * 64 + 2 * 9);
    m3.dispose();
  });
});

describe('cgc architecture', () => {
  it('lays out the shared experts as the trunk, then per task its experts, its gate (input -> S + E_t) and its tower', () => {
    const m = MtlModel.create({ ...cgc, taskExperts: 2 }, 2);
    const owners = ownersOf(m);
    expect(Object.keys(owners).slice(0, 4)).toEqual(['expert_0_0', 'expert_0_1', 'expert_1_0', 'expert_1_1']);
    expect(Object.entries(owners).filter(([, o]) => o === 'trunk').map(([n]) => n)).toEqual(['expert_0_0', 'expert_0_1', 'expert_1_0', 'expert_1_1']);
    expect(Object.entries(owners).filter(([, o]) => o === 'reg').map(([n]) => n)).toEqual(['reg_expert_0_0', 'reg_expert_0_1', 'reg_expert_1_0', 'reg_expert_1_1', 'reg_gate', 'reg_head_0', 'reg']);
    expect(m.layout.find((e) => e.name === 'bin_gate/kernel')!.shape).toEqual([3, 4]);
    expectTrunkThenTasks(m, cgc);
    // Not a chain: the staged backward hands out the whole vector once.
    expect(m.stagedRanges()).toEqual([[0, m.numParams]]);
    m.dispose();
  });

  it('refuses bad expert counts, an empty trunk and task names that would name two layers alike', () => {
    expect(() => MtlModel.create({ ...cgc, experts: 0 }, 1)).toThrow(/cgc needs a positive whole number of shared experts, got 0/);
    expect(() => MtlModel.create({ ...cgc, taskExperts: 1.5 }, 1)).toThrow(/cgc needs a positive whole number of task experts, got 1.5/);
    expect(() => MtlModel.create({ ...cgc, trunk: [] }, 1)).toThrow(/cgc needs at least one trunk width/);
    // Task 'a' mixes its experts in a layer 'a_mix' of the exported model; a task named 'a_mix' would clash at export.
    expect(() => MtlModel.create({ ...cgc, tasks: [{ name: 'a', type: 'binary' }, { name: 'a_mix', type: 'binary' }] }, 1)).toThrow(/layer name 'a_mix' is used twice/);
  });
});

describe('ple architecture', () => {
  it('lays out level by level; the trunk holds all but the last level, less the task gates that feed only the last level', () => {
    const m = MtlModel.create(ple2, 2);
    const owners = ownersOf(m);
    expect(Object.entries(owners).filter(([, o]) => o === 'trunk').map(([n]) => n)).toEqual([
      'l0_expert_0_0', 'l0_expert_0_1', 'l0_expert_1_0', 'l0_expert_1_1',
      'l0_reg_expert_0_0', 'l0_reg_expert_0_1', 'l0_bin_expert_0_0', 'l0_bin_expert_0_1', 'l0_cls_expert_0_0', 'l0_cls_expert_0_1',
      'l0_gate',
      'l1_expert_0_0', 'l1_expert_0_1', 'l1_expert_1_0', 'l1_expert_1_1',
    ]);
    expect(Object.entries(owners).filter(([, o]) => o === 'cls').map(([n]) => n)).toEqual(['l0_cls_gate', 'l1_cls_expert_0_0', 'l1_cls_expert_0_1', 'l1_cls_gate', 'cls_head_0', 'cls']);
    // The shared gate mixes the shared experts and every task's; a task gate its own and the shared ones.
    expect(m.layout.find((e) => e.name === 'l0_gate/kernel')!.shape).toEqual([3, 2 + 3]);
    expect(m.layout.find((e) => e.name === 'l1_cls_gate/kernel')!.shape).toEqual([4, 2 + 1]);
    expect(m.layout.find((e) => e.name === 'l1_expert_0_0/kernel')!.shape).toEqual([4, 5]);
    expectTrunkThenTasks(m, ple2);
    expect(m.stagedRanges()).toEqual([[0, m.numParams]]);
    m.dispose();

    const m3 = MtlModel.create(ple3, 2);
    const o3 = ownersOf(m3);
    // Three levels: level 0's task gates feed level 1's task experts, which feed level 1's shared gate.
    expect(o3['l0_reg_gate']).toBe('trunk');
    expect(o3['l1_reg_expert_1_0']).toBe('trunk');
    expect(o3['l1_gate']).toBe('trunk');
    expect(o3['l1_reg_gate']).toBe('reg');
    expect(o3['l2_reg_expert_1_0']).toBe('reg');
    expect(o3['l2_gate']).toBeUndefined();
    expectTrunkThenTasks(m3, ple3);
    m3.dispose();
  });

  it('with one level is CGC (the same parameters give the same predictions)', () => {
    const a = MtlModel.create(cgc, 6);
    const b = MtlModel.create({ ...cgc, architecture: 'ple', levels: 1 }, 6);
    expect(b.numParams).toBe(a.numParams);
    const pa = a.getParams();
    const pb = new Float32Array(b.numParams);
    for (const e of b.layout) {
      const src = a.layout.find((f) => f.name === e.name.replace(/^l0_/, ''))!;
      pb.set(pa.subarray(src.offset, src.offset + src.size), e.offset);
    }
    b.setParams(pb);
    const { x, n } = makeBatch(cgc, 6, 3);
    const ya = a.predict(x, n);
    const yb = b.predict(x, n);
    for (const t of tasks) expect(maxAbsDiff(ya[t.name]!, yb[t.name]!)).toBeLessThan(1e-6);
    a.dispose();
    b.dispose();
  });

  it('refuses a bad level count', () => {
    expect(() => MtlModel.create({ ...ple2, levels: 0 }, 1)).toThrow(/ple needs a positive whole number of levels, got 0/);
    expect(() => MtlModel.create({ ...ple2, trunk: [] }, 1)).toThrow(/ple needs at least one trunk width/);
  });
});

describe('dselect-k architecture', () => {
  it('lays out the experts as the trunk, then per task its selectors\' logits (input -> k*m), their weights (input -> k) and its tower', () => {
    const m = MtlModel.create(dsk8, 2);
    const owners = ownersOf(m);
    expect(Object.entries(owners).filter(([, o]) => o === 'trunk').map(([n]) => n)).toEqual(
      Array.from({ length: 8 }, (_, e) => [`expert_${e}_0`, `expert_${e}_1`]).flat(),
    );
    expect(Object.entries(owners).filter(([, o]) => o === 'bin').map(([n]) => n)).toEqual(['bin_gate_z', 'bin_gate_w', 'bin_head_0', 'bin']);
    expect(m.layout.find((e) => e.name === 'bin_gate_z/kernel')!.shape).toEqual([3, 3 * 3]);
    expect(m.layout.find((e) => e.name === 'bin_gate_w/kernel')!.shape).toEqual([3, 3]);
    expectTrunkThenTasks(m, dsk8);
    expect(m.stagedRanges()).toEqual([[0, m.numParams]]);
    m.dispose();
  });

  it('the smooth-step is the paper\'s: 0 below -gamma/2, 1 above gamma/2, the cubic in between (reference check)', () => {
    for (const gamma of [0.5, 1, 3]) {
      expect(smoothStep(-gamma / 2, gamma)).toBeCloseTo(0, 12);
      expect(smoothStep(0, gamma)).toBe(0.5);
      expect(smoothStep(gamma / 2, gamma)).toBeCloseTo(1, 12);
      expect(smoothStep(gamma / 4, gamma) + smoothStep(-gamma / 4, gamma)).toBeCloseTo(1, 12);
    }
  });

  it('binary selectors pick exactly the experts their bits encode; the gate sums to 1', () => {
    const tf = tfRef();
    const spec = dsk;
    const m = MtlModel.create(spec, 3);
    const arch = architectureFor(spec) as DselectKArchitecture;
    const p = m.getParams();
    const set = (name: string, values: number[]) => {
      const e = m.layout.find((f) => f.name === name)!;
      expect(values.length).toBe(e.size);
      p.set(values, e.offset);
    };
    // Task reg: zero kernels, so the gate is its biases. Selector 0's logits (+0.6, -0.5) are past
    // +-gamma/2: bits 1, 0 = expert 2; selector 1's (-2, +0.7): bits 0, 1 = expert 1. Weights
    // softmax(0.3, -0.1).
    set('reg_gate_z/kernel', new Array(3 * 4).fill(0));
    set('reg_gate_z/bias', [0.6, -0.5, -2, 0.7]);
    set('reg_gate_w/kernel', new Array(3 * 2).fill(0));
    set('reg_gate_w/bias', [0.3, -0.1]);
    m.setParams(p);
    const wOf = (i: number): [import('@tensorflow/tfjs').Tensor, import('@tensorflow/tfjs').Tensor] => {
      const l = arch.layers[i]!;
      const k = m.layout.find((e) => e.name === `${l.name}/kernel`)!;
      const b = m.layout.find((e) => e.name === `${l.name}/bias`)!;
      return [tf.tensor(p.slice(k.offset, k.offset + k.size), k.shape), tf.tensor(p.slice(b.offset, b.offset + b.size), b.shape)];
    };
    const x = makeBatch(spec, 4, 2).x;
    const q = tf.tidy(() => arch.gate(tf, wOf, 'reg', tf.tensor2d(x, [4, 3])).arraySync() as number[][]);
    const a0 = 1 / (1 + Math.exp(-0.4));
    for (const row of q) {
      expect(row[0]).toBe(0);
      expect(row[3]).toBe(0);
      expect(row[2]).toBeCloseTo(a0, 6);
      expect(row[1]).toBeCloseTo(1 - a0, 6);
    }
    // Another task's gate, from the input: nonnegative, sums to 1, the reference's values.
    const qb = tf.tidy(() => arch.gate(tf, wOf, 'bin', tf.tensor2d(x, [4, 3])).arraySync() as number[][]);
    qb.forEach((row, i) => {
      expect(row.every((v) => v >= 0)).toBe(true);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      const ref = refDselectGate(spec, m.layout, p, 'bin', Array.from(x.subarray(i * 3, i * 3 + 3)));
      expect(maxAbsDiff(row, ref)).toBeLessThan(1e-6);
    });
    m.dispose();
  });

  it('refuses expert counts that are not a power of two, a bad k or gamma, an empty trunk and clashing layer names', () => {
    expect(() => MtlModel.create({ ...dsk, experts: 3 }, 1)).toThrow(/dselect-k needs a power of two of experts .* got 3/);
    expect(() => MtlModel.create({ ...dsk, experts: 1 }, 1)).toThrow(/dselect-k needs a power of two of experts .* got 1/);
    expect(() => MtlModel.create({ ...dsk, k: 0 }, 1)).toThrow(/dselect-k needs a positive whole number of selected experts \(k\), got 0/);
    expect(() => MtlModel.create({ ...dsk, k: 5 }, 1)).toThrow(/dselect-k selects k of the 4 experts per task; k = 5 is more than that/);
    expect(() => MtlModel.create({ ...dsk, gamma: 0 }, 1)).toThrow(/dselect-k needs a positive smooth-step width gamma, got 0/);
    expect(() => MtlModel.create({ ...dsk, gamma: NaN }, 1)).toThrow(/gamma, got NaN/);
    expect(() => MtlModel.create({ ...dsk, trunk: [] }, 1)).toThrow(/dselect-k needs at least one trunk width/);
    expect(() => MtlModel.create({ ...dsk, tasks: [{ name: 'a', type: 'binary' }, { name: 'a_mix', type: 'binary' }] }, 1)).toThrow(/layer name 'a_mix' is used twice/);
  });
});

describe('cross-stitch architecture', () => {
  it('lays out the columns and the units below the last as the trunk, then per task its row of the last unit and its tower', () => {
    const m = MtlModel.create(xs3, 2);
    const owners = ownersOf(m);
    expect(Object.entries(owners).filter(([, o]) => o === 'trunk').map(([n]) => n)).toEqual([
      'reg_column_0', 'reg_column_1', 'reg_column_2', 'bin_column_0', 'bin_column_1', 'bin_column_2', 'cls_column_0', 'cls_column_1', 'cls_column_2',
      'stitch_0_reg', 'stitch_0_bin', 'stitch_0_cls', 'stitch_1_reg', 'stitch_1_bin', 'stitch_1_cls',
    ]);
    expect(Object.entries(owners).filter(([, o]) => o === 'cls').map(([n]) => n)).toEqual(['stitch_2_cls', 'cls_head_0', 'cls']);
    // A unit's row: kernel [T, 1], no bias (an empty entry keeps kernel and bias at 2i, 2i+1).
    expect(m.layout.find((e) => e.name === 'stitch_1_bin/kernel')).toMatchObject({ shape: [3, 1], size: 3 });
    expect(m.layout.find((e) => e.name === 'stitch_1_bin/bias')).toMatchObject({ shape: [0], size: 0 });
    expectTrunkThenTasks(m, xs3);
    expect(m.stagedRanges()).toEqual([[0, m.numParams]]);
    m.dispose();
  });

  it('starts near the identity: 0.9 from its own column, 0.1/(T-1) from each other (the same for every seed)', () => {
    for (const [spec, T] of [[xs3, 3], [{ ...xs3, tasks: [...tasks, { name: 'more', type: 'binary' as const }] }, 4]] as const) {
      const m = MtlModel.create(spec, 5);
      const p = m.getParams();
      for (let l = 0; l < 3; l++) {
        spec.tasks.forEach((t, ti) => {
          const e = m.layout.find((f) => f.name === `stitch_${l}_${t.name}/kernel`)!;
          const want = spec.tasks.map((_, u) => (u === ti ? 0.9 : 0.1 / (T - 1)));
          expect(maxAbsDiff(p.subarray(e.offset, e.offset + e.size), want)).toBeLessThan(1e-7);
        });
      }
      m.dispose();
    }
    // One task: its column alone, the unit the identity.
    const one = MtlModel.create({ ...xs, tasks: [tasks[0]!] }, 1);
    const e = one.layout.find((f) => f.name === 'stitch_1_reg/kernel')!;
    expect(Array.from(one.getParams().subarray(e.offset, e.offset + e.size))).toEqual([1]);
    one.dispose();
  });

  it('with identity units is T separate networks: one task\'s predictions ignore every other column', () => {
    const m = MtlModel.create(xs3, 7);
    const r = lcg(3);
    const p = Float32Array.from(m.getParams(), (v) => v + 0.1 * (2 * r() - 1));
    xs3.tasks.forEach((t, ti) => {
      for (let l = 0; l < 3; l++) {
        const e = m.layout.find((f) => f.name === `stitch_${l}_${t.name}/kernel`)!;
        p.set(xs3.tasks.map((_, u) => (u === ti ? 1 : 0)), e.offset);
      }
    });
    m.setParams(p);
    const { x, n } = makeBatch(xs3, 6, 4);
    const before = m.predict(x, n);
    const q = p.slice();
    for (const e of m.layout) if (e.name.startsWith('bin_column_') || e.name.startsWith('cls_column_')) for (let i = e.offset; i < e.offset + e.size; i++) q[i] = 2 * r() - 1;
    m.setParams(q);
    const after = m.predict(x, n);
    expect(Array.from(after.reg!)).toEqual(Array.from(before.reg!));
    expect(maxAbsDiff(after.bin!, before.bin!)).toBeGreaterThan(1e-3);
    m.dispose();
  });

  it('refuses an empty trunk and clashing layer names', () => {
    expect(() => MtlModel.create({ ...xs, trunk: [] }, 1)).toThrow(/cross-stitch needs at least one trunk width/);
    expect(() => MtlModel.create({ ...xs, tasks: [{ name: 'a', type: 'binary' }, { name: 'stitch_0_a', type: 'binary' }] }, 1)).toThrow(/layer name 'stitch_0_a' is used twice/);
  });
});

describe('forward pass against the float64 reference', () => {
  for (const spec of [cgc, { ...cgc, taskExperts: 3 }, ple2, ple3, { ...ple3, levels: 4, head: [] }]) {
    it(`${spec.architecture}, ${spec.experts} shared, ${spec.taskExperts} per task${spec.levels ? `, ${spec.levels} levels` : ''}`, () => {
      const m = MtlModel.create(spec, 4);
      // Move the biases away from zero so that they take part.
      m.setParams(m.getParams().map((v, i) => v + 0.05 * Math.sin(i)));
      const batch = makeBatch(spec, 5, 8);
      const got = m.predict(batch.x, batch.n);
      const p = m.getParams();
      for (let i = 0; i < batch.n; i++) {
        const z = refLogits(spec, m.layout, p, Array.from(batch.x.subarray(i * 3, i * 3 + 3)));
        expect(Math.abs(got.reg![i]! - z.reg![0]!)).toBeLessThan(1e-5);
        expect(Math.abs(got.bin![i]! - 1 / (1 + Math.exp(-z.bin![0]!)))).toBeLessThan(1e-5);
      }
      m.dispose();
    });
  }

  const others: Array<[string, ModelSpec]> = [
    ['dselect-k, 2 experts, k = 1', { ...dsk, experts: 2, k: 1 }],
    ['dselect-k, 4 experts, k = 2, gamma 1', dsk],
    ['dselect-k, 8 experts, k = 3, gamma 0.5, no tower layers', { ...dsk8, head: [] }],
    ['dselect-k, 8 experts, k = 8, gamma 4', { ...dsk8, k: 8, gamma: 4 }],
    ['cross-stitch, 2 hidden layers', xs],
    ['cross-stitch, 3 hidden layers, relu', { ...xs3, activation: 'relu' }],
    ['cross-stitch, 1 hidden layer, 4 tasks', { ...xs, trunk: [4], tasks: [...tasks, { name: 'reg2', type: 'regression' as const }] }],
  ];
  for (const [name, spec] of others) {
    it(name, () => {
      const m = MtlModel.create(spec, 4);
      // Random parameters (the cross-stitch units away from their start, biases away from zero); the
      // gate's logits fall both inside and outside [-gamma/2, gamma/2].
      const r = lcg(31);
      m.setParams(m.getParams().map((v) => v + 0.3 * (2 * r() - 1)));
      const batch = makeBatch(spec, 6, 8);
      const got = m.predict(batch.x, batch.n);
      const p = m.getParams();
      for (let i = 0; i < batch.n; i++) {
        const z = refLogits(spec, m.layout, p, Array.from(batch.x.subarray(i * 3, i * 3 + 3)));
        expect(Math.abs(got.reg![i]! - z.reg![0]!)).toBeLessThan(1e-5);
        expect(Math.abs(got.bin![i]! - 1 / (1 + Math.exp(-z.bin![0]!)))).toBeLessThan(1e-5);
        const e = z.cls!.map(Math.exp);
        const sum = e.reduce((a, b) => a + b, 0);
        for (let c = 0; c < 3; c++) expect(Math.abs(got.cls![i * 3 + c]! - e[c]! / sum)).toBeLessThan(1e-5);
      }
      m.dispose();
    });
  }
});

describe('ownership: a task owns only parameters no other task depends on', () => {
  const specs: Array<[string, ModelSpec]> = [
    ['hps', { ...base, trunk: [5, 4] }],
    ['mmoe', { ...base, architecture: 'mmoe', experts: 3 }],
    ['cgc', { ...cgc, taskExperts: 2 }],
    ['ple, 1 level', { ...ple2, levels: 1 }],
    ['ple, 2 levels', ple2],
    ['ple, 3 levels', ple3],
    ['ple, 4 levels, no tower layers', { ...ple3, levels: 4, head: [] }],
    // gamma 4: the random start keeps the selectors' logits mostly inside [-gamma/2, gamma/2]; a
    // selector already binary on every example would leave an expert unused, like a dead unit.
    ['dselect-k, 4 experts, k = 2', { ...dsk, gamma: 4 }],
    ['dselect-k, 8 experts, k = 3, no tower layers', { ...dsk8, gamma: 4, head: [] }],
    ['cross-stitch, 1 hidden layer', { ...xs, trunk: [4] }],
    ['cross-stitch, 2 hidden layers', xs],
    ['cross-stitch, 3 hidden layers, no tower layers', { ...xs3, head: [] }],
  ];

  /**
   * d(task t's masked loss sum)/d(every parameter), taken through the architecture's own forward pass
   * with every parameter a variable of its own: MtlModel differentiates only the trunk and the tasks
   * in the batch, so it could not see a dependence on another task's parameters. A parameter the loss
   * does not reach comes back as null.
   */
  function gradsOfTask(spec: ModelSpec, layout: MtlModel['layout'], params: Float32Array, task: string, seed: number): Array<Float32Array | null> {
    const tf = tfRef();
    const arch = architectureFor(spec);
    const batch = makeBatch(spec, 6, seed);
    const t = spec.tasks.find((s) => s.name === task)!;
    const loss = lossFor(t);
    const vars = layout.map((e) => tf.tidy(() => tf.variable(tf.tensor(params.slice(e.offset, e.offset + e.size), e.shape), true)));
    try {
      const { value, grads } = tf.variableGrads(() => {
        const w = (i: number): [Tensor, Tensor] => [vars[2 * i]!, vars[2 * i + 1]!];
        const x = tf.tensor2d(batch.x, [batch.n, spec.inputDim]);
        const y = tf.tensor2d(loss.targets(batch.labels[task]!, batch.mask[task]!, batch.n), [batch.n, loss.outDim]);
        return tf.sum(loss.perExample(tf, arch.head(tf, w, task, arch.trunk(tf, w, x)), y)) as Scalar;
      }, vars);
      value.dispose();
      const out = vars.map((v) => (grads[v.name] ? (grads[v.name]!.dataSync() as Float32Array).slice() : null));
      for (const g of Object.values(grads)) g.dispose();
      return out;
    } finally {
      for (const v of vars) v.dispose();
    }
  }

  for (const [name, spec] of specs) {
    it(`${name}: task t's loss has zero gradient on every other task's parameters; every trunk parameter has a nonzero one from more than one task`, () => {
      const tf = tfRef();
      const before = tf.memory().numTensors;
      const m = MtlModel.create(spec, 9);
      const r = lcg(17);
      // Random parameters, biases included (zero biases could hide a dependence through them).
      const params = Float32Array.from(m.getParams(), (v) => v + 0.2 * (2 * r() - 1));
      const tasksOfTrunk = new Array<number>(m.numParams).fill(0);
      for (const t of spec.tasks) {
        const g = gradsOfTask(spec, m.layout, params, t.name, 21);
        m.layout.forEach((e, j) => {
          if (e.size === 0) return; // the empty bias entry of a bias-free layer
          const gj = g[j];
          if (e.owner !== 'trunk' && e.owner !== t.name) {
            // Another task's parameter: unreachable from t's loss, or exactly zero.
            if (gj) expect(maxAbs(gj), `${e.name} (owner ${e.owner}) under the loss of ${t.name}`).toBe(0);
          }
          if (e.owner === t.name) expect(gj && maxAbs(gj), `${e.name} under its own task's loss`).toBeGreaterThan(0);
          if (e.owner === 'trunk' && gj) {
            gj.forEach((v, q) => {
              if (v !== 0) tasksOfTrunk[e.offset + q]!++;
            });
          }
        });
      }
      // Every single trunk parameter moves more than one task's loss (tanh, random inputs and
      // parameters: no unit is dead, so a zero here would mean one task alone depends on it).
      for (const e of m.layout) {
        if (e.owner !== 'trunk') continue;
        const least = Math.min(...tasksOfTrunk.slice(e.offset, e.offset + e.size));
        expect(least, `${e.name}: tasks whose loss it moves`).toBeGreaterThan(1);
      }

      // The same through the model's own forward pass: scrambling every parameter a task does not
      // own (the trunk aside) leaves that task's predictions bit for bit as they were.
      m.setParams(params);
      const { x, n } = makeBatch(spec, 8, 5);
      const ref = m.predict(x, n);
      for (const t of spec.tasks) {
        const scrambled = params.slice();
        for (const e of m.layout) {
          if (e.owner === 'trunk' || e.owner === t.name) continue;
          for (let q = e.offset; q < e.offset + e.size; q++) scrambled[q] = 2 * r() - 1;
        }
        m.setParams(scrambled);
        expect(Array.from(m.predict(x, n)[t.name]!)).toEqual(Array.from(ref[t.name]!));
      }
      m.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('can fail: a task-owned parameter another task depends on is caught', () => {
    // PLE's level-0 task experts feed the shared gate, so every task depends on them: were they
    // task t's, the loss of another task would have a nonzero gradient on them.
    const m = MtlModel.create(ple2, 9);
    const params = m.getParams().map((v, i) => v + 0.1 * Math.cos(i));
    const g = gradsOfTask(ple2, m.layout, params, 'bin', 3);
    const j = m.layout.findIndex((e) => e.name === 'l0_reg_expert_0_0/kernel');
    expect(m.layout[j]!.owner).toBe('trunk');
    expect(maxAbs(g[j]!)).toBeGreaterThan(0);
    // And in CGC, task reg's expert is unreachable from task bin's loss.
    const c = MtlModel.create(cgc, 9);
    const gc = gradsOfTask(cgc, c.layout, c.getParams(), 'bin', 3);
    expect(gc[c.layout.findIndex((e) => e.name === 'reg_expert_0_0/kernel')]).toBeNull();
    m.dispose();
    c.dispose();
  });
});

describe('cross-stitch ownership, reasoned out', () => {
  it('a unit below the last moves every task\'s loss; the last unit\'s row t moves only task t\'s', () => {
    const tf = tfRef();
    const m = MtlModel.create(xs, 9);
    const layout = m.layout;
    const params = m.getParams();
    const vars = layout.map((e) => tf.variable(tf.tensor(params.slice(e.offset, e.offset + e.size), e.shape), true));
    const arch = architectureFor(xs);
    const batch = makeBatch(xs, 5, 2);
    const gradOf = (task: string, layer: string) => {
      const t = xs.tasks.find((s) => s.name === task)!;
      const loss = lossFor(t);
      const j = layout.findIndex((e) => e.name === `${layer}/kernel`);
      const { value, grads } = tf.variableGrads(() => {
        const w = (i: number): [Tensor, Tensor] => [vars[2 * i]!, vars[2 * i + 1]!];
        const x = tf.tensor2d(batch.x, [batch.n, 3]);
        const y = tf.tensor2d(loss.targets(batch.labels[task]!, batch.mask[task]!, batch.n), [batch.n, loss.outDim]);
        return tf.sum(loss.perExample(tf, arch.head(tf, w, task, arch.trunk(tf, w, x)), y)) as Scalar;
      }, vars);
      value.dispose();
      const g = grads[vars[j]!.name];
      const out = g ? maxAbs(g.dataSync()) : null;
      for (const v of Object.values(grads)) v.dispose();
      return out;
    };
    // Unit 0's row of reg mixes into reg's column, which unit 1 mixes into every column.
    for (const t of ['reg', 'bin', 'cls']) expect(gradOf(t, 'stitch_0_reg')).toBeGreaterThan(0);
    // Unit 1 (the last): reg's row feeds reg's tower only.
    expect(gradOf('reg', 'stitch_1_reg')).toBeGreaterThan(0);
    expect(gradOf('bin', 'stitch_1_reg')).toBeNull();
    expect(gradOf('cls', 'stitch_1_reg')).toBeNull();
    // And reg's column feeds bin through the units: the columns are not their task's.
    expect(gradOf('bin', 'reg_column_1')).toBeGreaterThan(0);
    for (const v of vars) v.dispose();
    m.dispose();
  });
});

describe('training path (cgc, ple, dselect-k, cross-stitch)', () => {
  for (const spec of [cgc, ple3, dsk8, xs3]) {
    it(`${spec.architecture}: lossAndGradStaged equals lossAndGrad; a task's stacked gradient is zero on the other tasks' parameters; nothing leaks`, async () => {
      const tf = tfRef();
      const m = MtlModel.create(spec, 5);
      const batch = makeBatch(spec, 9, 13, 3);
      const w = { reg: 0.6, bin: 1.1, cls: 1.2 };
      const want = new Float32Array(m.numParams);
      m.lossAndGrad(batch, w, want);
      const before = tf.memory().numTensors;
      const got = new Float32Array(m.numParams);
      const ranges: Array<[number, number]> = [];
      await m.lossAndGradStaged(batch, w, got, (o, s) => ranges.push([o, s]));
      expect(ranges).toEqual([[0, m.numParams]]);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-6 * Math.max(1, maxAbs(want)));
      const stacked = new Float32Array(3 * m.numParams);
      m.perTaskGrads(batch, stacked);
      spec.tasks.forEach((t, ti) => {
        for (const u of spec.tasks) {
          if (u.name === t.name) continue;
          const h = m.headRange(u.name);
          expect(maxAbs(stacked.subarray(ti * m.numParams + h.offset, ti * m.numParams + h.offset + h.size))).toBe(0);
        }
      });
      for (let i = 0; i < 5; i++) {
        m.lossAndGrad(batch, w, got);
        m.predict(batch.x, batch.n);
      }
      m.toLayersModel().dispose();
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });
  }
});
