import { mkdirSync, renameSync, rmSync, writeFileSync, openSync, writeSync, closeSync, fsyncSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The artifacts of one run. Every whole-file write goes to a temporary name first and is renamed into
 * place, so a crash never leaves a half-written summary or checkpoint behind.
 */
export class RunDirectory {
  private metricsFd: number | undefined;

  constructor(readonly path: string) {
    mkdirSync(path, { recursive: true });
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.file(name), JSON.stringify(value, null, 2) + '\n');
  }

  /** One JSON object per line; appended synchronously so an abort keeps every step already seen. */
  appendMetrics(record: Record<string, unknown>): void {
    if (this.metricsFd === undefined) this.metricsFd = openSync(this.file('metrics.jsonl'), 'a');
    writeSync(this.metricsFd, JSON.stringify(record) + '\n');
  }

  /** Write a directory of files atomically: build it beside the target, then rename over it. */
  writeDirectory(name: string, files: Record<string, string | Uint8Array>): string {
    const target = this.file(name);
    const tmp = `${target}.tmp-${process.pid}`;
    mkdirSync(dirname(target), { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const [file, data] of Object.entries(files)) writeFileSync(join(tmp, file), data);
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
    return target;
  }

  listCheckpoints(): string[] {
    const dir = this.file('checkpoints');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((d) => /^step-\d+$/.test(d)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  }

  /**
   * Drop metric lines of steps at or after `step` (work done after the checkpoint a resumed run restarts
   * from, which the resumed run will do again); unparsable lines are kept as they are.
   */
  truncateMetricsFrom(step: number): { lines: number; trainSteps: number; samples: number } {
    const file = this.file('metrics.jsonl');
    const out = { lines: 0, trainSteps: 0, samples: 0 };
    if (!existsSync(file)) return out;
    this.close(); // the append descriptor reopens on the next line
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    const kept = lines.filter((l) => {
      try {
        const rec = JSON.parse(l) as { step?: number; type?: string; samples?: number };
        // A restart line is the run's history, not a step: every re-form keeps it.
        if (rec.type === 'restart') return true;
        const at = rec.type === 'eval' ? (rec.step ?? 0) - 1 : (rec.step ?? 0);
        if (at < step) return true;
        if (rec.type === 'train') {
          out.trainSteps++;
          out.samples += rec.samples ?? 0;
        }
        return false;
      } catch {
        return true;
      }
    });
    writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
    out.lines = lines.length - kept.length;
    return out;
  }

  /**
   * The per-task losses of steps 0 .. step-1 from metrics.jsonl, in step order, for an aggregator
   * that replays them on resume; an error names the first step that is missing.
   */
  stepLossesBefore(step: number): Array<Record<string, number>> {
    const file = this.file('metrics.jsonl');
    const byStep = new Map<number, Record<string, number>>();
    if (existsSync(file)) {
      for (const l of readFileSync(file, 'utf8').split('\n')) {
        if (!l.trim()) continue;
        let rec: { type?: string; step?: number; losses?: Record<string, number> };
        try {
          rec = JSON.parse(l);
        } catch {
          continue;
        }
        if (rec.type === 'train' && typeof rec.step === 'number' && rec.step < step && rec.losses) byStep.set(rec.step, { ...byStep.get(rec.step), ...rec.losses });
      }
    }
    const out: Array<Record<string, number>> = [];
    for (let s = 0; s < step; s++) {
      const losses = byStep.get(s);
      if (!losses) throw new Error(`${file} has no losses of step ${s}; a run whose aggregator depends on past losses (dwa, uw) resumes from them`);
      out.push(losses);
    }
    return out;
  }

  close(): void {
    if (this.metricsFd !== undefined) {
      fsyncSync(this.metricsFd);
      closeSync(this.metricsFd);
      this.metricsFd = undefined;
    }
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface Checkpoint {
  step: number;
  dir: string;
  params: Uint8Array;
  optimizer: { stepCount: number; buffers: Uint8Array[] };
  /** The aggregator's own state (GradNorm's weights, GradVac's cosine targets), where it keeps one. */
  aggregator?: number[];
  /** The aggregator that wrote `aggregator`, as aggregator.json names it. */
  aggregatorName?: string;
}

/** The newest complete checkpoint of a run directory, or undefined when it has none. */
export function latestCheckpoint(runDir: string): Checkpoint | undefined {
  const dir = new RunDirectory(runDir);
  const names = dir.listCheckpoints();
  const name = names[names.length - 1];
  if (!name) return undefined;
  const cdir = dir.file(join('checkpoints', name));
  const stateFile = join(cdir, 'state.json');
  let state: { step: number; optimizerStepCount: number; optimizerBuffers: number };
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (err) {
    throw new Error(`checkpoint ${stateFile} cannot be read: ${(err as Error).message}`);
  }
  const buffers: Uint8Array[] = [];
  for (let i = 0; i < state.optimizerBuffers; i++) buffers.push(readFileSync(join(cdir, `optimizer-${i}.bin`)));
  const aggregatorFile = join(cdir, 'aggregator.json');
  let aggregator: number[] | undefined;
  let aggregatorName: string | undefined;
  if (existsSync(aggregatorFile)) {
    try {
      const saved = JSON.parse(readFileSync(aggregatorFile, 'utf8'));
      aggregator = saved.state;
      if (typeof saved.aggregator === 'string') aggregatorName = saved.aggregator;
    } catch (err) {
      throw new Error(`checkpoint ${aggregatorFile} cannot be read: ${(err as Error).message}`);
    }
    if (!Array.isArray(aggregator) || aggregator.some((v) => typeof v !== 'number' || !Number.isFinite(v))) throw new Error(`checkpoint ${aggregatorFile}: "state" must be an array of finite numbers`);
  }
  return { step: state.step, dir: cdir, params: readFileSync(join(cdir, 'params.bin')), optimizer: { stepCount: state.optimizerStepCount, buffers }, ...(aggregator ? { aggregator } : {}), ...(aggregatorName ? { aggregatorName } : {}) };
}
