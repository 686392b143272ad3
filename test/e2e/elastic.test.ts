import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MtlProcess, finalParams, mtl, readJson, readJsonl, tempDir } from './harness';

const workload = ['--steps', '2000', '--batch-size', '64', '--examples', '2048', '--trunk', '32', '--tasks', 'y:regression,c:binary', '--seed', '9', '--backend', 'cpu', '--checkpoint-every', '100'];

/** The run in `out` ends with the bits of resuming its checkpoint of step `from` with `workers` workers (in a copy under `dir`). */
async function expectSameAsResumed(dir: string, out: string, from: number, workers: number): Promise<void> {
  const again = join(dir, 'resumed');
  mkdirSync(join(again, 'checkpoints'), { recursive: true });
  copyFileSync(join(out, 'config.json'), join(again, 'config.json'));
  cpSync(join(out, 'checkpoints', `step-${from}`), join(again, 'checkpoints', `step-${from}`), { recursive: true });
  const r = await mtl(['train', '--resume', again, '--workers', String(workers)]);
  expect(r.code, r.stderr).toBe(0);
  expect(Buffer.from(finalParams(again).buffer).equals(Buffer.from(finalParams(out).buffer))).toBe(true);
}

describe('elastic training (--max-restarts)', () => {
  it('a worker killed mid-run: the ring is re-formed from the two left, the run continues from the newest checkpoint and completes', async () => {
    const dir = tempDir('elastic');
    const out = join(dir, 'run');
    const train = new MtlProcess(['train', '--workers', '3', '--max-restarts', '1', '--out', out, ...workload]);
    await train.waitFor(/checkpoint written to checkpoints\/step-300/, 90_000);
    const workers = readJson(join(out, 'config.json')).workers as Array<{ rank: number; pid: number; name: string }>;
    process.kill(workers[1]!.pid, 'SIGKILL');
    const res = await train.exit;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/worker worker-1 \(rank 1, host 127\.0\.0\.1, pid \d+\) disconnected at step \d+ \(code \d+\); re-forming the ring with the 2 worker\(s\) left \(restart 1 of 1\)/);
    expect(res.stderr).toMatch(/continuing from the checkpoint of step \d+ with 2 worker\(s\)/);

    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    expect(summary.restarts).toBe(1);
    expect(summary.world).toBe(2);
    expect(summary.steps).toBe(2000);
    expect(summary.samples).toBe(2000 * 64); // the steps done again after the checkpoint count once
    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const restart = lines.filter((l) => l.type === 'restart');
    expect(restart.length).toBe(1);
    const from = restart[0].step as number;
    expect(from % 100).toBe(0);
    expect(from).toBeGreaterThanOrEqual(300);
    expect(restart[0].world).toBe(2);
    // Every step once in the log, and the two survivors kept their processes.
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
    const after = readJson(join(out, 'config.json')).workers as Array<{ pid: number; name: string }>;
    expect(after.map((w) => w.name)).toEqual(['worker-0', 'worker-2']);
    expect(after.map((w) => w.pid)).toEqual([workers[0]!.pid, workers[2]!.pid]);

    // The run's page says it was re-formed, from where and why.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toContain('<h2>Restarts</h2>');
    expect(report).toMatch(new RegExp(`re-formed with 2 workers, continuing from step ${from}: worker worker-1 \\(rank 1`));

    // Elastic continuation = resuming that checkpoint with two workers: the same bits.
    await expectSameAsResumed(dir, out, from, 2);
  });

  it('parallel variant: a worker of a two-worker task group killed mid-run; the groups are placed again for the two left and the run completes as a resume with two would', async () => {
    const dir = tempDir('elastic-parallel');
    const out = join(dir, 'run');
    // Round-robin over three workers: y = [0, 2], c = [1]; after the loss y = [0], c = [1].
    const train = new MtlProcess(['train', '--variant', 'parallel', '--workers', '3', '--max-restarts', '1', '--out', out, ...workload]);
    await train.waitFor(/checkpoint written to checkpoints\/step-300/, 90_000);
    const before = readJson(join(out, 'config.json'));
    expect(before.placement).toEqual({ y: [0, 2], c: [1] });
    const workers = before.workers as Array<{ rank: number; pid: number; name: string }>;
    process.kill(workers[2]!.pid, 'SIGKILL');
    const res = await train.exit;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/worker worker-2 \(rank 2, host 127\.0\.0\.1, pid \d+\) disconnected at step \d+ .*re-forming the ring with the 2 worker\(s\) left \(restart 1 of 1\)/);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', restarts: 1, world: 2, steps: 2000, placement: { y: [0], c: [1] } });
    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const restart = lines.filter((l) => l.type === 'restart');
    expect(restart.length).toBe(1);
    const from = restart[0].step as number;
    expect(from).toBeGreaterThanOrEqual(300);
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
    const after = readJson(join(out, 'config.json'));
    expect(after.placement).toEqual({ y: [0], c: [1] });
    expect((after.workers as Array<{ pid: number }>).map((w) => w.pid)).toEqual([workers[0]!.pid, workers[1]!.pid]);
    await expectSameAsResumed(dir, out, from, 2);
  });

  it('parallel variant with --placement: a lost worker fails the run (the placement names its ranks)', async () => {
    const out = join(tempDir('elastic-placed'), 'run');
    const train = new MtlProcess(['train', '--variant', 'parallel', '--workers', '3', '--placement', 'y=0,2;c=1', '--max-restarts', '1', '--out', out, ...workload]);
    await train.waitFor(/checkpoint written to checkpoints\/step-100/, 90_000);
    const workers = readJson(join(out, 'config.json')).workers as Array<{ pid: number }>;
    process.kill(workers[2]!.pid, 'SIGKILL');
    const res = await train.exit;
    expect(res.code).toBe(1);
    expect(readJson(join(out, 'summary.json'))).toMatchObject({ status: 'failed' });
    expect(res.stderr).toMatch(/run failed: worker worker-2 \(rank 2, host 127\.0\.0\.1, pid \d+\) disconnected/);
  });

  it('a frozen worker (SIGSTOP: no disconnect, its peers stuck in a collective) is found by its missed heartbeats and left out', async () => {
    const dir = tempDir('elastic-frozen');
    const runFile = join(dir, 'run.json');
    writeFileSync(runFile, JSON.stringify({ heartbeatTimeout: 2 }));
    const out = join(dir, 'run');
    const train = new MtlProcess(['train', '--config', runFile, '--workers', '3', '--max-restarts', '1', '--out', out, ...workload]);
    await train.waitFor(/checkpoint written to checkpoints\/step-300/, 90_000);
    const frozen = (readJson(join(out, 'config.json')).workers as Array<{ pid: number }>)[2]!.pid;
    process.kill(frozen, 'SIGSTOP');
    try {
      await train.waitFor(/worker worker-2 \(rank 2, host 127\.0\.0\.1, pid \d+\) missed heartbeats for 2s at step \d+; re-forming the ring with the 2 worker\(s\) left/, 60_000);
    } finally {
      process.kill(frozen, 'SIGKILL');
    }
    const res = await train.exit;
    expect(res.code, res.stderr).toBe(0);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    expect(summary.restarts).toBe(1);
    expect(summary.world).toBe(2);
    expect(readJsonl(join(out, 'metrics.jsonl')).filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
  });

  it('without restarts left, a lost worker still fails the run, naming it', async () => {
    const out = join(tempDir('elastic-fail'), 'run');
    const train = new MtlProcess(['train', '--workers', '2', '--max-restarts', '0', '--out', out, ...workload]);
    await train.waitFor(/checkpoint written to checkpoints\/step-100/, 90_000);
    const workers = readJson(join(out, 'config.json')).workers as Array<{ pid: number }>;
    process.kill(workers[1]!.pid, 'SIGKILL');
    const res = await train.exit;
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/run failed: worker worker-1 \(rank 1, host 127\.0\.0\.1, pid \d+\) disconnected/);
    expect(readJson(join(out, 'summary.json')).status).toBe('failed');
  });
});

