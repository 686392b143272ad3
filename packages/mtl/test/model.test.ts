import { beforeAll, describe, expect, it } from 'vitest';
import { MtlModel, paramChecksum, selectBackend, tfRef, type ModelSpec } from '../src';
import { fdGrad, makeBatch, maxAbs, maxAbsDiff, refLogits, refLossSums, sliceBatch } from './helpers/reference';

const tasks = [
  { name: 'reg', type: 'regression' as const },
  { name: 'bin', type: 'binary' as const },
  { name: 'cls', type: 'multiclass:3' as const },
];
const tiny: ModelSpec = { inputDim: 3, trunk: [4], activation: 'tanh', tasks, head: [3] };

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('layout and init', () => {
  it('puts the trunk first, then each head contiguously in task order', () => {
    const m = MtlModel.create(tiny, 7);
    expect(m.layout.map((e) => e.name)).toEqual([
      'trunk_0/kernel', 'trunk_0/bias',
      'reg_head_0/kernel', 'reg_head_0/bias', 'reg/kernel', 'reg/bias',
      'bin_head_0/kernel', 'bin_head_0/bias', 'bin/kernel', 'bin/bias',
      'cls_head_0/kernel', 'cls_head_0/bias', 'cls/kernel', 'cls/bias',
    ]);
    expect(m.trunkRange()).toEqual({ offset: 0, size: 3 * 4 + 4 });
    expect(m.headRange('reg')).toEqual({ offset: 16, size: 4 * 3 + 3 + 3 + 1 });
    expect(m.headRange('cls')).toEqual({ offset: 16 + 19 + 19, size: 4 * 3 + 3 + 3 * 3 + 3 });
    expect(m.numParams).toBe(16 + 19 + 19 + 27);
    let off = 0;
    for (const e of m.layout) {
      expect(e.offset).toBe(off);
      expect(e.size).toBe(e.shape.reduce((a, b) => a * b, 1));
      off += e.size;
    }
    expect(() => m.headRange('nope')).toThrow(/nope/);
    m.dispose();
  });

  it('initialises identically from the same seed (Glorot-uniform kernels, zero biases)', () => {
    const a = MtlModel.create(tiny, 42), b = MtlModel.create(tiny, 42), c = MtlModel.create(tiny, 43);
    expect(paramChecksum(a.getParams())).toBe(paramChecksum(b.getParams()));
    expect(paramChecksum(a.getParams())).not.toBe(paramChecksum(c.getParams()));
    const p = a.getParams();
    for (const e of a.layout) {
      const v = p.subarray(e.offset, e.offset + e.size);
      if (e.name.endsWith('/bias')) expect(maxAbs(v)).toBe(0);
      else {
        const limit = Math.sqrt(6 / (e.shape[0] + e.shape[1]));
        expect(maxAbs(v)).toBeLessThanOrEqual(limit);
        expect(maxAbs(v)).toBeGreaterThan(0);
      }
    }
    // Pinned so that an accidental change of the init stream is noticed (it would break resumes across versions).
    expect(Array.from(p.subarray(0, 3)).map((v) => v.toFixed(6))).toEqual(['-0.877677', '-0.283951', '0.321867']);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('round-trips setParams/getParams and predicts from the new values', () => {
    const m = MtlModel.create(tiny, 1);
    const p = Float32Array.from({ length: m.numParams }, (_, i) => Math.sin(i) * 0.3);
    m.setParams(p);
    expect(m.getParams()).toEqual(p);
    const out = new Float32Array(m.numParams);
    expect(m.getParams(out)).toBe(out);
    const x = [0.2, -0.4, 0.9];
    const pred = m.predict(Float32Array.from(x), 1);
    const ref = refLogits(tiny, m.layout, p, x);
    expect(pred.reg[0]).toBeCloseTo(ref.reg[0], 5);
    expect(pred.bin[0]).toBeCloseTo(1 / (1 + Math.exp(-ref.bin[0])), 5);
    const e = ref.cls.map(Math.exp), s = e.reduce((a, b) => a + b);
    expect(Array.from(pred.cls)).toEqual(e.map((v) => expect.closeTo(v / s, 5)));
    expect(() => m.setParams(new Float32Array(3))).toThrow(/expected/);
    // The model holds its own copy: the trainer changes its array in place after handing it over.
    const kept = p.slice();
    p.fill(7);
    expect(m.getParams()).toEqual(kept);
    m.dispose();
    expect(() => m.getParams()).toThrow(/disposed/);
  });

  it('setParamsRange writes the variables inside the range only, and refuses a range that splits one', () => {
    const m = MtlModel.create(tiny, 1);
    const before = m.getParams();
    const x = Float32Array.from([0.2, -0.4, 0.9]);
    const predBefore = m.predict(x, 1);
    const p = Float32Array.from({ length: m.numParams }, (_, i) => Math.cos(i) * 0.2);
    const reg = m.headRange('reg');
    m.setParamsRange(p, reg.offset, reg.size);
    const after = m.getParams();
    for (let i = 0; i < m.numParams; i++) {
      const inside = i >= reg.offset && i < reg.offset + reg.size;
      expect(after[i]).toBe(inside ? p[i] : before[i]);
    }
    // The variables changed with the flat copy: the reg head predicts from the new values, the
    // others from the old ones.
    const mixed = Float32Array.from(before);
    mixed.set(p.subarray(reg.offset, reg.offset + reg.size), reg.offset);
    const ref = refLogits(tiny, m.layout, mixed, Array.from(x));
    const pred = m.predict(x, 1);
    expect(pred.reg[0]).toBeCloseTo(ref.reg[0], 5);
    expect(pred.reg[0]).not.toBeCloseTo(predBefore.reg[0], 5);
    expect(pred.bin[0]).toBeCloseTo(predBefore.bin[0], 6);
    // The rest, in two more ranges, gives the same model as setParams.
    m.setParamsRange(p, 0, reg.offset);
    m.setParamsRange(p, reg.offset + reg.size, m.numParams - reg.offset - reg.size);
    expect(m.getParams()).toEqual(p);
    expect(() => m.setParamsRange(p, 1, 5)).toThrow(/splits trunk_0\/kernel/);
    expect(() => m.setParamsRange(p, 0, m.numParams + 1)).toThrow(/outside/);
    expect(() => m.setParamsRange(new Float32Array(3), 0, 3)).toThrow(/expected/);
    m.dispose();
  });

  it('rejects bad specs', () => {
    expect(() => MtlModel.create({ ...tiny, tasks: [] }, 1)).toThrow(/tasks/);
    expect(() => MtlModel.create({ ...tiny, tasks: [{ name: 'a/b', type: 'binary' }] }, 1)).toThrow(/a\/b/);
    expect(() => MtlModel.create({ ...tiny, tasks: [{ name: 'trunk_0', type: 'binary' }] }, 1)).toThrow(/trunk_0/);
    expect(() => MtlModel.create({ ...tiny, tasks: [{ name: 'a', type: 'multiclass:1' as const }] }, 1)).toThrow(/classes/);
  });
});

describe('gradients', () => {
  const cases: { name: string; spec: ModelSpec }[] = [
    { name: 'tanh, head layers', spec: tiny },
    { name: 'gelu', spec: { ...tiny, activation: 'gelu', head: [] } },
    { name: 'elu', spec: { ...tiny, activation: 'elu', trunk: [5, 4] } },
    { name: 'sigmoid, no trunk', spec: { ...tiny, activation: 'sigmoid', trunk: [] } },
    { name: 'mmoe, 3 experts of 2 layers', spec: { ...tiny, architecture: 'mmoe', experts: 3, trunk: [5, 4] } },
    { name: 'cgc, 2 shared and 2 task experts of 2 layers', spec: { ...tiny, architecture: 'cgc', experts: 2, taskExperts: 2, trunk: [5, 4] } },
    { name: 'ple, 3 levels of 2 shared and 1 task expert', spec: { ...tiny, architecture: 'ple', experts: 2, taskExperts: 1, levels: 3, trunk: [4] } },
    // gamma 3: the selectors' logits stay inside the smooth-step's cubic part, where the gradient lives.
    { name: 'dselect-k, 4 experts of 2 layers, k = 2, gamma 3', spec: { ...tiny, architecture: 'dselect-k', experts: 4, k: 2, gamma: 3, trunk: [5, 4] } },
    { name: 'dselect-k, 8 experts, k = 3, gamma 1', spec: { ...tiny, architecture: 'dselect-k', experts: 8, k: 3, gamma: 1, trunk: [4] } },
    { name: 'cross-stitch, 3 hidden layers', spec: { ...tiny, architecture: 'cross-stitch', trunk: [5, 4, 4] } },
  ];
  for (const { name, spec } of cases) {
    it(`match float64 finite differences per task type with masks honoured (${name})`, () => {
      const m = MtlModel.create(spec, 3);
      const batch = makeBatch(spec, 7, 11, 3);
      const w = { reg: 0.7, bin: 1.3, cls: 0.4 };
      const g = new Float32Array(m.numParams);
      const { lossSums, counts } = m.lossAndGrad(batch, w, g);
      const params = m.getParams();
      const refSums = refLossSums(spec, m.layout, params, batch);
      for (const t of spec.tasks) {
        expect(lossSums[t.name]).toBeCloseTo(refSums[t.name], 4);
        // maskEvery = 3 masks rows with (i + taskIndex) % 3 == 0
        expect(counts[t.name]).toBe(7 - [0, 1, 2, 3, 4, 5, 6].filter((i) => (i + spec.tasks.indexOf(t)) % 3 === 0).length);
      }
      // Each task type on its own, then all together.
      for (const weights of [{ reg: 1 }, { bin: 1 }, { cls: 1 }, w] as Record<string, number>[]) {
        const sub = { ...batch, labels: Object.fromEntries(Object.keys(weights).map((k) => [k, batch.labels[k]])) };
        const got = new Float32Array(m.numParams);
        m.lossAndGrad(sub, weights, got);
        const fd = fdGrad(spec, m.layout, params, sub, weights);
        const scale = Math.max(1, maxAbs(fd));
        expect(maxAbsDiff(got, fd) / scale).toBeLessThan(spec.activation === 'gelu' ? 2e-4 : 2e-5);
      }
      m.dispose();
    });
  }

  it('binary loss has gradient sigmoid(z) - y exactly at z = 0', () => {
    const spec: ModelSpec = { inputDim: 1, trunk: [], activation: 'linear', tasks: [{ name: 'bin', type: 'binary' }] };
    const m = MtlModel.create(spec, 1);
    m.setParams(Float32Array.from([0.5, 0])); // z = 0.5 * x, x = 0 => z = 0
    const g = new Float32Array(2);
    const r = m.lossAndGrad({ n: 1, inputDim: 1, x: Float32Array.from([0]), labels: { bin: Float32Array.from([1]) }, mask: {} }, { bin: 1 }, g);
    expect(r.lossSums.bin).toBeCloseTo(Math.log(2), 6);
    expect(g[1]).toBeCloseTo(-0.5, 6); // d/d bias = sigmoid(0) - 1
    m.dispose();
  });

  it('is numerically stable for huge logits', () => {
    const spec: ModelSpec = { inputDim: 1, trunk: [], activation: 'linear', tasks: [{ name: 'bin', type: 'binary' }, { name: 'cls', type: 'multiclass:2' }] };
    const m = MtlModel.create(spec, 1);
    m.setParams(Float32Array.from([1000, 0, 1000, -1000, 0, 0]));
    const g = new Float32Array(6);
    const batch = { n: 1, inputDim: 1, x: Float32Array.from([1]), labels: { bin: Float32Array.from([0]), cls: Float32Array.from([1]) }, mask: {} };
    const r = m.lossAndGrad(batch, { bin: 1, cls: 1 }, g);
    expect(r.lossSums.bin).toBeCloseTo(1000, 2);
    expect(r.lossSums.cls).toBeCloseTo(2000, 2);
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    m.dispose();
  });

  it('lossAndGrad with weights w equals sum_t w_t * perTaskGrads_t', () => {
    const m = MtlModel.create(tiny, 5);
    const batch = makeBatch(tiny, 16, 2, 4);
    const w = { reg: 0.25, bin: 2, cls: -0.5 };
    const fused = new Float32Array(m.numParams);
    const a = m.lossAndGrad(batch, w, fused);
    const stacked = new Float32Array(3 * m.numParams);
    const b = m.perTaskGrads(batch, stacked);
    expect(b.counts).toEqual(a.counts);
    for (const t of tiny.tasks) expect(b.lossSums[t.name]).toBeCloseTo(a.lossSums[t.name], 4);
    const combined = new Float32Array(m.numParams);
    tiny.tasks.forEach((t, ti) => {
      for (let i = 0; i < m.numParams; i++) combined[i] += w[t.name as keyof typeof w] * stacked[ti * m.numParams + i];
    });
    expect(maxAbsDiff(fused, combined)).toBeLessThan(1e-5 * Math.max(1, maxAbs(fused)));
    // A task's stacked gradient is zero on the other tasks' heads.
    const reg = m.headRange('reg');
    for (let i = 0; i < reg.size; i++) expect(stacked[m.numParams + reg.offset + i]).toBe(0);
    m.dispose();
  });

  it('sums of gradients over a split batch equal the full-batch gradient (data-parallel parity)', () => {
    const spec: ModelSpec = { inputDim: 6, trunk: [16, 8], activation: 'relu', tasks, head: [4] };
    const m = MtlModel.create(spec, 9);
    const batch = makeBatch(spec, 33, 4, 5);
    const counts = { reg: 0, bin: 0, cls: 0 };
    const full = new Float32Array(m.numParams);
    const r = m.lossAndGrad(batch, { reg: 1, bin: 1, cls: 1 }, full);
    Object.assign(counts, r.counts);
    // The caller divides by the global count: w_t = 1 / globalCount_t.
    const w = Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, 1 / c]));
    const ref = new Float32Array(m.numParams);
    const whole = m.lossAndGrad(batch, w, ref);
    for (const split of [[0, 33], [0, 17, 33], [0, 5, 20, 21, 33]]) {
      const sum = new Float32Array(m.numParams);
      const part = new Float32Array(m.numParams);
      const lossSums = { reg: 0, bin: 0, cls: 0 } as Record<string, number>;
      const cnt = { reg: 0, bin: 0, cls: 0 } as Record<string, number>;
      for (let s = 0; s + 1 < split.length; s++) {
        const res = m.lossAndGrad(sliceBatch(batch, split[s], split[s + 1]), w, part);
        for (let i = 0; i < part.length; i++) sum[i] += part[i];
        for (const t of Object.keys(lossSums)) {
          lossSums[t] += res.lossSums[t];
          cnt[t] += res.counts[t];
        }
      }
      expect(cnt).toEqual(whole.counts);
      for (const t of Object.keys(lossSums)) expect(lossSums[t]).toBeCloseTo(whole.lossSums[t], 4);
      expect(maxAbsDiff(sum, ref)).toBeLessThan(1e-6 * Math.max(1, maxAbs(ref)));
    }
    m.dispose();
  });

  it('handles empty batches, fully masked tasks and tasks absent from the batch', () => {
    const m = MtlModel.create(tiny, 5);
    const g = new Float32Array(m.numParams).fill(9);
    const empty = m.lossAndGrad(makeBatch(tiny, 0, 1), { reg: 1, bin: 1, cls: 1 }, g);
    expect(maxAbs(g)).toBe(0);
    expect(empty.counts).toEqual({ reg: 0, bin: 0, cls: 0 });

    // Parallel variant: only this worker's task is in the batch.
    const b = makeBatch(tiny, 5, 3);
    const only = { ...b, labels: { bin: b.labels.bin }, mask: { bin: b.mask.bin } };
    const r = m.lossAndGrad(only, { bin: 1 }, g);
    expect(r.counts).toEqual({ reg: 0, bin: 5, cls: 0 });
    expect(r.lossSums.reg).toBe(0);
    for (const t of ['reg', 'cls']) {
      const h = m.headRange(t);
      expect(maxAbs(g.subarray(h.offset, h.offset + h.size))).toBe(0);
    }
    expect(maxAbs(g.subarray(0, m.trunkRange().size))).toBeGreaterThan(0);

    const masked = { ...only, mask: { bin: new Float32Array(5) } };
    const z = m.lossAndGrad(masked, { bin: 1 }, g);
    expect(z.counts.bin).toBe(0);
    expect(z.lossSums.bin).toBe(0);
    expect(maxAbs(g)).toBe(0);

    expect(() => m.lossAndGrad(b, { reg: 1, bin: 1 }, g)).toThrow(/cls/);
    expect(() => m.lossAndGrad(b, { reg: 1, bin: 1, cls: 1 }, new Float32Array(3))).toThrow(/gradOut/);
    const bad = { ...b, labels: { ...b.labels, cls: Float32Array.from([0, 1, 2, 3, 0]) } };
    expect(() => m.lossAndGrad(bad, { reg: 1, bin: 1, cls: 1 }, g)).toThrow(/multiclass:3/);
    m.dispose();
  });

  it('does not leak tensors over 50 calls of lossAndGrad, perTaskGrads, predict and setParams', () => {
    const tf = tfRef();
    const m = MtlModel.create(tiny, 5);
    const batch = makeBatch(tiny, 8, 1, 3);
    const g = new Float32Array(m.numParams);
    const s = new Float32Array(3 * m.numParams);
    m.lossAndGrad(batch, { reg: 1, bin: 1, cls: 1 }, g); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) {
      m.lossAndGrad(batch, { reg: 1, bin: 1, cls: 1 }, g);
      m.perTaskGrads(batch, s);
      m.predict(batch.x, batch.n);
      m.setParams(m.getParams());
    }
    expect(tf.memory().numTensors).toBe(before);
    const lm = m.toLayersModel();
    lm.dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before - m.layout.length);
  });
});

