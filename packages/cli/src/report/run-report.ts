// report.html of one run: what a user opens after `mtl train` / `mtl coordinator` (DESIGN.md, "Run
// artifacts"). Read back from the run directory's own files, so it can be written again at any
// time (`mtl report DIR`), also for a failed or interrupted run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildComparison, cellText, type Comparison, type Row } from '../compare/analyze';
import { renderCharts, throughputSeries, throughputWindow, type ChartSpec, type RenderedChart } from '../compare/charts';
import { loadRunDir, type LoadedRun } from '../compare/run-dir';

/** At most this many points per line: a 10,000-step run draws every 7th step, which the eye cannot tell apart. */
const MAX_POINTS = 1500;

const BASE = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', padding: 8, config: { font: 'sans-serif', view: { stroke: '#ddd' } } };

function thin<T>(xs: T[]): T[] {
  const every = Math.ceil(xs.length / MAX_POINTS);
  return every <= 1 ? xs : xs.filter((_, i) => i % every === 0 || i === xs.length - 1);
}

/** Mean of each split phase over consecutive windows of steps (the same windows as throughput). */
export function stepSplitSeries(run: LoadedRun): Array<{ step: number; phase: string; ms: number }> {
  const t = run.train;
  const k = throughputWindow(t.length);
  const out: Array<{ step: number; phase: string; ms: number }> = [];
  for (let start = 0; start + k <= t.length; start += k) {
    const w = t.slice(start, start + k);
    const end = w[w.length - 1]!.step + 1;
    for (const [phase, key] of [['compute', 'computeMs'], ['communication (exposed)', 'commMs'], ['update', 'updateMs']] as const) {
      const xs = w.map((p) => p[key]).filter((v): v is number => v !== undefined);
      if (xs.length) out.push({ step: end, phase, ms: xs.reduce((a, b) => a + b, 0) / xs.length });
    }
  }
  return out;
}

export function runChartSpecs(run: LoadedRun, cmp: Comparison): ChartSpec[] {
  const taskOrder = cmp.tasks.map((t) => t.name);
  const loss = thin(run.train).flatMap((p) => Object.entries(p.losses).map(([task, value]) => ({ task, step: p.step + 1, loss: value })));
  const logLoss = loss.length > 0 && loss.every((p) => p.loss > 0);
  const evals = run.evals.flatMap((e) =>
    cmp.tasks
      .filter((t) => e.metrics[t.name]?.[t.primary] !== undefined)
      .map((t) => ({ panel: `${t.name}: ${t.primary} (${t.better} is better)`, step: e.step, value: e.metrics[t.name]![t.primary]! })),
  );
  const weights = thin(run.train.filter((p) => p.taskWeights)).flatMap((p) => Object.entries(p.taskWeights!).map(([task, weight]) => ({ task, step: p.step + 1, weight })));
  const thr = throughputSeries(run);
  const split = stepSplitSeries(run);
  const window = throughputWindow(run.train.length);
  const charts: ChartSpec[] = [
    {
      file: 'loss-vs-step.svg',
      title: 'Training loss vs step',
      caption: `Training loss of each task (mean over the step's labelled examples, from metrics.jsonl)${loss.length && run.train.length > MAX_POINTS ? `, every ${Math.ceil(run.train.length / MAX_POINTS)}th step drawn` : ''}; ${logLoss ? 'log scale' : 'linear scale'}.`,
      spec: {
        ...BASE,
        title: 'Training loss vs step',
        data: { values: loss },
        facet: { column: { field: 'task', type: 'nominal', title: null, sort: taskOrder } },
        spec: {
          width: 300,
          height: 200,
          mark: { type: 'line', strokeWidth: 1.2, clip: true },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'step' },
            y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: logLoss ? { type: 'log' } : { zero: false } },
          },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
  ];
  if (evals.length) {
    charts.push({
      file: 'val-metric.svg',
      title: 'Validation primary metric vs step',
      caption: 'Primary validation metric of each task at every validation in metrics.jsonl.',
      spec: {
        ...BASE,
        title: 'Validation primary metric vs step',
        data: { values: evals },
        facet: { column: { field: 'panel', type: 'nominal', title: null, sort: cmp.tasks.map((t) => `${t.name}: ${t.primary} (${t.better} is better)`) } },
        spec: {
          width: 300,
          height: 200,
          mark: { type: 'line', point: true },
          encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y: { field: 'value', type: 'quantitative', title: 'validation metric', scale: { zero: false } } },
        },
        resolve: { scale: { y: 'independent' } },
      },
    });
  }
  if (weights.length) {
    const aggregator = (run.config.run as { aggregator?: { name?: string } }).aggregator?.name ?? '';
    charts.push({
      file: 'task-weights.svg',
      title: 'Task weights vs step',
      caption: `The weight each task's gradient got at every step from the ${aggregator} aggregator (taskWeights in metrics.jsonl)${run.train.length > MAX_POINTS ? `, every ${Math.ceil(run.train.length / MAX_POINTS)}th step drawn` : ''}.`,
      spec: {
        ...BASE,
        title: 'Task weights vs step',
        width: 520,
        height: 220,
        data: { values: weights },
        mark: { type: 'line', strokeWidth: 1.2 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step' },
          y: { field: 'weight', type: 'quantitative', title: 'task weight', scale: { zero: false } },
          color: { field: 'task', type: 'nominal', title: 'task', sort: taskOrder },
        },
      },
    });
  }
  if (thr.length) {
    charts.push({
      file: 'throughput.svg',
      title: 'Throughput vs step',
      caption: `Task-examples per second over windows of ${window} steps (the first window includes warm-up; a window that spans a validation includes its time).`,
      spec: {
        ...BASE,
        title: 'Throughput (task-examples/s per window of steps)',
        width: 520,
        height: 220,
        data: { values: thr },
        mark: { type: 'line', point: true },
        encoding: { x: { field: 'step', type: 'quantitative', title: 'step (end of window)' }, y: { field: 'taskExamplesPerSec', type: 'quantitative', title: 'task-examples/s' } },
      },
    });
  }
  if (split.length) {
    charts.push({
      file: 'step-split.svg',
      title: 'Where a step goes',
      caption: `Rank 0's step split into compute (forward and backward), communication it waited for after the backward pass, and the parameter update, mean ms over windows of ${window} steps (computeMs, commMs, updateMs in metrics.jsonl).`,
      spec: {
        ...BASE,
        title: 'Step time split (ms, mean per window)',
        width: 520,
        height: 220,
        data: { values: split },
        mark: { type: 'area', opacity: 0.85 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step (end of window)' },
          y: { field: 'ms', type: 'quantitative', title: 'ms per step', stack: 'zero' },
          color: { field: 'phase', type: 'nominal', title: null, sort: ['compute', 'communication (exposed)', 'update'], scale: { range: ['#1f77b4', '#d62728', '#2ca02c'] } },
          order: { field: 'phase', sort: 'ascending' },
        },
      },
    });
  }
  return charts;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function rowLabel(r: Row): string {
  return `${r.label}${r.unit ? ` (${r.unit})` : ''}`;
}

