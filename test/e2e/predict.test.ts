import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mtl, readJson, readJsonl, tempDir } from './harness';

const common = ['--workers', '2', '--steps', '120', '--batch-size', '64', '--trunk', '32', '--lr', '0.01', '--backend', 'cpu', '--eval-every', '1000'];

describe('mtl predict', () => {
  it("on the run's validation split gives the run's own final validation metrics", async () => {
    const run = join(tempDir('predict'), 'run');
    const t = await mtl(['train', '--out', run, '--examples', '2048', '--tasks', 'price:regression,click:binary,kind:multiclass:3', ...common]);
    expect(t.code, t.stderr).toBe(0);
    const final = readJson(join(run, 'summary.json')).finalMetrics;

    const p = await mtl(['predict', run]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/predictions on the run's validation split/);
    const rows = readJsonl(join(run, 'predictions-val.jsonl'));
    expect(rows.length).toBe(final.price.count);
    expect(rows.map((r) => r.row)).toEqual(rows.map((_, i) => i));
    // Metrics recomputed here from the rows (prediction next to label) equal what the run measured.
    const mse = rows.reduce((a, r) => a + (r.price - r.price_label) ** 2, 0) / rows.length;
    expect(mse).toBeCloseTo(final.price.mse, 5);
    const clickAcc = rows.filter((r) => (r.click >= 0.5 ? 1 : 0) === r.click_label).length / rows.length;
    expect(Math.abs(clickAcc - final.click.accuracy)).toBeLessThanOrEqual(1 / rows.length);
    const kindAcc = rows.filter((r) => r.kind.class === r.kind_label).length / rows.length;
    expect(Math.abs(kindAcc - final.kind.accuracy)).toBeLessThanOrEqual(1 / rows.length);
    for (const r of rows.slice(0, 20)) expect(r.kind.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    expect(p.stdout).toContain(`price: mse=${final.price.mse.toFixed(4)}`);
  });

  it('on a CSV file, with or without labels, and refuses data the model cannot take', async () => {
    const dir = tempDir('predict-csv');
    const lines = ['a,b,c,y'];
    for (let i = 0; i < 600; i++) {
      const a = Math.sin(i), b = Math.cos(i * 0.7), c = (i % 13) / 13;
      lines.push(`${a},${b},${c},${(2 * a - b + c).toFixed(6)}`);
    }
    const data = join(dir, 'train.csv');
    writeFileSync(data, lines.join('\n') + '\n');
    const run = join(dir, 'run');
    const t = await mtl(['train', '--out', run, '--data', data, '--tasks', 'y:regression', ...common]);
    expect(t.code, t.stderr).toBe(0);

    const labelled = join(dir, 'labelled.csv');
    const p1 = await mtl(['predict', run, '--data', data, '--out', labelled]);
    expect(p1.code, p1.stderr).toBe(0);
    expect(p1.stdout).toMatch(/600 predictions on .*train\.csv\n  y: mse=[\d.]+ mae=[\d.]+ r2=[\d.-]+ count=600/);
    // The same features without the label column: predictions only, the same values.
    const unlabelledData = join(dir, 'features.csv');
    writeFileSync(unlabelledData, lines.map((l) => l.split(',').slice(0, 3).join(',')).join('\n') + '\n');
    const unlabelled = join(dir, 'unlabelled.csv');
    const p2 = await mtl(['predict', run, '--data', unlabelledData, '--out', unlabelled]);
    expect(p2.code, p2.stderr).toBe(0);
    expect(p2.stdout).toMatch(/no labels for y: predictions only/);
    const a = readFileSync(labelled, 'utf8').trim().split('\n');
    expect(a[0]).toBe('row,y');
    expect(a.length).toBe(601);
    expect(readFileSync(unlabelled, 'utf8')).toBe(readFileSync(labelled, 'utf8'));

    const narrow = join(dir, 'narrow.csv');
    writeFileSync(narrow, 'a,b\n1,2\n');
    const bad = await mtl(['predict', run, '--data', narrow]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/narrow\.csv has 2 features per example, the model takes 3/);
    const notRun = await mtl(['predict', dir]);
    expect(notRun.code).toBe(1);
    expect(notRun.stderr).toMatch(/is not a run directory: .*config\.json is missing/);
    const badOut = await mtl(['predict', run, '--out', join(dir, 'p.txt')]);
    expect(badOut.code).not.toBe(0);
    expect(badOut.stderr).toMatch(/--out must end in \.jsonl or \.csv/);
  });
});
