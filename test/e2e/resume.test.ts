import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalParams, maxAbsDiff, mtl, readJson, readJsonl, tempDir } from './harness';

const run = ['--workers', '2', '--batch-size', '48', '--examples', '1024', '--trunk', '16,16', '--tasks', 'y:regression,z:binary', '--seed', '3', '--backend', 'cpu', '--optimizer', 'adam', '--lr', '0.01'];

describe('checkpoints and resume', () => {
  it('a run resumed from its step-20 checkpoint ends bit-identical to an uninterrupted run', async () => {
    const base = tempDir('resume');
    const straight = join(base, 'straight');
    const split = join(base, 'split');
    const a = await mtl(['train', ...run, '--steps', '40', '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    const b1 = await mtl(['train', ...run, '--steps', '20', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    const b2 = await mtl(['train', '--resume', split, '--steps', '40', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(b2.stderr).toMatch(/resuming at step 20/);

    const s = readJson(join(split, 'summary.json'));
    expect(s.steps).toBe(40);
    expect(s.resumedFrom).toBe(20);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);
    // The metrics file has every step once.
    const steps = readJsonl(join(split, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.step);
    expect(steps).toEqual([...Array(40).keys()]);
  });

  it('with control frames far smaller than a checkpoint (MTL_CONTROL_FRAME_BYTES), checkpoints, the final model and the resume assignment travel in fragments; the resume is bit-identical', async () => {
    const base = tempDir('fragments');
    // A 128-128 trunk over 64 inputs: 25k parameters, a 300 KB checkpoint with Adam; frames of 16 KiB.
    const big = ['--workers', '2', '--batch-size', '48', '--examples', '1024', '--input-dim', '64', '--trunk', '128,128', '--tasks', 'y:regression,z:binary', '--seed', '3', '--backend', 'cpu', '--optimizer', 'adam', '--lr', '0.01'];
    const env = { MTL_CONTROL_FRAME_BYTES: '16384' };
    const straight = join(base, 'straight');
    const a = await mtl(['train', ...big, '--steps', '30', '--out', straight], env);
    expect(a.code, a.stderr).toBe(0);
    const split = join(base, 'split');
    const b1 = await mtl(['train', ...big, '--steps', '15', '--out', split], env);
    expect(b1.code, b1.stderr).toBe(0);
    const ckpt = join(split, 'checkpoints', 'step-15');
    const sizes = ['params.bin', 'optimizer-0.bin', 'optimizer-1.bin'].map((f) => readFileSync(join(ckpt, f)).length);
    // No single frame could have carried them: both ends refuse frames above the limit.
    for (const n of sizes) expect(n).toBeGreaterThan(16384);
    const b2 = await mtl(['train', '--resume', split, '--steps', '30', '--workers', '2'], env);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);
  });

  it('gradnorm: its task weights are kept in the checkpoint, so a resume is bit-identical; a checkpoint without them is refused', async () => {
    const base = tempDir('gradnorm');
    const gn = [...run, '--aggregator', 'gradnorm', '--checkpoint-every', '10'];
    const straight = join(base, 'straight');
    const a = await mtl(['train', ...gn, '--steps', '40', '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    const split = join(base, 'split');
    const b1 = await mtl(['train', ...gn, '--steps', '20', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    const saved = readJson(join(split, 'checkpoints', 'step-20', 'aggregator.json'));
    expect(saved.aggregator).toBe('gradnorm');
    expect(saved.state).toHaveLength(4); // two weights, two first-step losses
    expect(saved.state[0] + saved.state[1]).toBeCloseTo(2, 12);
    expect(saved.state[0]).not.toBe(1);
    const b2 = await mtl(['train', '--resume', split, '--steps', '40', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);
    // Every step's weights are in metrics.jsonl (all 1 at the first step, summing to T after) and on the run's page.
    const weights = readJsonl(join(straight, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.taskWeights as Record<string, number>);
    expect(weights).toHaveLength(40);
    expect(weights[0]).toEqual({ y: 1, z: 1 });
    expect(weights[39]!.y).not.toBe(1);
    for (const w of weights) expect(w.y! + w.z!).toBeCloseTo(2, 9);
    expect(readJsonl(join(split, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.taskWeights)).toEqual(weights);
    expect(readFileSync(join(straight, 'report.html'), 'utf8')).toContain('Task weights vs step');
    // Without its state the continuation would differ, so a checkpoint that lost it is refused.
    const lost = join(base, 'lost');
    const c1 = await mtl(['train', ...gn, '--steps', '20', '--out', lost]);
    expect(c1.code, c1.stderr).toBe(0);
    rmSync(join(lost, 'checkpoints', 'step-20', 'aggregator.json'));
    const c2 = await mtl(['train', '--resume', lost, '--steps', '40', '--workers', '2']);
    expect(c2.code).not.toBe(0);
    expect(c2.stderr).toMatch(/aggregator gradnorm keeps state in its checkpoints, and this checkpoint \(after 20 steps\) has none/);
  });

  it('gradvac: its cosine targets are kept in the checkpoint, so a resume is bit-identical; a checkpoint without them, or with another aggregator\'s, is refused', async () => {
    const base = tempDir('gradvac');
    const gv = [...run, '--aggregator', 'gradvac', '--checkpoint-every', '10'];
    const straight = join(base, 'straight');
    const a = await mtl(['train', ...gv, '--steps', '40', '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    const split = join(base, 'split');
    const b1 = await mtl(['train', ...gv, '--steps', '20', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    const file = join(split, 'checkpoints', 'step-20', 'aggregator.json');
    const saved = readJson(file);
    expect(saved.aggregator).toBe('gradvac');
    expect(saved.state).toHaveLength(4); // phi_hat, 2 x 2
    expect(saved.state[1]).not.toBe(0);
    expect(saved.state[2]).not.toBe(0);
    const b2 = await mtl(['train', '--resume', split, '--steps', '40', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);
    // Every step's weights are in metrics.jsonl, the same after the resume; the update is not equal weighting's.
    const weights = (dir: string) => readJsonl(join(dir, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.taskWeights as Record<string, number>);
    expect(weights(straight)).toHaveLength(40);
    expect(weights(split)).toEqual(weights(straight));
    expect(weights(straight).some((w) => w.y !== 1 || w.z !== 1)).toBe(true);
    // Without its state the continuation would differ, so a checkpoint that lost it is refused ...
    const lost = join(base, 'lost');
    const c1 = await mtl(['train', ...gv, '--steps', '20', '--out', lost]);
    expect(c1.code, c1.stderr).toBe(0);
    const lostFile = join(lost, 'checkpoints', 'step-20', 'aggregator.json');
    const kept = readFileSync(lostFile, 'utf8');
    rmSync(lostFile);
    const c2 = await mtl(['train', '--resume', lost, '--steps', '40', '--workers', '2']);
    expect(c2.code).not.toBe(0);
    expect(c2.stderr).toMatch(/aggregator gradvac keeps state in its checkpoints, and this checkpoint \(after 20 steps\) has none/);
    // ... and so is one holding another aggregator's state (GradNorm's for two tasks also has 4 numbers).
    writeFileSync(lostFile, kept.replace('"gradvac"', '"gradnorm"'));
    const c3 = await mtl(['train', '--resume', lost, '--steps', '40', '--workers', '2']);
    expect(c3.code).not.toBe(0);
    expect(c3.stderr).toMatch(/holds the state of aggregator gradnorm, and this run's aggregator is gradvac/);
  });

  it('dwa: weights that change with the epochs, W=1 and W=2 agree, and a resume mid-epoch is bit-identical', async () => {
    const base = tempDir('dwa');
    // 820 training examples, 48 a step: 17 steps an epoch, so 80 steps cover four epochs and the
    // weights move from the third on; the checkpoint at step 45 falls in the middle of the third.
    const dwa = [...run, '--aggregator', 'dwa', '--dwa-temperature', '2', '--steps', '80'];
    const straight = join(base, 'straight');
    const a = await mtl(['train', ...dwa, '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    expect(readJson(join(straight, 'config.json')).stepsPerEpoch).toBe(17);

    const split = join(base, 'split');
    const b1 = await mtl(['train', ...dwa, '--steps', '45', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    const b2 = await mtl(['train', '--resume', split, '--steps', '80', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);

    const w1 = join(base, 'w1');
    const c = await mtl(['train', ...dwa, '--workers', '1', '--out', w1]);
    expect(c.code, c.stderr).toBe(0);
    expect(maxAbsDiff(finalParams(w1), finalParams(straight))).toBeLessThan(2e-5);

    const equal = join(base, 'equal');
    const d = await mtl(['train', ...run, '--steps', '80', '--out', equal]);
    expect(d.code, d.stderr).toBe(0);
    // Identical through the first two epochs (every weight 1), different after.
    expect(maxAbsDiff(finalParams(equal), finalParams(straight))).toBeGreaterThan(1e-4);
    const losses = (dir: string) => readJsonl(join(dir, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.losses.y);
    expect(losses(equal).slice(0, 35)).toEqual(losses(straight).slice(0, 35));
    expect(losses(equal).slice(40)).not.toEqual(losses(straight).slice(40));
  });

  it('uw: the learned log-scales survive a resume (replayed from metrics.jsonl), W=1 and W=2 agree, and the update differs from equal', async () => {
    const base = tempDir('uw');
    const uw = [...run, '--aggregator', 'uw', '--steps', '60'];
    const straight = join(base, 'straight');
    const a = await mtl(['train', ...uw, '--out', straight]);
    expect(a.code, a.stderr).toBe(0);
    const split = join(base, 'split');
    const b1 = await mtl(['train', ...uw, '--steps', '27', '--out', split]);
    expect(b1.code, b1.stderr).toBe(0);
    const b2 = await mtl(['train', '--resume', split, '--steps', '60', '--workers', '2']);
    expect(b2.code, b2.stderr).toBe(0);
    expect(Buffer.from(finalParams(split).buffer).equals(Buffer.from(finalParams(straight).buffer))).toBe(true);
    const w1 = join(base, 'w1');
    const c = await mtl(['train', ...uw, '--workers', '1', '--out', w1]);
    expect(c.code, c.stderr).toBe(0);
    expect(maxAbsDiff(finalParams(w1), finalParams(straight))).toBeLessThan(2e-5);
    const equal = join(base, 'equal');
    const d = await mtl(['train', ...run, '--steps', '60', '--out', equal]);
    expect(d.code, d.stderr).toBe(0);
    expect(maxAbsDiff(finalParams(equal), finalParams(straight))).toBeGreaterThan(1e-4);
  });

  it('refuses to resume a directory without checkpoints, naming it', async () => {
    const dir = tempDir('noresume');
    const res = await mtl(['coordinator', '--workers', '1', '--resume', dir], { MTL_SECRET: 'x'.repeat(20) });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/--resume .*config\.json/);
  });
});
