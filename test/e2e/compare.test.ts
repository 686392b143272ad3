import { describe, it, expect, beforeAll } from 'vitest';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mtl, tempDir, readJson, readJsonl } from './harness';

// `mtl compare` on two small real runs: the table and the report carry the numbers the runs measured.

const WORKLOAD = ['--workers', '2', '--steps', '30', '--backend', 'cpu', '--examples', '1024', '--batch-size', '64', '--eval-every', '10'];

// The table's number formats (kept in step with packages/cli/src/compare/analyze.ts).
const metric = (v: number) => (v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(3) : v.toFixed(4));
const thousands = (v: number) => Math.round(v).toLocaleString('en-US');
const seconds = (v: number) => v.toFixed(2);

/** The cells of the table row whose measure starts with `label` (best markers removed). */
function tableRow(stdout: string, label: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith(label));
  if (!line) throw new Error(`no table row '${label}' in:\n${stdout}`);
  const cells = line.slice(label.length).trim().split(/\s{2,}/).map((c) => c.replace(/ \*$/, '').trim());
  // the measure column may hold more text after `label` (unit, arrow): keep the last cell per run
  return cells;
}

function lastCells(stdout: string, label: string, n: number): string[] {
  return tableRow(stdout, label).slice(-n);
}

describe('mtl compare', () => {
  const root = tempDir('compare');
  const d1 = join(root, 'seed1');
  const d2 = join(root, 'seed2');

  beforeAll(async () => {
    for (const [dir, seed] of [[d1, '1'], [d2, '2']] as const) {
      const r = await mtl(['train', ...WORKLOAD, '--seed', seed, '--out', dir]);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 180_000);

  it('compares two finished runs: table, report.html, SVG charts and compare.json carry the measured numbers', async () => {
    const s1 = readJson(join(d1, 'summary.json'));
    const s2 = readJson(join(d2, 'summary.json'));
    // a target the first run meets at some validation: its own final task_a mse
    const evals1 = readJsonl(join(d1, 'metrics.jsonl')).filter((l) => l.type === 'eval' && l.metrics.task_a);
    const target = evals1[evals1.length - 1].metrics.task_a.mse as number;
    const hit = evals1.find((e) => e.metrics.task_a.mse <= target);
    const out = join(root, 'report');
    const r = await mtl(['compare', d1, d2, '--out', out, '--target', `task_a=mse:${target}`]);
    expect(r.code, r.stderr).toBe(0);

    // labels: both runs are 'distributed', so they are labelled by run id, in the order given
    const header = r.stdout.split('\n').find((l) => l.startsWith('measure'))!;
    expect(header.indexOf(s1.runId)).toBeGreaterThan(0);
    expect(header.indexOf(s2.runId)).toBeGreaterThan(header.indexOf(s1.runId));

    const cmp = readJson(join(out, 'compare.json'));
    const tasks: Array<{ name: string; primary: string }> = cmp.tasks;
    expect(tasks.map((t) => t.name)).toEqual(Object.keys(s1.finalMetrics));
    expect(tasks.find((t) => t.name === 'task_a')!.primary).toBe('mse'); // regression: primaryMetric from @mtl/mtl
    for (const { name: task, primary } of tasks) {
      for (const m of Object.keys(s1.finalMetrics[task]).filter((k) => k !== 'count')) {
        const label = m === primary ? `${task} ${m} (primary)` : `${task} ${m} `;
        expect(lastCells(r.stdout, label, 2), label).toEqual([metric(s1.finalMetrics[task][m]), metric(s2.finalMetrics[task][m])]);
      }
    }
    expect(lastCells(r.stdout, 'wall time (s)', 2)).toEqual([seconds(s1.wallTimeSec), seconds(s2.wallTimeSec)]);
    expect(lastCells(r.stdout, 'samples/s', 2)).toEqual([thousands(s1.samplesPerSec), thousands(s2.samplesPerSec)]);
    expect(lastCells(r.stdout, 'steps', 2)).toEqual([String(s1.steps), String(s2.steps)]);
    expect(lastCells(r.stdout, 'bytes sent per step', 2)).toEqual([thousands(s1.bytesSentPerStep), thousands(s2.bytesSentPerStep)]);
    expect(lastCells(r.stdout, 'bytes sent total', 2)).toEqual([thousands(s1.bytesSentTotal), thousands(s2.bytesSentTotal)]);
    expect(tableRow(r.stdout, `task_a mse <= ${target}: time`)[1]).toBe(seconds(hit.time));
    expect(tableRow(r.stdout, `task_a mse <= ${target}: steps`)[1]).toBe(String(hit.step));

    // the best mark follows the numbers: lower mse is marked
    const mseCells = tableRow(r.stdout, 'task_a mse (primary)');
    const line = r.stdout.split('\n').find((l) => l.startsWith('task_a mse (primary)'))!;
    const better = s1.finalMetrics.task_a.mse < s2.finalMetrics.task_a.mse ? 0 : 1;
    if (s1.finalMetrics.task_a.mse !== s2.finalMetrics.task_a.mse) expect(line).toContain(`${mseCells[mseCells.length - 2 + better]} *`);

    // report files
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org|vega\.github\.io)/); // self-contained
    for (const { name, primary } of tasks) {
      expect(html).toContain(name);
      expect(html).toContain(metric(s1.finalMetrics[name][primary]));
      expect(html).toContain(metric(s2.finalMetrics[name][primary]));
    }
    for (const id of [s1.runId, s2.runId]) expect(html).toContain(id);
    for (const f of ['loss-vs-step.svg', 'loss-vs-time.svg', 'val-metric.svg', 'throughput.svg', 'bytes-per-step.svg']) {
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg.startsWith('<svg'), f).toBe(true);
      expect(svg).toContain('</svg>');
    }

    // compare.json: the raw numbers of the table
    const row = (key: string) => cmp.rows.find((x: { key: string }) => x.key === key);
    expect(cmp.runs.map((x: { runId: string }) => x.runId)).toEqual([s1.runId, s2.runId]);
    for (const { name: task } of tasks) {
      for (const m of Object.keys(s1.finalMetrics[task])) expect(row(`metric.${task}.${m}`).values).toEqual([s1.finalMetrics[task][m], s2.finalMetrics[task][m]]);
      expect(row(`trainLoss.${task}`).values).toEqual([s1.finalTrainLoss[task], s2.finalTrainLoss[task]]);
    }
    for (const key of ['wallTimeSec', 'trainTimeSec', 'samplesPerSec', 'steps', 'bytesSentPerStep', 'bytesSentTotal']) {
      expect(row(key).values, key).toEqual([s1[key], s2[key]]);
    }
    expect(row('target.task_a.mse.time').values[0]).toBe(hit.time);
    expect(row('target.task_a.mse.steps').values[0]).toBe(hit.step);
    expect(cmp.verdicts.length).toBeGreaterThan(0);
  });

  it('names the file when a directory is not a run or metrics.jsonl is malformed', async () => {
    const notRun = tempDir('notrun');
    let r = await mtl(['compare', d1, notRun, '--out', join(root, 'bad')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(join(notRun, 'config.json'));
    expect(r.stderr).toContain('not a run directory');

    r = await mtl(['compare', d1, join(root, 'does-not-exist')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('does not exist');

    const broken = join(root, 'broken');
    cpSync(d2, broken, { recursive: true });
    const lines = readFileSync(join(broken, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length;
    appendFileSync(join(broken, 'metrics.jsonl'), '{"type":"train","step":"x"}\n');
    r = await mtl(['compare', d1, broken, '--out', join(root, 'bad2')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${join(broken, 'metrics.jsonl')} line ${lines + 1}`);

    r = await mtl(['compare', d1]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('at least two run directories');
  });

  it('--variants trains each variant with the same flags and compares them', async () => {
    const help = await mtl(['train', '--help']);
    const hasVariant = help.stdout.includes('--variant');
    const out = join(root, 'variants');
    mkdirSync(out, { recursive: true });
    const variants = hasVariant ? ['parallel', 'distributed'] : ['distributed'];
    const r = await mtl(['compare', '--variants', variants.join(','), ...WORKLOAD.map((a) => (a === '30' ? '20' : a)), '--seed', '3', '--out', out]);
    if (!hasVariant) {
      // until mtl train has --variant, its refusal is surfaced, not swallowed
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('--variant');
      return;
    }
    expect(r.code, r.stderr).toBe(0);
    const cmp = readJson(join(out, 'compare.json'));
    expect(cmp.runs.map((x: { label: string }) => x.label)).toEqual(variants);
    for (const v of variants) {
      const s = readJson(join(out, v, 'summary.json'));
      const c = readJson(join(out, v, 'config.json'));
      expect(s.status).toBe('completed');
      expect(c.run.seed).toBe(3);
      expect(c.run.steps).toBe(20);
      expect(c.run.batchSize).toBe(64);
      expect(lastCells(r.stdout, 'samples/s', variants.length)[variants.indexOf(v)]).toBe(thousands(s.samplesPerSec));
    }
    // same data budget: both trained 64 examples per task per step (measured from the recorded samples)
    expect(lastCells(r.stdout, 'examples per task per step', variants.length)).toEqual(variants.map(() => '64'));
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('shows what an unfinished run lacks as n/a instead of inventing it', async () => {
    const partial = join(root, 'partial');
    cpSync(d2, partial, { recursive: true });
    rmSync(join(partial, 'summary.json'));
    const r = await mtl(['compare', d1, partial, '--out', join(root, 'partial-report')]);
    expect(r.code, r.stderr).toBe(0);
    expect(tableRow(r.stdout, 'status')).toContain('unfinished (no summary.json)');
    expect(lastCells(r.stdout, 'wall time (s)', 2)[1]).toBe('n/a');
    // final metrics fall back to the last validation in metrics.jsonl, marked with a dagger
    const evals = readJsonl(join(d2, 'metrics.jsonl')).filter((l) => l.type === 'eval');
    expect(lastCells(r.stdout, 'task_a mse (primary)', 2)[1]).toBe(`${metric(evals[evals.length - 1].metrics.task_a.mse)} †`);
  });
});