export function runReportHtml(run: LoadedRun, cmp: Comparison, charts: RenderedChart[]): string {
  const info = cmp.runs[0]!;
  const s = run.summary;
  const rows = (section: Row['section']) =>
    cmp.rows
      .filter((r) => r.section === section)
      .map((r) => `<tr><td class="measure">${esc(rowLabel(r))}</td><td>${esc(cellText(r, 0))}${r.notes?.[0] ? ` <sup title="${esc(r.notes[0]!)}">†</sup>` : ''}</td></tr>`)
      .join('\n');
  const workers = ((run.config as { workers?: Array<Record<string, unknown>> }).workers ?? [])
    .map((w) => `<tr>${['rank', 'name', 'host', 'pid', 'dataPort', 'cpus'].map((k) => `<td>${esc(w[k] === undefined ? '-' : String(w[k]))}</td>`).join('')}</tr>`)
    .join('\n');
  const figures = charts
    .map((c) => `<figure id="${esc(c.file.replace(/\.svg$/, ''))}">\n${c.svg.replace(/^<\?xml[^>]*\?>\s*/, '')}\n<figcaption>${esc(c.caption)}</figcaption>\n</figure>`)
    .join('\n');
  const status = `${info.status}${info.error ? `: ${info.error}` : ''}`;
  const aggregator = (run.config.run as { aggregator?: { name?: string } }).aggregator?.name ?? 'equal';
  const restarts = run.restarts.length
    ? `<h2>Restarts</h2>\n<ul>\n${run.restarts.map((r) => `<li>re-formed with ${r.world} worker${r.world === 1 ? '' : 's'}, continuing from step ${r.step}: ${esc(r.reason)}</li>`).join('\n')}\n</ul>\n`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mtl run ${esc(info.runId)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
td.measure, th.measure { text-align: left; }
.status-failed, .status-aborted { color: #b00020; font-weight: 600; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
</style>
</head>
<body>
<h1>mtl run <code>${esc(info.runId)}</code></h1>
<p class="status-${esc(info.status)}">Status: ${esc(status)}</p>
<p>${esc(info.variant)} variant, aggregator ${esc(aggregator)}, ${info.world ?? '?'} worker${info.world === 1 ? '' : 's'}, backend ${esc(String(info.backend ?? 'unknown'))}${s?.wallTimeSec !== undefined ? `, wall time ${s.wallTimeSec.toFixed(1)} s` : ''}. Directory <code>${esc(run.dir)}</code>. Written from <code>config.json</code>, <code>metrics.jsonl</code> and <code>summary.json</code>; <code>mtl report ${esc(run.dir)}</code> writes it again.</p>
${restarts}<h2>Final validation metrics</h2>
<table>
${rows('metrics') || '<tr><td class="measure">no validation recorded</td><td></td></tr>'}
</table>
<h2>Run</h2>
<table>
${rows('run')}
</table>
<h2>Charts</h2>
${figures || '<p>No training steps were recorded.</p>'}
<h2>Workers</h2>
<table>
<thead><tr><th>rank</th><th>name</th><th>host</th><th>pid</th><th>data port</th><th>CPUs</th></tr></thead>
<tbody>
${workers}
</tbody>
</table>
<h2>Configuration</h2>
<pre>${esc(JSON.stringify(run.config.run, null, 2))}</pre>
</body>
</html>
`;
}

/** Writes DIR/report.html from the run directory's files; returns its path. */
export async function writeRunReport(dir: string): Promise<string> {
  const run = loadRunDir(dir);
  const cmp = buildComparison([run], []);
  const charts = await renderCharts(runChartSpecs(run, cmp));
  const file = join(run.dir, 'report.html');
  writeFileSync(file, runReportHtml(run, cmp, charts));
  return file;
}
