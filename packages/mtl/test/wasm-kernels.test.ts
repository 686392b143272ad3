import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@tensorflow/tfjs';
import { selectBackend, tfRef } from '../src';
import { loadNative } from '@mtl/native';
import { fastWasmMatMulRegistered, registerFastWasmMatMul, unregisterFastWasmMatMul, wasmMatMulPath, wasmMatMulStats } from '../src/ops/wasm-kernels';
import { lcg, maxAbsDiff } from './helpers/reference';

/** Reference product op(a) @ op(b) for rank-2 or rank-3 (same batch) row-major arrays. */
function refMatMul(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean): Float32Array {
  const batch = aShape.length === 3 ? aShape[0] : 1;
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const m = tA ? ac : ar;
  const k = tA ? ar : ac;
  const n = tB ? br : bc;
  const out = new Float32Array(batch * m * n);
  for (let s = 0; s < batch; s++) {
    const ao = s * ar * ac;
    const bo = s * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = tA ? a[ao + p * ac + i] : a[ao + i * ac + p];
          const bv = tB ? b[bo + j * bc + p] : b[bo + p * bc + j];
          acc += av * bv;
        }
        out[s * m * n + i * n + j] = acc;
      }
    }
  }
  return out;
}

function rand(r: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => r() - 0.5);
}

let backend = '';

beforeAll(async () => {
  backend = (await selectBackend('wasm')).backend;
});

afterAll(async () => {
  await selectBackend('cpu');
});

describe('selectBackend("wasm")', () => {
  it('registers the fast kernels, on the native GEMM where the addon is built', () => {
    expect(backend).toBe('wasm');
    expect(fastWasmMatMulRegistered()).toBe(true);
    expect(wasmMatMulPath()).toBe(loadNative() ? 'native' : 'wasm');
  });
});

