import { InvalidArgumentError } from 'commander';
import { primaryMetric, type TaskSpec } from '@mtl/mtl';
import { labelRuns, type LoadedRun } from './run-dir';

/** Direction of every metric the runs report; `count` and unknown names are not ranked. */
const METRIC_DIRECTION: Record<string, 'lower' | 'higher'> = {
  mse: 'lower',
  mae: 'lower',
  logloss: 'lower',
  r2: 'higher',
  accuracy: 'higher',
  auc: 'higher',
};

export type Better = 'lower' | 'higher' | null;

export interface Target {
  task: string;
  metric: string;
  value: number;
  better: 'lower' | 'higher';
}

/** One row of the comparison table: a measure and its value in every run (null = not available). */
export interface Row {
  key: string;
  section: 'metrics' | 'run' | 'target';
  label: string;
  unit: string;
  better: Better;
  /** Formatting of the value in the table. */
  format: 'metric' | 'seconds' | 'rate' | 'int' | 'bytes' | 'ms' | 'epochs';
  values: Array<number | null>;
  /** Indices of the best run(s); empty when not ranked, fewer than two values, or all equal. */
  best: number[];
  /** Per-run text shown instead of a missing value (e.g. "not reached"); n/a otherwise. */
  display?: Array<string | null>;
  /** Per-run footnotes (e.g. value taken from the last validation because the run has no summary). */
  notes?: Array<string | null>;
}

export interface RunInfo {
  label: string;
  dir: string;
  runId: string;
  variant: string;
  status: string;
  error?: string;
  seed: number | null;
  world: number | null;
  backend: string | null;
  steps: number | null;
  stepsPlanned: number | null;
  batchSize: number | null;
  samples: number | null;
  numParams: number | null;
  tasks: Array<{ name: string; type: string; weight?: number }>;
  data: Record<string, unknown> | null;
  placement: Record<string, number[]> | null;
}

export interface TaskInfo {
  name: string;
  type: string;
  primary: string;
  better: 'lower' | 'higher';
}

export interface Comparison {
  generatedAt: string;
  runs: RunInfo[];
  tasks: TaskInfo[];
  targets: Target[];
  rows: Row[];
  /** Sentences: which run was better on which measure, from the rows. */
  verdicts: string[];
  setup: string[];
}

export function parseTargets(spec: string): Target[] {
  return spec.split(',').map((part) => {
    const m = /^\s*([^=\s]+)\s*=\s*(?:([A-Za-z0-9_]+)\s*:)?\s*([^\s]+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`--target expects task=metric:value[,...] (e.g. task_a=mse:0.03), got '${part}'`);
    const value = Number(m[3]);
    if (!Number.isFinite(value)) throw new InvalidArgumentError(`--target ${part}: '${m[3]}' is not a number`);
    // metric omitted: resolved to the task's primary metric once the runs are loaded
    return { task: m[1]!, metric: m[2] ?? '', value, better: 'lower' as const };
  });
}

function taskPrimary(task: { name: string; type: string }): { name: string; higherIsBetter: boolean } {
  try {
    return primaryMetric(task as TaskSpec);
  } catch {
    return { name: 'loss', higherIsBetter: false };
  }
}

/**
 * How many task-examples (an example trained for one task) one recorded sample stands for. A distributed
 * worker reports the examples of its slice, each trained for every task; a parallel worker reports the
 * examples of its own task only, so its samples already are task-examples.
 */
export function taskExamplesPerSample(run: LoadedRun): number {
  return run.config.run.variant === 'parallel' ? 1 : run.config.run.tasks.length;
}

function bestOf(values: Array<number | null>, better: Better): number[] {
  if (!better) return [];
  const present = values.map((v, i) => [v, i] as const).filter((p): p is readonly [number, number] => p[0] !== null && Number.isFinite(p[0]));
  if (present.length < 2) return [];
  const target = better === 'lower' ? Math.min(...present.map((p) => p[0])) : Math.max(...present.map((p) => p[0]));
  const best = present.filter((p) => p[0] === target).map((p) => p[1]);
  return best.length === present.length ? [] : best;
}

/** First validation at which the target was met: seconds since training start and steps. */
export function timeToTarget(run: LoadedRun, t: Target): { time: number; step: number } | null {
  for (const e of run.evals) {
    const v = e.metrics[t.task]?.[t.metric];
    if (v === undefined) continue;
    if (t.better === 'lower' ? v <= t.value : v >= t.value) return { time: e.time, step: e.step };
  }
  return null;
}

