// Predictions of a trained run's saved model (model/, TensorFlow.js layers format) on the run's
// own validation or training split, or on a CSV / JSON-lines file; with labels present, the
// task metrics too, computed as the run's validation computes them.
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { loadCsv, loadJsonl, type Dataset } from '@mtl/data';
import { fileSystemHandler, metricsFor, outputDim, selectBackend, type BackendName } from '@mtl/mtl';
import { describeIssues, runConfigSchema, type RunConfig } from '@mtl/protocol';
import { datasetsFor } from '@mtl/worker';

export class PredictError extends Error {}

export interface PredictOptions {
  runDir: string;
  /** A CSV / JSONL file with the run's feature columns (labels optional); default: the run's own data. */
  data?: string;
  /** Split of the run's own data (ignored with `data`). */
  split: 'val' | 'train';
  /** Where the rows go: .jsonl (default) or .csv. */
  out: string;
  backend?: BackendName;
}

export interface PredictResult {
  source: string;
  rows: number;
  out: string;
  /** Per task, over the rows that carry its label; absent when none does. */
  metrics: Record<string, Record<string, number>>;
  labelled: Record<string, number>;
}

const CHUNK = 1024;

function readRun(runDir: string): { config: RunConfig; inputDim: number } {
  const file = join(runDir, 'config.json');
  if (!existsSync(file)) throw new PredictError(`${runDir} is not a run directory: ${file} is missing`);
  let raw: { run?: unknown; inputDim?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PredictError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = runConfigSchema.safeParse(raw.run);
  if (!parsed.success) throw new PredictError(`${file}: run is malformed: ${describeIssues(parsed.error.issues)}`);
  if (typeof raw.inputDim !== 'number') throw new PredictError(`${file}: inputDim is missing`);
  return { config: parsed.data, inputDim: raw.inputDim };
}

function loadData(opts: PredictOptions, config: RunConfig): { ds: Dataset; source: string } {
  const tasks = config.tasks.map((t) => ({ name: t.name, type: t.type }));
  if (opts.data) {
    const path = resolve(opts.data);
    const ext = extname(path).toLowerCase();
    const d = config.data;
    if (ext === '.csv') {
      const cols = d.source === 'csv' ? { ...(d.labelColumns ? { labelColumns: d.labelColumns } : {}), ...(d.featureColumns ? { featureColumns: d.featureColumns } : {}) } : {};
      return { ds: loadCsv(path, { tasks, ...cols, labelsOptional: true }), source: path };
    }
    if (ext === '.jsonl' || ext === '.json') {
      return { ds: loadJsonl(path, { tasks, ...(d.source === 'jsonl' && d.featuresField ? { featuresField: d.featuresField } : {}) }), source: path };
    }
    throw new PredictError(`--data ${opts.data}: expected a .csv or .jsonl file`);
  }
  if (config.variant === 'parallel') {
    throw new PredictError('the parallel variant trained each task on its own data, so the run has no one dataset to predict on; give --data FILE');
  }
  const { train, val } = datasetsFor(config);
  return { ds: opts.split === 'train' ? train : val, source: `the run's ${opts.split === 'train' ? 'training' : 'validation'} split (${config.data.source} data)` };
}

export async function predict(opts: PredictOptions): Promise<PredictResult> {
  const runDir = resolve(opts.runDir);
  const { config, inputDim } = readRun(runDir);
  const modelDir = join(runDir, 'model');
  if (!existsSync(join(modelDir, 'model.json'))) throw new PredictError(`${runDir} has no saved model (${join(modelDir, 'model.json')} is missing; the run wrote none)`);
  const { ds, source } = loadData(opts, config);
  if (ds.inputDim !== inputDim) throw new PredictError(`${source} has ${ds.inputDim} features per example, the model takes ${inputDim}`);

  const { tf } = await selectBackend(opts.backend ?? config.backend);
  const model = await tf.loadLayersModel(fileSystemHandler(modelDir));
  const tasks = config.tasks;
  const classes = tasks.map((t) => outputDim(t.type));
  const metric = tasks.map((t) => metricsFor({ name: t.name, type: t.type }));
  const states = metric.map((m) => new Float64Array(m.stateSize));
  const labelled: Record<string, number> = Object.fromEntries(tasks.map((t) => [t.name, 0]));
  const csv = extname(opts.out).toLowerCase() === '.csv';
  const stream = createWriteStream(opts.out);
  const write = (line: string) => (stream.write(line) ? Promise.resolve() : new Promise<void>((r) => stream.once('drain', () => r())));
  if (csv) {
    const cols = ['row', ...tasks.flatMap((t, k) => (classes[k]! > 1 ? [`${t.name}_class`, ...Array.from({ length: classes[k]! }, (_, c) => `${t.name}_p${c}`)] : [t.name]))];
    await write(cols.join(',') + '\n');
  }
  try {
    for (let lo = 0; lo < ds.size; lo += CHUNK) {
      const n = Math.min(CHUNK, ds.size - lo);
      const x = ds.features.subarray(lo * inputDim, (lo + n) * inputDim);
      const outs = tf.tidy(() => {
        const y = model.predict(tf.tensor2d(x, [n, inputDim]));
        return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array);
      });
      tasks.forEach((t, k) => {
        const mask = ds.mask?.[t.name];
        const m = new Float32Array(n);
        for (let i = 0; i < n; i++) m[i] = mask ? mask[lo + i]! : 1;
        labelled[t.name]! += m.reduce((a, b) => a + b, 0);
        metric[k]!.accumulate(states[k]!, outs[k]!, ds.labels[t.name]!.subarray(lo, lo + n), m, n);
      });
      let text = '';
      for (let i = 0; i < n; i++) {
        if (csv) {
          const cells: string[] = [String(lo + i)];
          tasks.forEach((_, k) => {
            const K = classes[k]!;
            if (K === 1) cells.push(String(outs[k]![i]));
            else {
              const p = outs[k]!.subarray(i * K, (i + 1) * K);
              cells.push(String(argmax(p)), ...Array.from(p, String));
            }
          });
          text += cells.join(',') + '\n';
        } else {
          const row: Record<string, unknown> = { row: lo + i };
          tasks.forEach((t, k) => {
            const K = classes[k]!;
            if (K === 1) row[t.name] = outs[k]![i];
            else {
              const p = Array.from(outs[k]!.subarray(i * K, (i + 1) * K));
              row[t.name] = { class: argmax(p), probabilities: p };
            }
            const mask = ds.mask?.[t.name];
            if (!mask || mask[lo + i]) row[`${t.name}_label`] = ds.labels[t.name]![lo + i];
          });
          text += JSON.stringify(row) + '\n';
        }
      }
      await write(text);
    }
  } finally {
    model.dispose();
    await new Promise<void>((r) => stream.end(() => r()));
  }
  const metrics: Record<string, Record<string, number>> = {};
  tasks.forEach((t, k) => {
    if (labelled[t.name]! > 0) metrics[t.name] = metric[k]!.finalize(states[k]!);
  });
  return { source, rows: ds.size, out: opts.out, metrics, labelled };
}

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c]! > p[best]!) best = c;
  return best;
}
