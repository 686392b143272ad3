// Run as a child process by the benchmark (node dist/bench/plain-loop.js '<json>'): the baseline a
// TensorFlow.js user would write without the cluster, on the same backend, model and batch:
// variables, a forward pass with tf ops, tf.train.adam (the cluster's default optimizer) and
// optimizer.minimize, the loss read back every step. It also times MtlModel.lossAndGrad alone
// (the cluster's compute phase without the cluster) on the same batch.
import { MtlModel, matMulKernels, selectBackend, type BackendName, type ModelSpec } from '@mtl/mtl';
import { REF } from './python';
import { refFlopsPerExample } from './training';

type TF = Awaited<ReturnType<typeof selectBackend>>['tf'];
type Tensor = ReturnType<TF['tensor']>;

export interface PlainLoopOptions {
  backend: string;
  steps: number;
  warmup: number;
  /** also time MtlModel.lossAndGrad this many times (0 = skip) */
  gradSteps: number;
}

export interface PlainLoopResult {
  backend: string;
  stockMatMul: boolean;
  /** How the products ran (matMulKernels of @mtl/mtl), e.g. "native sgemm (avx2+fma 6x16)". */
  kernels: string;
  stepMs: number;
  stepMsMin: number;
  samplesPerSec: number;
  gflops: number;
  lossAndGradMs?: number;
  lossAndGradGflops?: number;
  tensorsStart: number;
  tensorsEnd: number;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function plainLoop(o: PlainLoopOptions): Promise<PlainLoopResult> {
  const { tf, backend } = await selectBackend(o.backend as BackendName);
  const B = REF.perWorkerBatch;
  const D = REF.inputDim;
  const r = lcg(7);
  const x = Float32Array.from({ length: B * D }, r);
  const ys = Array.from({ length: REF.tasks }, () => Float32Array.from({ length: B }, r));
  const flops = refFlopsPerExample() * B;

  // Plain tfjs: dense layers as matMul + bias + relu, one MSE per head, Adam.
  const dims = [D, ...REF.trunk];
  const glorot = (i: number, o: number) => tf.variable(tf.randomUniform([i, o], -Math.sqrt(6 / (i + o)), Math.sqrt(6 / (i + o)), 'float32', 1));
  const trunk = REF.trunk.map((h, i) => ({ w: glorot(dims[i], h), b: tf.variable(tf.zeros([h])) }));
  const width = REF.trunk[REF.trunk.length - 1];
  const heads = ys.map(() => ({ w: glorot(width, 1), b: tf.variable(tf.zeros([1])) }));
  const opt = tf.train.adam(0.003);
  const tensorsStart = tf.memory().numTensors;
  const step = (): number => {
    const cost = tf.tidy(() => {
      const xt = tf.tensor2d(x, [B, D]);
      const yt = ys.map((y) => tf.tensor2d(y, [B, 1]));
      return opt.minimize(() => {
        let h: Tensor = xt;
        for (const l of trunk) h = tf.relu(tf.add(tf.matMul(h, l.w), l.b));
        const losses = heads.map((hd, t) => tf.losses.meanSquaredError(yt[t], tf.add(tf.matMul(h, hd.w), hd.b)));
        return tf.addN(losses) as ReturnType<TF['scalar']>;
      }, true)!;
    });
    const v = (cost.dataSync() as Float32Array)[0];
    cost.dispose();
    return v;
  };
  for (let i = 0; i < o.warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const t = performance.now();
    step();
    times.push(performance.now() - t);
  }
  const tensorsEnd = tf.memory().numTensors;
  const stepMs = median(times);
  const result: PlainLoopResult = {
    backend,
    stockMatMul: process.env.MTL_WASM_STOCK_MATMUL === '1',
    kernels: matMulKernels(tf),
    stepMs,
    stepMsMin: Math.min(...times),
    samplesPerSec: B / (stepMs / 1000),
    gflops: flops / (stepMs / 1000) / 1e9,
    tensorsStart,
    tensorsEnd,
  };

  if (o.gradSteps > 0) {
    const spec: ModelSpec = {
      inputDim: D,
      trunk: [...REF.trunk],
      activation: 'relu',
      tasks: ys.map((_, i) => ({ name: `t${i}`, type: 'regression' as const })),
    };
    const model = MtlModel.create(spec, 1);
    const labels: Record<string, Float32Array> = {};
    const weights: Record<string, number> = {};
    ys.forEach((y, i) => {
      labels[`t${i}`] = y;
      weights[`t${i}`] = 1;
    });
    const batch = { n: B, inputDim: D, x, labels, mask: {} };
    const g = new Float32Array(model.numParams);
    for (let i = 0; i < Math.min(2, o.warmup); i++) model.lossAndGrad(batch, weights, g);
    const gt: number[] = [];
    for (let i = 0; i < o.gradSteps; i++) {
      const t = performance.now();
      model.lossAndGrad(batch, weights, g);
      gt.push(performance.now() - t);
    }
    model.dispose();
    result.lossAndGradMs = median(gt);
    result.lossAndGradGflops = flops / (result.lossAndGradMs / 1000) / 1e9;
  }
  return result;
}

if (require.main === module) {
  plainLoop(JSON.parse(process.argv[2] ?? '{}') as PlainLoopOptions)
    .then((r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(`plain loop failed: ${(err as Error)?.stack ?? err}\n`);
      process.exit(1);
    });
}