export function buildComparison(runs: LoadedRun[], rawTargets: Target[]): Comparison {
  const labels = labelRuns(runs);
  // Tasks in order of first appearance; a task one run lacks is shown as missing for it.
  const tasks: TaskInfo[] = [];
  for (const r of runs) {
    for (const t of r.config.run.tasks) {
      if (tasks.some((x) => x.name === t.name)) continue;
      const p = taskPrimary(t);
      tasks.push({ name: t.name, type: t.type, primary: p.name, better: p.higherIsBetter ? 'higher' : 'lower' });
    }
  }
  const targets: Target[] = rawTargets.map((t) => {
    const task = tasks.find((x) => x.name === t.task);
    if (!task) throw new Error(`--target ${t.task}: no compared run has a task named ${t.task} (tasks: ${tasks.map((x) => x.name).join(', ')})`);
    const metric = t.metric || task.primary;
    const better = METRIC_DIRECTION[metric];
    if (!better) throw new Error(`--target ${t.task}=${metric}: unknown metric (one of ${Object.keys(METRIC_DIRECTION).join(', ')})`);
    return { task: t.task, metric, value: t.value, better };
  });

  const infos: RunInfo[] = runs.map((r, i) => {
    const c = r.config;
    const s = r.summary;
    return {
      label: labels[i]!,
      dir: r.dir,
      runId: c.run.runId,
      variant: c.run.variant,
      status: s?.status ?? 'unfinished (no summary.json)',
      ...(s?.error ? { error: s.error } : {}),
      seed: c.run.seed ?? null,
      world: s?.world ?? c.world ?? null,
      backend: s?.backend ?? c.backend ?? null,
      steps: s?.steps ?? (r.train.length ? r.train[r.train.length - 1]!.step + 1 : null),
      stepsPlanned: c.totalSteps ?? c.run.steps ?? null,
      batchSize: c.run.batchSize ?? null,
      samples: s?.samples ?? null,
      numParams: s?.numParams ?? c.numParams ?? null,
      tasks: c.run.tasks.map((t) => ({ name: t.name, type: t.type, ...(t.weight !== undefined ? { weight: t.weight } : {}) })),
      data: (c.run.data as Record<string, unknown> | undefined) ?? null,
      placement: c.placement ?? null,
    };
  });

  const rows: Row[] = [];
  const add = (row: Omit<Row, 'best'>) => rows.push({ ...row, best: bestOf(row.values, row.better) });

  // Per-task final validation metrics: summary.json's finalMetrics; a run without a summary falls back to
  // its last validation in metrics.jsonl, marked as such.
  for (const task of tasks) {
    const metricNames: string[] = [];
    const finals = runs.map((r) => {
      const fromSummary = r.summary?.finalMetrics?.[task.name];
      if (fromSummary) return { m: fromSummary, note: null as string | null };
      const last = [...r.evals].reverse().find((e) => e.metrics[task.name]);
      if (last) return { m: last.metrics[task.name]!, note: `last validation (step ${last.step}) in metrics.jsonl; no final metrics in summary.json` };
      return { m: undefined, note: null };
    });
    for (const f of finals) for (const k of Object.keys(f.m ?? {})) if (!metricNames.includes(k)) metricNames.push(k);
    metricNames.sort((a, b) => (a === task.primary ? -1 : b === task.primary ? 1 : 0));
    for (const metric of metricNames) {
      const values = finals.map((f) => f.m?.[metric] ?? null);
      const notes = finals.map((f) => (f.m?.[metric] !== undefined ? f.note : null));
      add({
        key: `metric.${task.name}.${metric}`,
        section: 'metrics',
        label: `${task.name} ${metric}${metric === task.primary ? ' (primary)' : ''}`,
        unit: '',
        better: metric === 'count' ? null : (METRIC_DIRECTION[metric] ?? null),
        format: metric === 'count' ? 'int' : 'metric',
        values,
        ...(notes.some((n) => n) ? { notes } : {}),
      });
    }
  }
  for (const task of tasks) {
    add({
      key: `trainLoss.${task.name}`,
      section: 'metrics',
      label: `${task.name} final train loss`,
      unit: '',
      better: 'lower',
      format: 'metric',
      values: runs.map((r) => r.summary?.finalTrainLoss?.[task.name] ?? null),
    });
  }

  const s = (f: (r: LoadedRun) => number | undefined | null) => runs.map((r) => f(r) ?? null);
  add({ key: 'wallTimeSec', section: 'run', label: 'wall time', unit: 's', better: 'lower', format: 'seconds', values: s((r) => r.summary?.wallTimeSec) });
  add({ key: 'trainTimeSec', section: 'run', label: 'training time', unit: 's', better: 'lower', format: 'seconds', values: s((r) => r.summary?.trainTimeSec) });
  // samples/s as each run recorded it; ranked only when every run counts samples the same way.
  const sameCounting = new Set(runs.map(taskExamplesPerSample)).size === 1 || new Set(runs.map((r) => r.config.run.variant)).size === 1;
  add({ key: 'samplesPerSec', section: 'run', label: sameCounting ? 'samples/s' : 'samples/s (as recorded, see note)', unit: '', better: sameCounting ? 'higher' : null, format: 'rate', values: s((r) => r.summary?.samplesPerSec) });
  add({
    key: 'taskExamplesPerSec',
    section: 'run',
    label: 'task-examples/s',
    unit: '',
    better: 'higher',
    format: 'rate',
    values: s((r) => (r.summary?.samplesPerSec === undefined ? null : r.summary.samplesPerSec * taskExamplesPerSample(r))),
  });
  add({
    key: 'examplesPerTaskPerStep',
    section: 'run',
    label: 'examples per task per step',
    unit: '',
    better: null,
    format: 'rate',
    values: s((r) => (r.summary?.samples === undefined || !r.summary.steps ? null : (r.summary.samples * taskExamplesPerSample(r)) / r.config.run.tasks.length / r.summary.steps)),
  });
  add({ key: 'steps', section: 'run', label: 'steps', unit: '', better: null, format: 'int', values: infos.map((x) => x.steps) });
  add({ key: 'epochs', section: 'run', label: 'epochs', unit: '', better: null, format: 'epochs', values: s((r) => r.summary?.epochs) });
  add({ key: 'samples', section: 'run', label: 'samples', unit: '', better: null, format: 'int', values: s((r) => r.summary?.samples) });
  add({ key: 'meanStepMs.total', section: 'run', label: 'mean step', unit: 'ms', better: 'lower', format: 'ms', values: s((r) => r.summary?.meanStepMs?.total) });
  add({ key: 'meanStepMs.compute', section: 'run', label: '  compute', unit: 'ms', better: 'lower', format: 'ms', values: s((r) => r.summary?.meanStepMs?.compute) });
  add({ key: 'meanStepMs.comm', section: 'run', label: '  communication', unit: 'ms', better: 'lower', format: 'ms', values: s((r) => r.summary?.meanStepMs?.comm) });
  add({ key: 'meanStepMs.update', section: 'run', label: '  update', unit: 'ms', better: 'lower', format: 'ms', values: s((r) => r.summary?.meanStepMs?.update) });
  add({ key: 'bytesSentPerStep', section: 'run', label: 'bytes sent per step', unit: 'B', better: 'lower', format: 'bytes', values: s((r) => r.summary?.bytesSentPerStep) });
  add({ key: 'bytesSentTotal', section: 'run', label: 'bytes sent total', unit: 'B', better: 'lower', format: 'bytes', values: s((r) => r.summary?.bytesSentTotal) });

  for (const t of targets) {
    const hits = runs.map((r) => timeToTarget(r, t));
    const op = t.better === 'lower' ? '<=' : '>=';
    const name = `${t.task} ${t.metric} ${op} ${t.value}`;
    // A run that validated this metric but never met the target is "not reached", not missing data.
    const display = runs.map((r, i) => (hits[i] ? null : r.evals.some((e) => e.metrics[t.task]?.[t.metric] !== undefined) ? 'not reached' : null));
    add({ key: `target.${t.task}.${t.metric}.time`, section: 'target', label: `${name}: time`, unit: 's', better: 'lower', format: 'seconds', values: hits.map((h) => h?.time ?? null), display });
    add({ key: `target.${t.task}.${t.metric}.steps`, section: 'target', label: `${name}: steps`, unit: '', better: 'lower', format: 'int', values: hits.map((h) => h?.step ?? null), display });
  }

  return {
    generatedAt: new Date().toISOString(),
    runs: infos,
    tasks,
    targets,
    rows,
    verdicts: verdicts(rows, infos),
    setup: setupNotes(runs, infos),
  };
}

