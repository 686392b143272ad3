import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSystemHandler, MtlModel, saveLayersModel, selectBackend, tfRef, type ModelSpec } from '../src';
import { makeBatch } from './helpers/reference';

const dir = mkdtempSync(join(tmpdir(), 'mtl-io-'));
beforeAll(async () => {
  await selectBackend('cpu');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TensorFlow.js layers format', () => {
  for (const [activation, architecture] of [['relu', 'hps'], ['gelu', 'hps'], ['elu', 'hps'], ['elu', 'mmoe'], ['tanh', 'cgc'], ['relu', 'ple'], ['tanh', 'dselect-k'], ['relu', 'cross-stitch']] as const) {
    it(`save -> tf.loadLayersModel -> same predictions as MtlModel.predict (${activation}, ${architecture})`, async () => {
      const tf = tfRef();
      const spec: ModelSpec = {
        inputDim: 5,
        trunk: [8, 6],
        activation,
        tasks: [
          { name: 'price', type: 'regression' },
          { name: 'click', type: 'binary' },
          { name: 'genre', type: 'multiclass:4' },
        ],
        head: [3],
        architecture,
        // dselect-k needs a power of two: 4 experts, 3 selectors, a smooth-step of width 2.
        experts: architecture === 'dselect-k' ? 4 : 3,
        taskExperts: 2,
        levels: 3,
        k: 3,
        gamma: 2,
      };
      const m = MtlModel.create(spec, 123);
      const out = join(dir, `${activation}-${architecture}`);
      await saveLayersModel(m, out);
      const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
      expect(json.format).toBe('layers-model');
      expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
      // Same names as the flat layout (the layers format orders them by graph depth instead; a
      // bias-free layer's empty bias entry has no weight there).
      const names = json.weightsManifest[0].weights.map((w: { name: string }) => w.name);
      expect([...names].sort()).toEqual(m.layout.filter((e) => e.size > 0).map((e) => e.name).sort());
      expect(readFileSync(join(out, 'weights.bin')).length).toBe(4 * m.numParams);

      const before = tf.memory().numTensors;
      const lm = await tf.loadLayersModel(fileSystemHandler(out));
      expect(lm.outputNames).toEqual(['price', 'click', 'genre']);
      const { x, n } = makeBatch(spec, 10, 5);
      const expected = m.predict(x, n);
      const input = tf.tensor2d(x, [n, 5]);
      const outs = lm.predict(input) as import('@tensorflow/tfjs').Tensor[];
      input.dispose();
      spec.tasks.forEach((t, i) => {
        const got = outs[i].dataSync();
        expect(got.length).toBe(expected[t.name].length);
        got.forEach((v, j) => expect(Math.abs(v - expected[t.name][j])).toBeLessThan(1e-6));
      });
      outs.forEach((t) => t.dispose());
      lm.dispose();
      expect(tf.memory().numTensors).toBe(before);
      m.dispose();
    });
  }

  it('toLayersModel shares the current weights', () => {
    const tf = tfRef();
    const spec: ModelSpec = { inputDim: 2, trunk: [3], activation: 'tanh', tasks: [{ name: 'y', type: 'regression' }] };
    const m = MtlModel.create(spec, 1);
    m.setParams(m.getParams().map((v, i) => v + i * 0.01));
    const lm = m.toLayersModel();
    const x = Float32Array.from([0.3, -0.7]);
    const y = tf.tidy(() => (lm.predict(tf.tensor2d(x, [1, 2])) as import('@tensorflow/tfjs').Tensor).dataSync()[0]);
    expect(y).toBeCloseTo(m.predict(x, 1).y[0], 6);
    lm.dispose();
    m.dispose();
  });

  it('refuses manifest paths outside the model directory', async () => {
    const tf = tfRef();
    const out = join(dir, 'evil');
    const m = MtlModel.create({ inputDim: 1, trunk: [], activation: 'linear', tasks: [{ name: 'y', type: 'regression' }] }, 1);
    await saveLayersModel(m, out);
    const p = join(out, 'model.json');
    const json = JSON.parse(readFileSync(p, 'utf8'));
    json.weightsManifest[0].paths = ['../../etc/passwd'];
    (await import('node:fs')).writeFileSync(p, JSON.stringify(json));
    await expect(tf.loadLayersModel(fileSystemHandler(out))).rejects.toThrow(/escapes/);
    m.dispose();
  });
});