// Every case runs on both paths: the native GEMM (when the addon is built; its own package's tests
// fail CI when it is not) and the wasm fallback (explicit transposes, then XNNPACK).
describe.each(['native', 'wasm'] as const)('fast matMul kernels, %s path', (path) => {
  const skip = path === 'native' && !loadNative();
  beforeAll(() => {
    if (skip) return;
    const tf = tfRef();
    unregisterFastWasmMatMul(tf);
    registerFastWasmMatMul(tf, path === 'native' ? loadNative() : null);
    expect(wasmMatMulPath()).toBe(path);
  });
  afterAll(() => {
    const tf = tfRef();
    unregisterFastWasmMatMul(tf);
    registerFastWasmMatMul(tf, loadNative());
  });

  // Shapes chosen so that both the direct (transpose the operand) and the swapped
  // ((b^T a^T)^T) paths are taken: a wide square right operand favours the swap.
  const cases: Array<[string, number[], number[], boolean, boolean]> = [
    ['plain', [5, 7], [7, 3], false, false],
    ['transposeA', [7, 5], [7, 3], true, false],
    ['transposeB (direct)', [9, 4], [3, 4], false, true],
    ['transposeB (swapped)', [3, 40], [40, 40], false, true],
    ['transposeA (head gradient)', [16, 40], [16, 1], true, false],
    ['both', [7, 5], [3, 7], true, true],
    ['both (swapped)', [40, 2], [40, 40], true, true],
    ['batched transposeB', [2, 3, 40], [2, 40, 40], false, true],
    ['batched transposeA', [2, 7, 5], [2, 7, 3], true, false],
  ];

  it.skipIf(skip).each(cases)('BatchMatMul %s matches the reference and leaks nothing', (_name, aShape, bShape, tA, tB) => {
    const tf = tfRef();
    const r = lcg(aShape.length * 31 + bShape[bShape.length - 1]);
    const av = rand(r, aShape.reduce((x, y) => x * y, 1));
    const bv = rand(r, bShape.reduce((x, y) => x * y, 1));
    const a = tf.tensor(av, aShape);
    const b = tf.tensor(bv, bShape);
    const before = tf.memory().numTensors;
    const bytesBefore = tf.memory().numBytes;
    const stats = { ...wasmMatMulStats };
    const c = tf.matMul(a, b, tA, tB);
    const got = c.dataSync() as Float32Array;
    const want = refMatMul(av, aShape, bv, bShape, tA, tB);
    expect(c.shape).toEqual([...aShape.slice(0, -2), tA ? aShape[aShape.length - 1] : aShape[aShape.length - 2], tB ? bShape[bShape.length - 2] : bShape[bShape.length - 1]]);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    if (path === 'native') expect(wasmMatMulStats.native).toBe(stats.native + 1);
    else if (tA || tB) expect(wasmMatMulStats.transposed).toBe(stats.transposed + 1);
    else expect(wasmMatMulStats.direct).toBe(stats.direct + 1);
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytesBefore);
    a.dispose();
    b.dispose();
  });

  it.skipIf(path !== 'wasm')('takes the swapped path for dy @ W^T with a large square W', () => {
    const tf = tfRef();
    const before = wasmMatMulStats.swapped;
    tf.tidy(() => tf.matMul(tf.ones([4, 64]), tf.ones([64, 64]), false, true).dataSync());
    expect(wasmMatMulStats.swapped).toBe(before + 1);
  });

  it.skipIf(skip)('_FusedMatMul with bias and relu matches the reference for every transpose combination', () => {
    const tf = tfRef();
    const r = lcg(5);
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const m = 6;
      const k = 5;
      const n = 4;
      const aShape = tA ? [k, m] : [m, k];
      const bShape = tB ? [n, k] : [k, n];
      const av = rand(r, m * k);
      const bv = rand(r, k * n);
      const biasv = rand(r, n);
      const before = tf.memory().numTensors;
      const got = tf.tidy(() => {
        const out = tf.fused.matMul({
          a: tf.tensor2d(av, aShape as [number, number]),
          b: tf.tensor2d(bv, bShape as [number, number]),
          transposeA: tA,
          transposeB: tB,
          bias: tf.tensor1d(biasv),
          activation: 'relu',
        });
        return out.dataSync() as Float32Array;
      });
      expect(tf.memory().numTensors).toBe(before);
      const want = refMatMul(av, aShape, bv, bShape, tA, tB).map((v, i) => Math.max(0, v + biasv[i % n]));
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    }
  });

  it.skipIf(skip)('broadcasts an unbatched right operand over a batched left one', () => {
    const tf = tfRef();
    const r = lcg(17);
    const av = rand(r, 2 * 3 * 5);
    const bv = rand(r, 5 * 4);
    const got = tf.tidy(() => tf.matMul(tf.tensor3d(av, [2, 3, 5]), tf.tensor2d(bv, [5, 4])).dataSync() as Float32Array);
    const want = new Float32Array(2 * 3 * 4);
    for (let s = 0; s < 2; s++) want.set(refMatMul(av.subarray(s * 15, (s + 1) * 15), [3, 5], bv, [5, 4], false, false), s * 12);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
  });

  it.skipIf(skip)('an activation the native GEMM does not fuse (sigmoid) takes the wasm path and stays correct', () => {
    const tf = tfRef();
    const r = lcg(23);
    const av = rand(r, 6 * 5);
    const bv = rand(r, 5 * 4);
    const biasv = rand(r, 4);
    const stats = { ...wasmMatMulStats };
    const got = tf.tidy(() =>
      tf.fused.matMul({ a: tf.tensor2d(av, [6, 5]), b: tf.tensor2d(bv, [5, 4]), bias: tf.tensor1d(biasv), activation: 'sigmoid' }).dataSync() as Float32Array,
    );
    const want = refMatMul(av, [6, 5], bv, [5, 4], false, false).map((v, i) => 1 / (1 + Math.exp(-(v + biasv[i % 4]))));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    expect(wasmMatMulStats.native).toBe(stats.native);
  });

  it.skipIf(skip)('gives the gradients of a dense layer (x @ W) as the reference', () => {
    const tf = tfRef();
    const r = lcg(11);
    const [m, k, n] = [8, 48, 48];
    const xv = rand(r, m * k);
    const wv = rand(r, k * n);
    const dyv = rand(r, m * n);
    const x = tf.tensor2d(xv, [m, k]);
    const w = tf.tensor2d(wv, [k, n]);
    const dy = tf.tensor2d(dyv, [m, n]);
    const [dx, dw] = tf.grads((p: Tensor, q: Tensor) => tf.matMul(p, q))([x, w], dy);
    expect(maxAbsDiff(dx.dataSync() as Float32Array, refMatMul(dyv, [m, n], wv, [k, n], false, true))).toBeLessThan(1e-5);
    expect(maxAbsDiff(dw.dataSync() as Float32Array, refMatMul(xv, [m, k], dyv, [m, n], true, false))).toBeLessThan(1e-5);
    [x, w, dy, dx, dw].forEach((t) => t.dispose());
  });
});

describe('MtlModel on wasm', () => {
  it('lossAndGradStaged (gradients read from the wasm heap) equals lossAndGrad', async () => {
    const { MtlModel } = await import('../src');
    const spec = { inputDim: 24, trunk: [32, 16], activation: 'relu' as const, tasks: [{ name: 'a', type: 'regression' as const }, { name: 'b', type: 'binary' as const }] };
    const m = MtlModel.create(spec, 3);
    const r = lcg(29);
    const n = 10;
    const batch = { n, inputDim: 24, x: rand(r, n * 24), labels: { a: rand(r, n), b: Float32Array.from({ length: n }, (_, i) => i % 2) }, mask: {} };
    const want = new Float32Array(m.numParams);
    m.lossAndGrad(batch, { a: 0.5, b: 2 }, want);
    const got = new Float32Array(m.numParams);
    await m.lossAndGradStaged(batch, { a: 0.5, b: 2 }, got, () => {});
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(1e-3);
    m.dispose();
  });
});