// ---- formatting (shared by the terminal table and the HTML report) ------------------------------

export function withThousands(n: number): string {
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.abs(Math.round(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatValue(v: number | null, format: Row['format']): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  switch (format) {
    case 'metric':
      return v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(3) : v.toFixed(4);
    case 'seconds':
      return v.toFixed(2);
    case 'ms':
      return v.toFixed(1);
    case 'epochs':
      return v.toFixed(2);
    case 'rate':
    case 'int':
    case 'bytes':
      return withThousands(v);
  }
}

/** The text of one table cell: the formatted value, or what stands in for a missing one. */
export function cellText(row: Row, i: number): string {
  const v = row.values[i] ?? null;
  return v === null ? (row.display?.[i] ?? 'n/a') : formatValue(v, row.format);
}

function relDiff(best: number, other: number): string {
  if (other === 0) return '';
  const pct = (Math.abs(best - other) / Math.abs(other)) * 100;
  return pct >= 0.05 ? ` (${pct.toFixed(1)}% ${best < other ? 'lower' : 'higher'})` : '';
}

function verdicts(rows: Row[], runs: RunInfo[]): string[] {
  const out: string[] = [];
  for (const row of rows) {
    if (!row.better || (row.key.startsWith('meanStepMs.') && row.key !== 'meanStepMs.total')) continue;
    if (row.key.startsWith('metric.') && !row.label.endsWith('(primary)')) continue;
    const present = row.values.map((v, i) => ({ v, i })).filter((p): p is { v: number; i: number } => p.v !== null);
    const unit = row.unit ? ` ${row.unit}` : '';
    const label = row.label.replace(' (primary)', '').trim();
    const list = row.values.map((v, i) => `${runs[i]!.label} ${cellText(row, i)}${v !== null ? unit : ''}`).join(', ');
    if (row.section === 'target' && present.length === 0) {
      out.push(`${label}: no run reached the target (${list}).`);
      continue;
    }
    if (row.section === 'target' && present.length === 1) {
      out.push(`${label}: only ${runs[present[0]!.i]!.label} reached the target (${list}).`);
      continue;
    }
    if (present.length < 2) {
      out.push(`${label} (${row.better} is better): not comparable, only ${present.length} run(s) have a value (${list}).`);
      continue;
    }
    if (row.best.length === 0) {
      out.push(`${label} (${row.better} is better): equal (${list}).`);
      continue;
    }
    const bestV = row.values[row.best[0]!]!;
    const others = present.filter((p) => !row.best.includes(p.i));
    const runnerUp = others.reduce((a, b) => (row.better === 'lower' ? (b.v < a.v ? b : a) : b.v > a.v ? b : a));
    const who = row.best.map((i) => runs[i]!.label).join(' and ');
    out.push(
      `${label} (${row.better} is better): ${who} better, ${formatValue(bestV, row.format)}${unit} vs ${runs[runnerUp.i]!.label} ${formatValue(runnerUp.v, row.format)}${unit}${relDiff(bestV, runnerUp.v)}.`,
    );
  }
  return out;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs.map((x) => JSON.stringify(x)))].map((x) => JSON.parse(x) as T);
}

