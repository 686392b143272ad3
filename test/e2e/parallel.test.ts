import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalParams, maxAbsDiff, mtl, readJson, readJsonl, tempDir } from './harness';

const TOLERANCE = 2e-5; // the same bound as the distributed parity test

describe('parallel variant', () => {
  it('groups of 2 give the same parameters as groups of 1; trunk equal everywhere, heads within their group', async () => {
    const base = tempDir('parallel');
    const runFile = join(base, 'run.yaml');
    // Unequal task datasets, a head optimizer and loss weight of their own, per-task batch sizes.
    writeFileSync(
      runFile,
      [
        'variant: parallel',
        'seed: 11',
        'steps: 30',
        'batchSize: 40',
        'backend: cpu',
        'checksumEvery: 5',
        'model: { trunk: [24, 16] }',
        'optimizer: { name: adam, lr: 0.01 }',
        'data: { source: synthetic, numExamples: 600 }',
        'tasks:',
        '  - { name: price, type: regression, weight: 1, data: { numExamples: 400 } }',
        '  - { name: click, type: binary, weight: 2, batchSize: 30, optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }, data: { numExamples: 1500 } }',
        '',
      ].join('\n'),
    );
    const out2 = join(base, 'w2');
    const out4 = join(base, 'w4');
    const r2 = await mtl(['train', '--config', runFile, '--workers', '2', '--out', out2]);
    expect(r2.code, r2.stderr).toBe(0);
    const r4 = await mtl(['train', '--config', runFile, '--workers', '4', '--out', out4]);
    expect(r4.code, r4.stderr).toBe(0);
    expect(r4.stderr).toMatch(/placement \(task=\[ranks\]\): price=\[0,2\] click=\[1,3\]/);

    const diff = maxAbsDiff(finalParams(out2), finalParams(out4));
    expect(diff).toBeLessThan(TOLERANCE);

    const s4 = readJson(join(out4, 'summary.json'));
    expect(s4.variant).toBe('parallel');
    expect(s4.placement).toEqual({ price: [0, 2], click: [1, 3] });
    expect(readJson(join(out4, 'config.json')).placement).toEqual({ price: [0, 2], click: [1, 3] });
    // Per-task epochs follow each task's own data size: 320 train rows / 40 vs 1200 / 30.
    expect(s4.taskEpochs.price).toBeCloseTo(30 / 8, 5);
    expect(s4.taskEpochs.click).toBeCloseTo(30 / 40, 5);
    // Each rank's last verified checksum: trunk hash (first half) equal on every rank, head hash equal within a group.
    const sum = Object.fromEntries(s4.workers.map((w: any) => [w.rank, w.checksum as string]));
    const trunk = (r: number) => sum[r]!.slice(0, 32);
    const head = (r: number) => sum[r]!.slice(32);
    expect(new Set([0, 1, 2, 3].map(trunk)).size).toBe(1);
    expect(head(0)).toBe(head(2));
    expect(head(1)).toBe(head(3));
    expect(head(0)).not.toBe(head(1));
    // Both tasks learned something and both report validation metrics.
    expect(Object.keys(s4.finalMetrics).sort()).toEqual(['click', 'price']);
    const train = readJsonl(join(out4, 'metrics.jsonl')).filter((l) => l.type === 'train');
    expect(train.length).toBe(30);
    expect(train[29].losses.price).toBeLessThan(train[0].losses.price);
    expect(train[29].losses.click).toBeLessThan(train[0].losses.click);
  });

  it('refuses a placement that cannot work, naming the problem', async () => {
    const few = await mtl(['train', '--variant', 'parallel', '--workers', '1', '--tasks', 'a:regression,b:binary']);
    expect(few.code).toBe(1);
    expect(few.stderr).toMatch(/at least one worker per task: 2 tasks \(a, b\) but 1 worker/);
    const overlap = await mtl(['train', '--variant', 'parallel', '--workers', '3', '--tasks', 'a:regression,b:binary', '--placement', 'a=0,1;b=1,2']);
    expect(overlap.code).toBe(1);
    expect(overlap.stderr).toMatch(/rank 1 is in the groups of both a and b/);
    const missing = await mtl(['train', '--variant', 'parallel', '--workers', '2', '--tasks', 'a:regression,b:binary', '--placement', 'a=0,1']);
    expect(missing.stderr).toMatch(/leaves task b without a group/);
  });
});

