import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { allowedCpus, formatCpuList } from '@mtl/native';
import { formatLogLine, generateSecret, type LogFormat, type RunConfig } from '@mtl/protocol';

export interface LocalClusterOptions {
  config: RunConfig;
  workers: number;
  outDir: string;
  logFormat: LogFormat;
  /** Continue the run in outDir from its newest checkpoint. */
  resume?: boolean;
  /** Extra arguments for every worker (e.g. a backend override). */
  workerArgs?: string[];
  /** CPU pinning of the workers: 'auto' (default), 'none', or one CPU id per worker in rank order. */
  cpuAffinity?: CpuAffinity;
  /** Write report.html at the end (default true). */
  report?: boolean;
  /** Elastic: re-form the ring without a lost worker at most this many times (coordinator --max-restarts). */
  maxRestarts?: number;
}

export type CpuAffinity = 'auto' | 'none' | number[];

/**
 * The CPU each worker is pinned to, or null for none. 'auto' pins worker i to the i-th CPU this
 * process may use when there are at least two workers and no more workers than CPUs (as MPI
 * launchers bind ranks to cores): a rank's ring thread then shares its own rank's core instead of
 * preempting the other rank's backward pass, which evens out when the ranks reach each all-reduce
 * (measured: W=2 on 2 cores 32.5 -> 30.9 ms a step). One worker alone, or more workers than
 * CPUs, is left to the scheduler.
 */
export function workerCpus(mode: CpuAffinity, workers: number, allowed: number[] | null): Array<number | null> {
  if (mode === 'none') return Array(workers).fill(null);
  if (mode === 'auto') {
    if (!allowed || workers < 2 || workers > allowed.length) return Array(workers).fill(null);
    return allowed.slice(0, workers);
  }
  if (mode.length !== workers) throw new Error(`--cpu-affinity lists ${mode.length} CPU${mode.length === 1 ? '' : 's'} for ${workers} worker${workers === 1 ? '' : 's'} (give one per worker, or auto, or none)`);
  if (allowed) {
    const bad = mode.filter((c) => !allowed.includes(c));
    if (bad.length) throw new Error(`--cpu-affinity: CPU ${formatCpuList(bad)} is not available here (this process may run on ${formatCpuList(allowed)})`);
  }
  return [...mode];
}

const CLI = join(__dirname, '..', 'bin', 'mtl.js');

/**
 * `mtl train`: one coordinator and N workers as separate processes on loopback. Their logs come back
 * with a rank prefix; the launcher exits with the coordinator's status; Ctrl-C or a crashed child takes
 * every child down, and each child exits on its own if the launcher dies (IPC disconnect).
 */
export async function runLocalCluster(opts: LocalClusterOptions): Promise<number> {
  const cpus = workerCpus(opts.cpuAffinity ?? 'auto', opts.workers, allowedCpus());
  const secret = generateSecret();
  const env = { ...process.env, MTL_SECRET: secret };
  const children: ChildProcess[] = [];
  const forward = (child: ChildProcess, prefix: string) => {
    createInterface({ input: child.stderr! }).on('line', (line) =>
      process.stderr.write((opts.logFormat === 'json' ? line : formatLogLine(line, prefix)) + '\n'),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => process.stdout.write(line + '\n'));
  };
  // One exit promise per child, made at spawn time, so a child that is already gone is never awaited anew.
  const exits = new Map<ChildProcess, Promise<number>>();
  const track = (child: ChildProcess) =>
    exits.set(child, new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (signalNumber(signal) ?? 1) : 1)))));
  const exited = (child: ChildProcess) => exits.get(child)!;

  const coordinator = spawn(
    process.execPath,
    [CLI, 'coordinator', '--workers', String(opts.workers), '--host', '127.0.0.1', '--port', '0', '--out', opts.outDir, '--log-format', 'json', '--config-json', JSON.stringify(opts.config), ...(opts.resume ? ['--resume', opts.outDir] : []), ...(opts.report === false ? ['--no-report'] : []), ...(opts.maxRestarts ? ['--max-restarts', String(opts.maxRestarts)] : [])],
    { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
  );
  children.push(coordinator);
  track(coordinator);
  forward(coordinator, '[coord]  ');
  const coordinatorExit = exited(coordinator);

  let interrupted = false;
  const killAll = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return killAll('SIGKILL');
    interrupted = true;
    process.stderr.write(`\nmtl train: ${signal}, stopping the cluster (again to force)\n`);
    killAll(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const port = await new Promise<number>((resolve, reject) => {
      coordinator.on('message', (m: { type?: string; port?: number }) => {
        if (m && m.type === 'listening' && typeof m.port === 'number') resolve(m.port);
      });
      coordinatorExit.then((code) => reject(new Error(`coordinator exited with code ${code} before listening`)));
    });
    for (let i = 0; i < opts.workers; i++) {
      const worker = spawn(
        process.execPath,
        [CLI, 'worker', '--coordinator', `ws://127.0.0.1:${port}`, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--rank-hint', String(i), '--name', `worker-${i}`, '--log-format', 'json', ...(cpus[i] !== null ? ['--cpu-affinity', String(cpus[i])] : []), ...(opts.workerArgs ?? [])],
        { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
      );
      children.push(worker);
      track(worker);
      forward(worker, `[rank ${i}] `);
      void exited(worker).then((code) => {
        if (code === 0) return;
        // A worker that dies once it joined is reported by the coordinator (it sees the socket
        // close); one that dies before it joined only the launcher sees, so it tells the
        // coordinator; if the coordinator is already gone, nothing else will stop the rest.
        if (coordinator.exitCode !== null) killAll('SIGTERM');
        else if (coordinator.connected) coordinator.send({ type: 'worker-exited', name: `worker-${i}`, code });
      });
    }
    const code = await coordinatorExit;
    // Workers leave after the coordinator's shutdown order; give them a moment, then make sure.
    const grace = setTimeout(() => killAll('SIGKILL'), 10_000);
    await Promise.all(children.map(exited));
    clearTimeout(grace);
    return code;
  } catch (err) {
    killAll('SIGTERM');
    const force = setTimeout(() => killAll('SIGKILL'), 5_000);
    await Promise.all(children.map(exited));
    clearTimeout(force);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return (require('node:os').constants.signals as Record<string, number>)[signal];
}
