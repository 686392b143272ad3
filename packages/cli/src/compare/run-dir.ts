import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '@mtl/protocol';

/** A run directory that cannot be read: the message names the file (and the line of metrics.jsonl). */
export class RunDirError extends Error {
  override name = 'RunDirError';
}

// Only the fields the comparison uses are checked; everything else in the files passes through, so a
// newer run (e.g. a parallel run's placement) still loads.
const num = z.number();
const taskSchema = z.looseObject({ name: z.string().min(1), type: z.string().min(1), weight: num.optional() });
const configSchema = z.looseObject({
  run: z.looseObject({
    runId: z.string(),
    variant: z.string().default('distributed'),
    seed: num.optional(),
    steps: num.optional(),
    epochs: num.optional(),
    batchSize: num.optional(),
    tasks: z.array(taskSchema).min(1),
    data: z.looseObject({}).optional(),
    model: z.looseObject({}).optional(),
    optimizer: z.looseObject({}).optional(),
  }),
  world: num.optional(),
  backend: z.string().optional(),
  numParams: num.optional(),
  trainSize: num.optional(),
  valSize: num.optional(),
  stepsPerEpoch: num.optional(),
  totalSteps: num.optional(),
  placement: z.record(z.string(), z.array(num)).optional(),
});
const metricRecord = z.record(z.string(), z.record(z.string(), num));
const summarySchema = z.looseObject({
  runId: z.string(),
  status: z.string(),
  error: z.string().optional(),
  variant: z.string().optional(),
  world: num.optional(),
  backend: z.string().optional(),
  steps: num,
  epochs: num.optional(),
  wallTimeSec: num.optional(),
  trainTimeSec: num.optional(),
  samples: num.optional(),
  samplesPerSec: num.optional(),
  meanStepMs: z.looseObject({ compute: num.optional(), comm: num.optional(), update: num.optional(), total: num.optional() }).optional(),
  bytesSentPerStep: num.optional(),
  bytesSentTotal: num.optional(),
  finalTrainLoss: z.record(z.string(), num).optional(),
  finalMetrics: metricRecord.optional(),
  numParams: num.optional(),
});
const trainLine = z.looseObject({
  type: z.literal('train'),
  step: num,
  epoch: num.optional(),
  time: num,
  losses: z.record(z.string(), num),
  samples: num.optional(),
  computeMs: num.optional(),
  commMs: num.optional(),
  updateMs: num.optional(),
  bytesSent: num.optional(),
  /** The weight each task's gradient got, for aggregators that learn or compute them. */
  taskWeights: z.record(z.string(), num).optional(),
});
const evalLine = z.looseObject({ type: z.literal('eval'), step: num, epoch: num.optional(), time: num, metrics: metricRecord });

export type RunConfigFile = z.infer<typeof configSchema>;
export type RunSummaryFile = z.infer<typeof summarySchema>;
export type TrainPoint = z.infer<typeof trainLine>;
/** Validation results of one step, merged over every eval line of that step (parallel runs write one per task group). */
export interface EvalPoint {
  step: number;
  time: number;
  metrics: Record<string, Record<string, number>>;
}

export interface LoadedRun {
  dir: string;
  config: RunConfigFile;
  /** undefined when the run wrote no summary.json (it did not finish or was killed). */
  summary?: RunSummaryFile;
  train: TrainPoint[];
  evals: EvalPoint[];
  /** Lines of metrics.jsonl that are neither train nor eval (kept out of the numbers, counted). */
  otherLines: number;
  /** Elastic re-forms of the ring (`restart` lines of metrics.jsonl), in order. */
  restarts: Array<{ step: number; world: number; reason: string }>;
}

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunDirError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunDirError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new RunDirError(`${where} is malformed: ${describeIssues(r.error.issues)}`);
  return r.data;
}

