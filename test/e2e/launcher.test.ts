import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runLocalCluster } from '@mtl/cli';
import { runConfigSchema } from '@mtl/protocol';
import { MtlProcess, readJson, tempDir } from './harness';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], ms = 15_000): Promise<number[]> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pids.every((p) => !alive(p))) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids.filter(alive);
}

const longRun = ['--steps', '100000', '--batch-size', '64', '--examples', '2048', '--trunk', '32', '--backend', 'cpu'];

describe('mtl train as a process tree', () => {
  it('Ctrl-C stops every child, keeps the run data and reports the run as aborted', async () => {
    const out = join(tempDir('sigint'), 'run');
    const train = new MtlProcess(['train', '--workers', '2', '--out', out, ...longRun]);
    await train.waitFor(/step \d+\/100000/, 90_000);
    const pids = readJson(join(out, 'config.json')).workers.map((w: any) => w.pid as number);
    train.child.kill('SIGINT');
    const res = await train.exit;
    expect(res.code).toBe(130);
    expect(await waitGone(pids)).toEqual([]);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('aborted');
    expect(summary.error).toMatch(/interrupted/);
  });

  it('a crashed worker stops the run with a message naming it and leaves no process behind', async () => {
    const out = join(tempDir('crash'), 'run');
    const train = new MtlProcess(['train', '--workers', '3', '--out', out, ...longRun]);
    await train.waitFor(/step \d+\/100000/, 90_000);
    const workers = readJson(join(out, 'config.json')).workers as Array<{ rank: number; pid: number }>;
    process.kill(workers[2]!.pid, 'SIGKILL');
    const res = await train.exit;
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/run failed: worker worker-2 \(rank 2, host 127\.0\.0\.1, pid \d+\) disconnected/);
    expect(await waitGone(workers.map((w) => w.pid))).toEqual([]);
    expect(readJson(join(out, 'summary.json')).status).toBe('failed');
  });

  it('a worker that dies before it joins fails the run naming it, instead of the coordinator waiting for another', async () => {
    const out = join(tempDir('early-exit'), 'run');
    const config = runConfigSchema.parse({ runId: 'early-exit', steps: 5, batchSize: 32, backend: 'cpu' });
    // An unknown flag: every worker process exits with code 1 at start, before it connects.
    const code = await runLocalCluster({ config, workers: 2, outDir: out, logFormat: 'json', report: false, workerArgs: ['--no-such-flag'] });
    expect(code).toBe(1);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/worker-[01] exited with code 1 before the ring formed/);
  });
});

