import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { finalParams, maxAbsDiff, mtl, readJson, readJsonl, tempDir } from './harness';

/**
 * The core promise: with the same seed and global batch size, 1, 2 and 3 workers end with the same
 * parameters, up to float summation order. The batch (50) is not divisible by 3, one task has missing
 * labels, and the run crosses an epoch boundary.
 */
// Max |difference| of any parameter after 30 steps (parameters are O(0.1..1)). Measured: 6e-8 (Adam)
// and 1.2e-7 (SGD), a few float32 ulps from the different summation order of the ring.
const TOLERANCE = 2e-5;

const common = [
  '--steps', '30', '--batch-size', '50', '--examples', '800', '--seed', '7',
  '--tasks', 'reg:regression,bin:binary,cls:multiclass:4', '--missing-rate', '0.2',
  '--trunk', '24,16', '--checksum-every', '5', '--backend', 'cpu', '--eval-every', '15',
];

describe.each([
  ['sgd', ['--optimizer', 'sgd', '--lr', '0.05', '--momentum', '0.9']],
  ['adam', ['--optimizer', 'adam', '--lr', '0.01']],
])('data-parallel parity with %s', (name, optArgs) => {
  it(`W = 1, 2, 3 give the same parameters within ${TOLERANCE}`, async () => {
    const base = tempDir(`parity-${name}`);
    const params: Float32Array[] = [];
    for (const w of [1, 2, 3]) {
      const out = join(base, `w${w}`);
      const res = await mtl(['train', '--workers', String(w), '--out', out, ...common, ...optArgs]);
      expect(res.code, res.stderr).toBe(0);
      expect(readJson(join(out, 'summary.json')).world).toBe(w);
      params.push(finalParams(out));
    }
    // Training moved the parameters (the comparison is not between two initial states).
    const init = await initialParams(base);
    expect(maxAbsDiff(params[0]!, init)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(params[0]!, params[1]!)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(params[0]!, params[2]!)).toBeLessThan(TOLERANCE);
    // Validation metrics are computed over the whole set and do not depend on W either.
    const m1 = readJson(join(base, 'w1', 'summary.json')).finalMetrics;
    const m3 = readJson(join(base, 'w3', 'summary.json')).finalMetrics;
    expect(m3.cls.accuracy).toBeCloseTo(m1.cls.accuracy, 4);
    expect(m3.reg.mse).toBeCloseTo(m1.reg.mse, 4);
  });
});

/**
 * The same run as base/w2 with equal weighting: its final parameters must differ from `w2Params`;
 * returns base/w2's bytes sent a step over the equal run's.
 */
async function againstEqual(base: string, w2Params: Float32Array, args: string[]): Promise<number> {
  const equal = join(base, 'equal');
  const e = await mtl(['train', '--workers', '2', '--out', equal, ...args]);
  expect(e.code, e.stderr).toBe(0);
  expect(maxAbsDiff(w2Params, finalParams(equal))).toBeGreaterThan(1e-3);
  const bytes = (dir: string) => readJson(join(dir, 'summary.json')).bytesSentPerStep as number;
  return bytes(join(base, 'w2')) / bytes(equal);
}

async function initialParams(base: string): Promise<Float32Array> {
  const out = join(base, 'init');
  const res = await mtl(['train', '--workers', '1', '--out', out, ...common, '--steps', '0']);
  expect(res.code, res.stderr).toBe(0);
  return finalParams(out);
}

describe('a rank with an empty share of the batch', () => {
  // Batch 2 over 3 workers: rank 2 never has an example. Its gradient buckets must still match the
  // other ranks' collectives one for one (same ranges, zeros), and the result must equal W=1's.
  it('trains in step with the others and matches W = 1', async () => {
    const base = tempDir('parity-empty-rank');
    const args = ['--steps', '8', '--batch-size', '2', '--examples', '200', '--seed', '3', '--trunk', '12,8', '--backend', 'cpu', '--optimizer', 'adam', '--lr', '0.01'];
    const params: Float32Array[] = [];
    for (const w of [1, 3]) {
      const out = join(base, `w${w}`);
      const res = await mtl(['train', '--workers', String(w), '--out', out, ...args]);
      expect(res.code, res.stderr).toBe(0);
      params.push(finalParams(out));
    }
    expect(maxAbsDiff(params[0]!, params[1]!)).toBeLessThan(TOLERANCE);
  });
});