/** Load and check a finished (or failed) run directory written by `mtl train` / `mtl coordinator`. */
export function loadRunDir(path: string): LoadedRun {
  const dir = resolve(path);
  if (!existsSync(dir)) throw new RunDirError(`run directory ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new RunDirError(`${dir} is not a directory`);
  const configFile = join(dir, 'config.json');
  const metricsFile = join(dir, 'metrics.jsonl');
  const summaryFile = join(dir, 'summary.json');
  if (!existsSync(configFile)) throw new RunDirError(`${dir} is not a run directory: ${configFile} is missing`);
  const config = check(configSchema, readJsonFile(configFile), configFile);
  if (!existsSync(metricsFile)) throw new RunDirError(`${dir} is not a complete run directory: ${metricsFile} is missing`);
  const summary = existsSync(summaryFile) ? check(summarySchema, readJsonFile(summaryFile), summaryFile) : undefined;

  const trainByStep = new Map<number, TrainPoint>();
  const evalsByStep = new Map<number, EvalPoint>();
  let otherLines = 0;
  const restarts: LoadedRun['restarts'] = [];
  const lines = readFileSync(metricsFile, 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${metricsFile} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      // A run killed mid-write may leave a truncated last line; anything else is corruption.
      if (i >= lines.length - 2 && summary === undefined) return;
      throw new RunDirError(`${where} is not valid JSON: ${(err as Error).message}`);
    }
    const type = (value as { type?: unknown } | null)?.type;
    if (type === 'train') {
      const t = check(trainLine, value, where);
      const prev = trainByStep.get(t.step);
      // One line per step is what the coordinator writes; should a step come in parts, merge them.
      trainByStep.set(t.step, prev ? mergeTrain(prev, t) : t);
    } else if (type === 'eval') {
      const e = check(evalLine, value, where);
      const merged = evalsByStep.get(e.step) ?? { step: e.step, time: e.time, metrics: {} };
      merged.time = Math.max(merged.time, e.time);
      Object.assign(merged.metrics, e.metrics);
      evalsByStep.set(e.step, merged);
    } else if (typeof value === 'object' && value !== null && typeof type === 'string') {
      otherLines++;
      if (type === 'restart') {
        const r = value as { step?: unknown; world?: unknown; reason?: unknown };
        if (typeof r.step === 'number' && typeof r.world === 'number') restarts.push({ step: r.step, world: r.world, reason: typeof r.reason === 'string' ? r.reason : '' });
      }
    } else {
      throw new RunDirError(`${where} is malformed: expected an object with a "type" field`);
    }
  });
  const train = [...trainByStep.values()].sort((a, b) => a.step - b.step);
  const evals = [...evalsByStep.values()].sort((a, b) => a.step - b.step);
  return { dir, config, ...(summary ? { summary } : {}), train, evals, otherLines, restarts };
}

function mergeTrain(a: TrainPoint, b: TrainPoint): TrainPoint {
  const sum = (x?: number, y?: number) => (x === undefined && y === undefined ? undefined : (x ?? 0) + (y ?? 0));
  const max = (x?: number, y?: number) => (x === undefined && y === undefined ? undefined : Math.max(x ?? -Infinity, y ?? -Infinity));
  const out: TrainPoint = { ...a, ...b, time: Math.max(a.time, b.time), losses: { ...a.losses, ...b.losses } };
  const set = (k: 'samples' | 'bytesSent' | 'computeMs' | 'commMs' | 'updateMs', v: number | undefined) => {
    if (v === undefined) delete out[k];
    else out[k] = v;
  };
  set('samples', sum(a.samples, b.samples));
  set('bytesSent', sum(a.bytesSent, b.bytesSent));
  set('computeMs', max(a.computeMs, b.computeMs));
  set('commMs', max(a.commMs, b.commMs));
  set('updateMs', max(a.updateMs, b.updateMs));
  return out;
}

/** Labels: the variant, or the run id when variants repeat, or the directory name when those repeat too. */
export function labelRuns(runs: LoadedRun[]): string[] {
  const unique = (xs: string[]) => new Set(xs).size === xs.length;
  const variants = runs.map((r) => r.config.run.variant);
  if (unique(variants)) return variants;
  const ids = runs.map((r) => r.config.run.runId);
  if (unique(ids)) return ids;
  const names = runs.map((r) => basename(r.dir));
  if (unique(names)) return names;
  return runs.map((r, i) => `${r.config.run.variant}#${i + 1}`);
}