describe('elastic growth (--max-workers)', () => {
  const SECRET = { MTL_SECRET: 'grow-the-ring-secret-0123' };
  const running: MtlProcess[] = [];
  const start = (args: string[]) => {
    const p = new MtlProcess(args, SECRET);
    running.push(p);
    return p;
  };
  afterEach(() => {
    for (const p of running.splice(0)) p.kill('SIGKILL');
  });
  const worker = (url: string, name: string) => start(['worker', '--coordinator', url, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--name', name]);
  /** A coordinator that admits a third worker, its ring of two (alpha, beta) past the checkpoint of step 200. */
  const ringOfTwoPastStep200 = async (out: string, flags: string[] = []) => {
    const coord = start(['coordinator', ...flags, '--workers', '2', '--max-workers', '3', '--host', '127.0.0.1', '--port', '0', '--out', out, ...workload]);
    const url = `ws://127.0.0.1:${(await coord.waitFor(/coordinator listening.*port=(\d+)/))[1]}`;
    worker(url, 'alpha');
    worker(url, 'beta');
    await coord.waitFor(/checkpoint written to checkpoints\/step-200/, 90_000);
    return { coord, url };
  };

  it('a worker that joins a running ring enters it at the next checkpoint; the run continues from there with three, as a resume with three would', async () => {
    const dir = tempDir('elastic-grow');
    const out = join(dir, 'run');
    const { coord, url } = await ringOfTwoPastStep200(out);
    const before = readJson(join(out, 'config.json')).workers as Array<{ pid: number; name: string }>;
    const gamma = worker(url, 'gamma');
    await coord.waitFor(/worker gamma \(.*\) joined the running ring \(3 of at most 3\); the ring takes it in at the next checkpoint/, 30_000);
    // A fourth is refused, naming the limit; the run goes on.
    const delta = await mtl(['worker', '--coordinator', url, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--name', 'delta'], SECRET);
    expect(delta.code).not.toBe(0);
    // (gamma may have entered by then: the ring is 2 with one waiting, or 3)
    expect(delta.stderr).toMatch(/refused this worker: run .* has already formed its ring of (2 and 1 waiting to join|3); --max-workers is 3/);
    const [res, g] = await Promise.all([coord.exit, gamma.exit]);
    expect(res.code, res.stderr).toBe(0);
    expect(g.code, g.stderr).toBe(0);
    expect(res.stderr).toMatch(/worker gamma \(.*\) joined; re-forming the ring with 3 worker\(s\)/);

    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    expect(summary.world).toBe(3);
    expect(summary.restarts).toBeUndefined(); // growing is not a restart after a loss
    expect(summary.steps).toBe(2000);
    expect(summary.samples).toBe(2000 * 64);
    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const restart = lines.filter((l) => l.type === 'restart');
    expect(restart.length).toBe(1);
    const from = restart[0].step as number;
    expect(from % 100).toBe(0);
    expect(from).toBeGreaterThan(200);
    expect(restart[0].world).toBe(3);
    expect(restart[0].reason).toMatch(/worker gamma .* joined/);
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
    // The two kept their processes; the third is the joiner.
    const after = readJson(join(out, 'config.json')).workers as Array<{ pid: number; name: string }>;
    expect(after.map((w) => w.name).sort()).toEqual(['alpha', 'beta', 'gamma']);
    for (const w of before) expect(after.find((a) => a.name === w.name)!.pid).toBe(w.pid);
    expect(after.find((a) => a.name === 'gamma')!.pid).toBe(gamma.child.pid);

    // Growing = resuming that checkpoint with three workers: the same bits.
    await expectSameAsResumed(dir, out, from, 3);
  });

  it('parallel variant: a joiner enters at the next checkpoint with the task groups placed again for three', async () => {
    const dir = tempDir('elastic-grow-parallel');
    const out = join(dir, 'run');
    const { coord, url } = await ringOfTwoPastStep200(out, ['--variant', 'parallel']);
    expect(readJson(join(out, 'config.json')).placement).toEqual({ y: [0], c: [1] });
    const gamma = worker(url, 'gamma');
    const [res, g] = await Promise.all([coord.exit, gamma.exit]);
    expect(res.code, res.stderr).toBe(0);
    expect(g.code, g.stderr).toBe(0);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary).toMatchObject({ status: 'completed', world: 3, steps: 2000, placement: { y: [0, 2], c: [1] } });
    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const restart = lines.filter((l) => l.type === 'restart');
    expect(restart.length).toBe(1);
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
    await expectSameAsResumed(dir, out, restart[0].step as number, 3);
  });

  it('a joiner the others cannot reach is sent away, and the ring forms again without it from the same checkpoint', async () => {
    const dir = tempDir('elastic-bad-joiner');
    const out = join(dir, 'run');
    const { coord, url } = await ringOfTwoPastStep200(out);
    // It listens on 127.0.0.1 but tells its peers 127.0.0.2 (over TCP, so no Unix socket saves it): they are refused until their 30 s run out.
    const gamma = start(['worker', '--coordinator', url, '--advertise', '127.0.0.2', '--bind', '127.0.0.1', '--data-transport', 'tcp', '--name', 'gamma']);
    const [res, g] = await Promise.all([coord.exit, gamma.exit]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/the ring did not form with worker gamma \(.*\) \(.*\); re-forming it without them/);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toMatch(/waiting for peer 0 .* to connect to rank 2/);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    expect(summary.world).toBe(2);
    expect(summary.steps).toBe(2000);
    expect(summary.samples).toBe(2000 * 64);
    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const restarts = lines.filter((l) => l.type === 'restart');
    expect(restarts.map((r) => r.world)).toEqual([3, 2]);
    expect(restarts[1].step).toBe(restarts[0].step);
    expect(lines.filter((l) => l.type === 'train').map((l) => l.step)).toEqual([...Array(2000).keys()]);
  }, 120_000);

  it('a joiner still waiting when the run ends is sent home with the run\'s status', async () => {
    const out = join(tempDir('elastic-late-joiner'), 'run');
    // No checkpoint before the end: the joiner waits for one that never comes.
    const coord = start(['coordinator', '--workers', '1', '--max-workers', '2', '--host', '127.0.0.1', '--port', '0', '--out', out, ...workload, '--checkpoint-every', '100000', '--steps', '6000']);
    const url = `ws://127.0.0.1:${(await coord.waitFor(/coordinator listening.*port=(\d+)/))[1]}`;
    worker(url, 'alpha');
    await coord.waitFor(/ring of 1 ready/, 60_000);
    const late = worker(url, 'late');
    await coord.waitFor(/worker late \(.*\) joined the running ring \(2 of at most 2\)/, 30_000);
    // The status endpoint shows it waiting.
    const status = (await (await fetch(url.replace('ws:', 'http:') + '/status')).json()) as { joined: number; maxWorkers: number; waitingToJoin: string[] };
    expect(status.joined).toBe(1);
    expect(status.maxWorkers).toBe(2);
    expect(status.waitingToJoin).toEqual([expect.stringMatching(/^worker late \(host 127\.0\.0\.1, pid \d+\)$/)]);
    const [res, l] = await Promise.all([coord.exit, late.exit]);
    expect(res.code, res.stderr).toBe(0);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toMatch(/the run ended \(completed\) before this worker entered the ring/);
    expect(readJson(join(out, 'summary.json')).world).toBe(1);
  });

  it('without --max-workers, or beyond it, a worker that comes late is refused with the reason', async () => {
    const out = join(tempDir('elastic-nogrow'), 'run');
    const coord = start(['coordinator', '--workers', '1', '--host', '127.0.0.1', '--port', '0', '--out', out, ...workload]);
    const url = `ws://127.0.0.1:${(await coord.waitFor(/coordinator listening.*port=(\d+)/))[1]}`;
    worker(url, 'alpha');
    await coord.waitFor(/checkpoint written to checkpoints\/step-100/, 90_000);
    const late = await mtl(['worker', '--coordinator', url, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--name', 'late'], SECRET);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toMatch(/has already formed its ring of 1; not admitting \(a coordinator started with --max-workers lets workers join a running ring\)/);
    const res = await coord.exit;
    expect(res.code, res.stderr).toBe(0);
    expect(readJson(join(out, 'summary.json')).world).toBe(1);
    const bad = await mtl(['coordinator', '--workers', '3', '--max-workers', '2', '--port', '0', ...workload], SECRET);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--max-workers 2 is below --workers 3/);
  });
});