describe('mmoe architecture', () => {
  const spec: ModelSpec = { ...tiny, architecture: 'mmoe', experts: 3, trunk: [5, 4] };

  it('lays out the experts as the trunk, then per task its gate (input -> experts) and tower', () => {
    const m = MtlModel.create(spec, 2);
    const names = m.layout.map((e) => e.name);
    expect(names.slice(0, 12)).toEqual(['expert_0_0', 'expert_0_1', 'expert_1_0', 'expert_1_1', 'expert_2_0', 'expert_2_1'].flatMap((n) => [`${n}/kernel`, `${n}/bias`]));
    expect(m.layout.slice(0, 12).every((e) => e.owner === 'trunk')).toBe(true);
    const first = tasks[0]!.name;
    const head = m.layout.filter((e) => e.owner === first);
    expect(head[0]).toMatchObject({ name: `${first}_gate/kernel`, shape: [3, 3] });
    expect(head.map((e) => e.name)).toEqual([`${first}_gate/kernel`, `${first}_gate/bias`, `${first}_head_0/kernel`, `${first}_head_0/bias`, `${first}/kernel`, `${first}/bias`]);
    expect(m.headRange(first)).toEqual({ offset: head[0]!.offset, size: head.reduce((s, e) => s + e.size, 0) });
    // Not a chain: the staged backward hands out the whole vector once.
    expect(m.stagedRanges()).toEqual([[0, m.numParams]]);
    m.dispose();
  });

  it('predicts what the float64 reference computes', () => {
    const m = MtlModel.create(spec, 4);
    const batch = makeBatch(spec, 5, 8);
    const got = m.predict(batch.x, batch.n);
    const p = m.getParams();
    for (let i = 0; i < batch.n; i++) {
      const logits = refLogits(spec, m.layout, p, Array.from(batch.x.subarray(i * 3, i * 3 + 3)));
      const reg = tasks.find((t) => t.type === 'regression')!.name;
      expect(Math.abs(got[reg]![i]! - logits[reg]![0]!)).toBeLessThan(1e-5);
    }
    m.dispose();
  });

  it('refuses a bad expert count', () => {
    expect(() => MtlModel.create({ ...spec, experts: 0 }, 1)).toThrow(/mmoe needs a positive whole number of experts, got 0/);
  });
});