function setupNotes(runs: LoadedRun[], infos: RunInfo[]): string[] {
  const notes: string[] = [];
  const per = (f: (r: RunInfo) => unknown) => infos.map((r) => `${r.label}: ${JSON.stringify(f(r))}`).join(', ');
  const same = (f: (r: RunInfo) => unknown, what: string, fmt: (v: unknown) => string = String) => {
    const vals = uniq(infos.map(f));
    notes.push(vals.length === 1 ? `${what}: ${fmt(vals[0])} for every run.` : `${what} differ: ${per(f)}.`);
  };
  same((r) => r.seed, 'Seed');
  same((r) => r.world, 'World size (workers)');
  same((r) => r.backend, 'Backend');
  same((r) => r.stepsPlanned, 'Planned steps');
  same((r) => r.batchSize, 'Batch size', (v) => `${String(v)} labelled examples per task per step (distributed: global batch; parallel: per-task global batch, by design the same number)`);
  same((r) => r.tasks, 'Tasks', (v) => (v as RunInfo['tasks']).map((t) => `${t.name} (${t.type})`).join(', '));
  same((r) => r.data, 'Data', (v) => JSON.stringify(v));
  notes.push(
    'Samples as recorded: a distributed run counts examples (each trained for every task), a parallel run counts examples of each task separately. ' +
      'task-examples/s puts both on one footing (distributed: samples/s x number of tasks; parallel: samples/s), and "examples per task per step" checks the budget from the measured samples.',
  );
  const measured = infos.map((r) => `${r.label} ${r.samples === null ? 'n/a' : withThousands(r.samples)} samples in ${r.steps ?? 'n/a'} steps`).join(', ');
  notes.push(`Measured data consumed (summary.json): ${measured}.`);
  for (const r of infos) {
    if (r.placement) notes.push(`${r.label} placement (task: ranks): ${Object.entries(r.placement).map(([t, ranks]) => `${t}: ${ranks.join(' ')}`).join('; ')}.`);
    if (r.status !== 'completed') notes.push(`${r.label} did not complete (status ${r.status}${r.error ? `: ${r.error}` : ''}); its missing numbers are shown as n/a.`);
  }
  const evalSteps = runs.map((r, i) => `${infos[i]!.label} at steps ${r.evals.map((e) => e.step).join(', ') || 'none'}`).join('; ');
  notes.push(`Validation ran ${evalSteps}; time to a target is only as fine as these points. Times are seconds since training start as recorded in metrics.jsonl.`);
  notes.push('One run per variant: differences carry run-to-run noise (timings especially, on a shared machine) that a single pair of runs cannot estimate.');
  return notes;
}
