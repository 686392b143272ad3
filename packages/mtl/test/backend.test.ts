import { describe, expect, it } from 'vitest';
import { BackendError, MtlModel, selectBackend, tfRef, type ModelSpec } from '../src';
import { makeBatch, maxAbs, maxAbsDiff } from './helpers/reference';

const spec: ModelSpec = {
  inputDim: 4,
  trunk: [8],
  activation: 'gelu',
  tasks: [
    { name: 'r', type: 'regression' },
    { name: 'b', type: 'binary' },
    { name: 'c', type: 'multiclass:3' },
  ],
};

function gradOn(): { g: Float32Array; pred: Float32Array } {
  const m = MtlModel.create(spec, 17);
  const batch = makeBatch(spec, 12, 3, 4);
  const g = new Float32Array(m.numParams);
  m.lossAndGrad(batch, { r: 1, b: 1, c: 1 }, g);
  const pred = m.predict(batch.x, batch.n).c;
  m.dispose();
  return { g, pred };
}

describe('selectBackend', () => {
  it('native backends that are not installed give a BackendError naming the install command', async () => {
    await expect(selectBackend('node')).rejects.toThrow(BackendError);
    await expect(selectBackend('node')).rejects.toThrow('npm install @tensorflow/tfjs-node');
    await expect(selectBackend('node-gpu')).rejects.toThrow('npm install @tensorflow/tfjs-node-gpu');
    await expect(selectBackend('bogus' as 'cpu')).rejects.toThrow(/bogus/);
  });

  it('cpu and wasm work and agree; auto picks wasm here', async () => {
    const cpu = await selectBackend('cpu');
    expect(cpu.backend).toBe('cpu');
    expect(cpu.tf.getBackend()).toBe('cpu');
    expect(cpu.tf).toBe(tfRef());
    const onCpu = gradOn();

    const wasm = await selectBackend('wasm');
    expect(wasm.backend).toBe('wasm');
    expect(wasm.tf.getBackend()).toBe('wasm');
    const before = wasm.tf.memory().numTensors;
    const onWasm = gradOn();
    expect(wasm.tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(onCpu.g, onWasm.g)).toBeLessThan(1e-5 * Math.max(1, maxAbs(onCpu.g)));
    expect(maxAbsDiff(onCpu.pred, onWasm.pred)).toBeLessThan(1e-6);

    // On both, the model keeps its own values: the array handed to setParams can change after.
    for (const name of ['cpu', 'wasm'] as const) {
      await selectBackend(name);
      const m = MtlModel.create(spec, 3);
      const p = Float32Array.from({ length: m.numParams }, (_, i) => Math.sin(i) * 0.1);
      m.setParams(p);
      const x = makeBatch(spec, 2, 1, 4).x;
      const pred = m.predict(x, 2).r;
      const kept = p.slice();
      p.fill(5);
      expect(m.getParams(), name).toEqual(kept);
      expect(m.predict(x, 2).r, name).toEqual(pred);
      m.dispose();
    }

    await selectBackend('cpu');
    const auto = await selectBackend('auto');
    expect(auto.backend).toBe('wasm');
    expect(auto.tf.getBackend()).toBe('wasm');
  });
});