describe('lossAndGradStaged (layer-by-layer backward for overlapping communication)', () => {
  const cases: Array<{ name: string; spec: ModelSpec }> = [
    { name: 'tanh, head hidden layer', spec: tiny },
    { name: 'relu, two trunk layers', spec: { ...tiny, activation: 'relu', trunk: [5, 4] } },
    { name: 'gelu, no head hidden layer', spec: { ...tiny, activation: 'gelu', trunk: [6, 3], head: [] } },
    { name: 'linear, no trunk', spec: { ...tiny, activation: 'linear', trunk: [] } },
  ];
  for (const { name, spec } of cases) {
    it(`equals lossAndGrad and reports every gradient range once, heads first, then trunk layers downwards (${name})`, async () => {
      const tf = tfRef();
      const m = MtlModel.create(spec, 5);
      // Masked rows, and a task absent from the batch (its head gradient must stay zero).
      const full = makeBatch(spec, 9, 13, 3);
      const batch = { ...full, labels: { reg: full.labels.reg, cls: full.labels.cls } };
      const w = { reg: 0.6, cls: 1.2 };
      const want = new Float32Array(m.numParams);
      const a = m.lossAndGrad(batch, w, want);
      const got = new Float32Array(m.numParams).fill(NaN);
      const ranges: Array<[number, number]> = [];
      const before = tf.memory().numTensors;
      const b = await m.lossAndGradStaged(batch, w, got, (offset, size) => {
        // Final when reported: a copy taken now must equal the end result.
        ranges.push([offset, size]);
        expect(Array.from(got.subarray(offset, offset + size)).every(Number.isFinite)).toBe(true);
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(maxAbsDiff(got, want) / Math.max(1, maxAbs(want))).toBeLessThan(1e-5);
      for (const t of ['reg', 'cls']) expect(b.lossSums[t]).toBeCloseTo(a.lossSums[t], 5);
      expect(b.counts).toEqual(a.counts);
      const bin = m.headRange('bin');
      expect(maxAbs(got.subarray(bin.offset, bin.offset + bin.size))).toBe(0);
      const trunk = m.trunkRange();
      expect(ranges[0]).toEqual([trunk.size, m.numParams - trunk.size]);
      const covered = new Uint8Array(m.numParams);
      for (const [o, s] of ranges) for (let i = o; i < o + s; i++) covered[i]++;
      expect(covered.every((c) => c === 1)).toBe(true);
      const offsets = ranges.map(([o]) => o);
      expect(offsets).toEqual([...offsets].sort((x, y) => y - x));
      expect(ranges).toEqual(m.stagedRanges());
      m.dispose();
    });
  }

  it('reports the same ranges for an empty batch (zeros), so every rank issues the same collectives', async () => {
    const spec: ModelSpec = { ...tiny, inputDim: 150, trunk: [70, 4] };
    const m = MtlModel.create(spec, 5);
    const w = { reg: 1, bin: 1, cls: 1 };
    const full: Array<[number, number]> = [];
    await m.lossAndGradStaged(makeBatch(spec, 4, 1), w, new Float32Array(m.numParams), (o, s) => full.push([o, s]));
    const g = new Float32Array(m.numParams).fill(1);
    const empty: Array<[number, number]> = [];
    await m.lossAndGradStaged(makeBatch(spec, 0, 1), w, g, (o, s) => empty.push([o, s]));
    expect(empty).toEqual(full);
    expect(full.length).toBe(1 + 2); // heads, then one bucket per trunk layer
    expect(maxAbs(g)).toBe(0);
    m.dispose();
  });

  it('hands the loss sums over once, before the first range, on every path (staged, empty batch, whole-vector fallback)', async () => {
    for (const spec of [tiny, { ...tiny, trunk: [] as number[] }]) {
      const m = MtlModel.create(spec, 5);
      const w = { reg: 1, bin: 1, cls: 1 };
      for (const n of [6, 0]) {
        const events: string[] = [];
        let seen: Record<string, number> | undefined;
        const r = await m.lossAndGradStaged(makeBatch(spec, n, 2), w, new Float32Array(m.numParams), () => events.push('range'), (sums) => {
          events.push('losses');
          seen = { ...sums };
        });
        expect(events[0]).toBe('losses');
        expect(events.filter((e) => e === 'losses')).toHaveLength(1);
        expect(events.length).toBeGreaterThan(1);
        expect(seen).toEqual(r.lossSums);
        if (n > 0) expect(Object.values(seen!).some((v) => v > 0)).toBe(true);
      }
      m.dispose();
    }
  });
});