// CGC, PLE, DSelect-k and Cross-stitch in the parallel variant: the shared experts (in PLE also
// everything below the last level that feeds the shared gates; in Cross-stitch the columns and the
// units below the last) are the trunk, reduced over every worker; a task's own experts, gates, row of
// the last cross-stitch unit and tower are reduced within its group only, which is right because no
// other task's loss depends on them (packages/mtl/test/architectures.test.ts checks that for every
// architecture).
describe.each([
  ['cgc', 'experts: 2, taskExperts: 2'],
  // tanh, as in the distributed parity test: with relu, Adam's 25 steps amplified the rounding
  // differences of the reductions to 1.0e-5 here (half the bound); with tanh 1.2e-7.
  ['ple', 'experts: 2, taskExperts: 1, levels: 3, activation: tanh'],
  // DSelect-k: the experts are the trunk, a task's gate and tower its own. Cross-stitch: the columns
  // and every unit below the last are the trunk; the last unit's row t and t's tower are t's.
  ['dselect-k', 'experts: 4, k: 2, gamma: 2'],
  ['cross-stitch', 'activation: tanh'],
])('parallel variant with the %s architecture', (arch, fields) => {
  it('groups of 2 give the same parameters as groups of 1; trunk equal everywhere, heads within their group', async () => {
    const base = tempDir(`parallel-${arch}`);
    const runFile = join(base, 'run.yaml');
    writeFileSync(
      runFile,
      [
        'variant: parallel',
        'seed: 13',
        'steps: 25',
        'batchSize: 40',
        'backend: cpu',
        'checksumEvery: 5',
        `model: { trunk: [16, 8], architecture: ${arch}, ${fields} }`,
        'optimizer: { name: adam, lr: 0.01 }',
        'data: { source: synthetic, numExamples: 600 }',
        'tasks:',
        '  - { name: price, type: regression, data: { numExamples: 400 } }',
        '  - { name: click, type: binary, weight: 2, optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }, data: { numExamples: 900 } }',
        '',
      ].join('\n'),
    );
    const out2 = join(base, 'w2');
    const out4 = join(base, 'w4');
    const r2 = await mtl(['train', '--config', runFile, '--workers', '2', '--out', out2]);
    expect(r2.code, r2.stderr).toBe(0);
    const r4 = await mtl(['train', '--config', runFile, '--workers', '4', '--out', out4]);
    expect(r4.code, r4.stderr).toBe(0);
    expect(maxAbsDiff(finalParams(out2), finalParams(out4))).toBeLessThan(TOLERANCE);
    const s4 = readJson(join(out4, 'summary.json'));
    const sum = Object.fromEntries(s4.workers.map((w: any) => [w.rank, w.checksum as string]));
    const trunk = (r: number) => sum[r]!.slice(0, 32);
    const head = (r: number) => sum[r]!.slice(32);
    expect(new Set([0, 1, 2, 3].map(trunk)).size).toBe(1);
    expect(head(0)).toBe(head(2));
    expect(head(1)).toBe(head(3));
    expect(head(0)).not.toBe(head(1));
    const train = readJsonl(join(out4, 'metrics.jsonl')).filter((l) => l.type === 'train');
    expect(train.length).toBe(25);
    expect(train[24].losses.price).toBeLessThan(train[0].losses.price);
    expect(train[24].losses.click).toBeLessThan(train[0].losses.click);
  });
});

describe('parallel variant: checkpoints and resume', () => {
  it('a checkpoint holds every head and its optimizer; resumed with 2 workers it is bit-identical, with 4 (groups of 2) within the parity tolerance', async () => {
    const base = tempDir('parallel-resume');
    const runFile = join(base, 'run.yaml');
    writeFileSync(
      runFile,
      [
        'variant: parallel',
        'seed: 5',
        'batchSize: 40',
        'backend: cpu',
        'model: { trunk: [16] }',
        'optimizer: { name: adam, lr: 0.01 }',
        'data: { source: synthetic, numExamples: 600 }',
        'tasks:',
        '  - { name: price, type: regression }',
        '  - { name: click, type: binary, optimizer: { name: sgd, lr: 0.1, momentum: 0.9 } }',
        '',
      ].join('\n'),
    );
    const straight = join(base, 'straight');
    const a = await mtl(['train', '--config', runFile, '--workers', '2', '--steps', '40', '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    const split = join(base, 'split');
    const b1 = await mtl(['train', '--config', runFile, '--workers', '2', '--steps', '20', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    // Adam's two buffers for the trunk, two for the price head, one (momentum) for the click head.
    expect(readJson(join(split, 'checkpoints', 'step-20', 'state.json')).optimizerBuffers).toBe(5);
    const b2 = await mtl(['train', '--resume', split, '--steps', '40', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);

    const wider = join(base, 'wider');
    const c1 = await mtl(['train', '--config', runFile, '--workers', '2', '--steps', '20', '--out', wider]);
    expect(c1.code, c1.stderr).toBe(0);
    const c2 = await mtl(['train', '--resume', wider, '--steps', '40', '--workers', '4']);
    expect(c2.code, c2.stderr).toBe(0);
    expect(maxAbsDiff(finalParams(wider), finalParams(straight))).toBeLessThan(TOLERANCE);
  });
});
