import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI = resolve(__dirname, '..', '..', 'packages', 'cli', 'bin', 'mtl.js');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mtl-${prefix}-`));
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running `mtl` process with its output captured and a way to wait for a line. */
export class MtlProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly watchers: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  readonly exit: Promise<Exit>;

  /** `netns`: run inside that network namespace (`ip netns exec`, which execs node: same pid). */
  constructor(args: string[], env: Record<string, string> = {}, opts: { netns?: string } = {}) {
    const argv = [process.execPath, CLI, ...args];
    this.child = opts.netns
      ? spawn('ip', ['netns', 'exec', opts.netns, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const onLine = (which: 'stdout' | 'stderr') => (line: string) => {
      this[which] += line + '\n';
      for (const w of [...this.watchers]) {
        const m = line.match(w.re);
        if (m) {
          this.watchers.splice(this.watchers.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine('stdout'));
    createInterface({ input: this.child.stderr! }).on('line', onLine('stderr'));
    this.exit = new Promise((res) =>
      this.child.on('close', (code, signal) => res({ code, signal, stdout: this.stdout, stderr: this.stderr })),
    );
  }

  /** Resolve when a line of output matches (or reject when the process exits first / times out). */
  waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const existing = (this.stdout + this.stderr).split('\n').map((l) => l.match(re)).find(Boolean);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}\n--- output ---\n${this.stdout}${this.stderr}`)), timeoutMs);
      this.watchers.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      void this.exit.then((e) => {
        clearTimeout(timer);
        reject(new Error(`process exited (${e.code ?? e.signal}) before ${re}\n--- output ---\n${e.stdout}${e.stderr}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export function mtl(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return new MtlProcess(args, env).exit;
}

export function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

export function readJsonl<T = any>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

export function readFloat32(file: string): Float32Array {
  const b = readFileSync(file);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

/** Final parameters of a run: the checkpoint written with the final model. */
export function finalParams(runDir: string): Float32Array {
  const summary = readJson(join(runDir, 'summary.json'));
  const file = join(runDir, 'checkpoints', `step-${summary.steps}`, 'params.bin');
  if (!existsSync(file)) throw new Error(`no final checkpoint at ${file}`);
  return readFloat32(file);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
