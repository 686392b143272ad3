// CGC and PLE (Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
// Model for Personalized Recommendations", RecSys 2020), and the ownership rule every architecture
// must keep: a parameter owned by task t is one no other task's loss depends on (in the parallel
// variant a task's parameters are reduced within its own group only).
import type { Scalar, Tensor } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lossFor, MtlModel, selectBackend, tfRef, type ModelSpec } from '../src';
import { architectureFor } from '../src/architectures';
import { lcg, makeBatch, maxAbs, maxAbsDiff, refLogits } from './helpers/reference';

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

describe('training path (cgc, ple)', () => {
  for (const spec of [cgc, ple3]) {
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