describe.each([['pcgrad'], ['mgda'], ['cagrad'], ['gradnorm'], ['imtl'], ['aligned'], ['gradvac'], ['gls'], ['nash'], ['fairgrad']])('stacked aggregator (%s) stays exact when distributed', (method) => {
  it('W = 1, 2, 3 give the same parameters; the T task gradients travel (T times the bytes); the update differs from equal weighting', async () => {
    const base = tempDir(`parity-${method}`);
    const args = [...common, '--optimizer', 'adam', '--lr', '0.01'];
    const params: Float32Array[] = [];
    for (const w of [1, 2, 3]) {
      const out = join(base, `w${w}`);
      const res = await mtl(['train', '--workers', String(w), '--out', out, '--aggregator', method, ...args]);
      expect(res.code, res.stderr).toBe(0);
      params.push(finalParams(out));
    }
    expect(maxAbsDiff(params[0]!, params[1]!)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(params[0]!, params[2]!)).toBeLessThan(TOLERANCE);
    // Three tasks: the stacked all-reduce carries three gradients where equal weighting carries one.
    const ratio = await againstEqual(base, params[1]!, args);
    expect(ratio).toBeGreaterThan(2.8);
    expect(ratio).toBeLessThan(3.2);
  });
});

describe('random loss weighting (rlw) stays exact when distributed', () => {
  it('W = 1, 2, 3 give the same parameters and draw the same weights at every step; one fused all-reduce, as equal weighting', async () => {
    const base = tempDir('parity-rlw');
    const args = [...common, '--optimizer', 'adam', '--lr', '0.01'];
    const params: Float32Array[] = [];
    const weights: Array<Array<Record<string, number>>> = [];
    for (const w of [1, 2, 3]) {
      const out = join(base, `w${w}`);
      const res = await mtl(['train', '--workers', String(w), '--out', out, '--aggregator', 'rlw', ...args]);
      expect(res.code, res.stderr).toBe(0);
      params.push(finalParams(out));
      weights.push(readJsonl(join(out, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.taskWeights as Record<string, number>));
    }
    expect(maxAbsDiff(params[0]!, params[1]!)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(params[0]!, params[2]!)).toBeLessThan(TOLERANCE);
    // The weights depend on (seed, step) only: the same bits for every W, new ones every step, summing to T.
    expect(weights[0]).toHaveLength(30);
    expect(weights[1]).toEqual(weights[0]);
    expect(weights[2]).toEqual(weights[0]);
    expect(new Set(weights[0]!.map((w) => JSON.stringify(w))).size).toBe(30);
    for (const w of weights[0]!) expect(w.reg! + w.bin! + w.cls!).toBeCloseTo(3, 9);
    // Linear: one fused gradient a step, the bytes of equal weighting.
    const ratio = await againstEqual(base, params[1]!, args);
    expect(ratio).toBeGreaterThan(0.95);
    expect(ratio).toBeLessThan(1.05);
  });
});

describe.each([
  ['mmoe', ['--experts', '3']],
  // CGC and PLE (Tang et al., RecSys 2020): shared and per-task experts; PLE stacks three levels.
  ['cgc', ['--experts', '2', '--task-experts', '2']],
  // tanh: with relu, one unit of a last-level expert gets near-zero gradients here (Adam's second
  // moment down to 5e-12), and Adam turns their rounding noise into 3.8e-5 after 30 steps, over the
  // bound; the gradients themselves agree (SGD with relu: 6e-8). With tanh: 1.5e-7.
  ['ple', ['--experts', '2', '--task-experts', '1', '--levels', '3', '--activation', 'tanh']],
  // DSelect-k (Hazimeh et al., NeurIPS 2021): MMoE's experts, a gate per task selecting k of them.
  ['dselect-k', ['--experts', '4', '--dselect-k', '2', '--dselect-gamma', '2']],
  // Cross-stitch networks (Misra et al., CVPR 2016): a column per task, mixed after each hidden layer.
  ['cross-stitch', []],
])('%s architecture stays exact when distributed', (arch, archArgs) => {
  it('W = 1, 2, 3 give the same parameters; the saved model (experts, gates, towers) predicts the final metrics', async () => {
    const base = tempDir(`parity-${arch}`);
    const args = [...common, '--optimizer', 'adam', '--lr', '0.01', '--architecture', arch, ...archArgs];
    const params: Float32Array[] = [];
    for (const w of [1, 2, 3]) {
      const out = join(base, `w${w}`);
      const res = await mtl(['train', '--workers', String(w), '--out', out, ...args]);
      expect(res.code, res.stderr).toBe(0);
      params.push(finalParams(out));
    }
    expect(maxAbsDiff(params[0]!, params[1]!)).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(params[0]!, params[2]!)).toBeLessThan(TOLERANCE);
    const run = join(base, 'w2');
    const p = await mtl(['predict', run]);
    expect(p.code, p.stderr).toBe(0);
    const final = readJson(join(run, 'summary.json')).finalMetrics;
    expect(p.stdout).toContain(`reg: mse=${final.reg.mse.toFixed(4)}`);
    expect(p.stdout).toContain(`cls: accuracy=${final.cls.accuracy.toFixed(4)}`);
  });
});
