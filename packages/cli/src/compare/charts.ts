import { taskExamplesPerSample, type Comparison } from './analyze';
import type { LoadedRun } from './run-dir';

/** A chart of the report: file name, title, what it shows, and its vega-lite spec (data inline). */
export interface ChartSpec {
  file: string;
  title: string;
  caption: string;
  spec: Record<string, unknown>;
}

export interface RenderedChart extends ChartSpec {
  svg: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];

/** Steps per throughput window: about 40 windows a run, at least 5 steps each (or the whole run if shorter). */
export function throughputWindow(steps: number): number {
  return Math.max(1, Math.min(steps, Math.max(5, Math.ceil(steps / 40))));
}

/**
 * Samples/s over consecutive windows of train lines: samples in the window divided by the time from the
 * end of the previous window (training start for the first) to the end of this one.
 */
export function throughputSeries(run: LoadedRun): Array<{ step: number; taskExamplesPerSec: number }> {
  const t = run.train;
  const k = throughputWindow(t.length);
  const out: Array<{ step: number; taskExamplesPerSec: number }> = [];
  for (let start = 0; start + k <= t.length; start += k) {
    const window = t.slice(start, start + k);
    if (window.some((p) => p.samples === undefined)) continue;
    const t0 = start === 0 ? 0 : t[start - 1]!.time;
    const t1 = window[window.length - 1]!.time;
    if (t1 <= t0) continue;
    const samples = window.reduce((s, p) => s + (p.samples ?? 0), 0) * taskExamplesPerSample(run);
    out.push({ step: window[window.length - 1]!.step + 1, taskExamplesPerSec: samples / (t1 - t0) });
  }
  return out;
}

export function chartSpecs(cmp: Comparison, runs: LoadedRun[]): ChartSpec[] {
  const labels = cmp.runs.map((r) => r.label);
  const color = { field: 'run', type: 'nominal', title: 'run', scale: { domain: labels, range: PALETTE.slice(0, Math.max(1, labels.length)) }, legend: { labelLimit: 360 } };
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', padding: 8, config: { font: 'sans-serif', view: { stroke: '#ddd' } } };
  const taskOrder = cmp.tasks.map((t) => t.name);

  // Train lines record `step` as the 0-based index of the step; plotted as steps completed (index + 1),
  // the same count validation lines and summary.json use.
  const loss = runs.flatMap((r, i) =>
    r.train.flatMap((p) => Object.entries(p.losses).map(([task, value]) => ({ run: labels[i], task, step: p.step + 1, time: p.time, loss: value }))),
  );
  const logLoss = loss.length > 0 && loss.every((p) => p.loss > 0);
  const lossChart = (x: 'step' | 'time', file: string, title: string, xTitle: string): ChartSpec => ({
    file,
    title,
    caption: `Training loss of each task (mean over the step's labelled examples, as recorded in metrics.jsonl) against ${x === 'step' ? 'steps completed' : 'seconds since training start'}; ${logLoss ? 'log scale' : 'linear scale'}.`,
    spec: {
      ...base,
      title,
      data: { values: loss },
      facet: { column: { field: 'task', type: 'nominal', title: null, sort: taskOrder } },
      spec: {
        width: 320,
        height: 220,
        mark: { type: 'line', strokeWidth: 1.5, clip: true },
        encoding: {
          x: { field: x, type: 'quantitative', title: xTitle },
          y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: logLoss ? { type: 'log' } : { zero: false } },
          color,
        },
      },
      resolve: { scale: { y: 'independent' } },
    },
  });

  const evals = runs.flatMap((r, i) =>
    r.evals.flatMap((e) =>
      cmp.tasks
        .filter((t) => e.metrics[t.name]?.[t.primary] !== undefined)
        .map((t) => ({ run: labels[i], panel: `${t.name}: ${t.primary} (${t.better} is better)`, step: e.step, time: e.time, value: e.metrics[t.name]![t.primary]! })),
    ),
  );
  const panelOrder = cmp.tasks.map((t) => `${t.name}: ${t.primary} (${t.better} is better)`);

  const thr = runs.flatMap((r, i) => throughputSeries(r).map((p) => ({ run: labels[i], ...p })));
  const bytes = runs.flatMap((r, i) => r.train.filter((p) => p.bytesSent !== undefined).map((p) => ({ run: labels[i], step: p.step + 1, bytes: p.bytesSent! })));
  const windows = runs.map((r, i) => `${labels[i]} ${throughputWindow(r.train.length)}`).join(', ');

  const charts: ChartSpec[] = [
    lossChart('step', 'loss-vs-step.svg', 'Training loss vs step', 'step'),
    lossChart('time', 'loss-vs-time.svg', 'Training loss vs wall time', 'seconds since training start'),
    {
      file: 'val-metric.svg',
      title: 'Validation primary metric vs step',
      caption: 'Primary validation metric of each task at every validation in metrics.jsonl (eval lines of a step merged across task groups).',
      spec: {
        ...base,
        title: 'Validation primary metric vs step',
        data: { values: evals },
        facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panelOrder } },
        spec: {
          width: 320,
          height: 220,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'step', type: 'quantitative', title: 'step' },
            y: { field: 'value', type: 'quantitative', title: 'validation metric', scale: { zero: false } },
            color,
          },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
    {
      file: 'throughput.svg',
      title: 'Throughput vs step',
      caption: `Task-examples per second (an example trained for one task; distributed: recorded samples x tasks, parallel: recorded samples) over consecutive windows of steps (window in steps: ${windows}); the first window includes warm-up, and a window that spans a validation includes its time.`,
      spec: {
        ...base,
        title: 'Throughput (task-examples/s per window of steps)',
        width: 520,
        height: 240,
        data: { values: thr },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step (end of window)' },
          y: { field: 'taskExamplesPerSec', type: 'quantitative', title: 'task-examples/s' },
          color,
        },
      },
    },
    {
      file: 'bytes-per-step.svg',
      title: 'Communication bytes per step',
      caption: 'Bytes sent on the data plane by all ranks in each step (bytesSent in metrics.jsonl).',
      spec: {
        ...base,
        title: 'Bytes sent per step (all ranks)',
        width: 520,
        height: 240,
        data: { values: bytes },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2, opacity: 0.85 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step' },
          y: { field: 'bytes', type: 'quantitative', title: 'bytes sent', axis: { format: '~s' } },
          color,
          // dashed per run, so equal volumes stay visible where the lines overlap
          strokeDash: { field: 'run', type: 'nominal', title: 'run', scale: { domain: labels } },
        },
      },
    },
  ];
  // Every chart above in one picture (vega-lite vertical concatenation of the same specs).
  const inner = (c: ChartSpec) => {
    const { $schema: _s, background: _b, padding: _p, config: _c, ...rest } = c.spec;
    return rest;
  };
  charts.push({
    file: 'overview.svg',
    title: 'All charts',
    caption: 'The charts above in one image.',
    spec: { ...base, title: { text: `mtl compare: ${labels.join(' vs ')}`, fontSize: 16, anchor: 'start' }, vconcat: charts.map(inner), spacing: 28 },
  });
  return charts;
}

/** Compile vega-lite to vega and render to SVG headlessly (no canvas, no network: data is inline). */
export async function renderCharts(specs: ChartSpec[]): Promise<RenderedChart[]> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const out: RenderedChart[] = [];
  for (const c of specs) {
    const compiled = vl.compile(c.spec as unknown as Parameters<typeof vl.compile>[0]).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
    try {
      const svg = await view.toSVG();
      out.push({ ...c, svg });
    } finally {
      view.finalize();
    }
  }
  return out;
}
