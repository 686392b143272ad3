import { mkdirSync, renameSync, rmSync, writeFileSync, openSync, writeSync, closeSync, fsyncSync, existsSync, readdirSync } from 'node:fs';
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
