import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { finalParams, mtl, readJson, readJsonl, tempDir } from './harness';

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

  it('refuses to resume a directory without checkpoints, naming it', async () => {
    const dir = tempDir('noresume');
    const res = await mtl(['coordinator', '--workers', '1', '--resume', dir], { MTL_SECRET: 'x'.repeat(20) });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/--resume .*config\.json/);
  });
});
