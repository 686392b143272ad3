import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Reassembler, createLogger, decodeMessage, encodeFrames, encodeMessage, proveSecret, runConfigSchema } from '@mtl/protocol';
import { Coordinator, RunDirectory, metricTable } from '../src';
import { WorkerLink, assignRanks } from '../src/worker-link';

const SECRET = 'coordinator-test-secret-000000';
const log = createLogger({ name: 'test', format: 'json', level: 'silent' });
let coordinators: Coordinator[] = [];

afterEach(async () => {
  await Promise.all(coordinators.map((c) => c.close()));
  coordinators = [];
});

function link(name: string, hint?: number): WorkerLink {
  return new WorkerLink(name, {} as WebSocket, name, 'h', 1, 1, hint, 'r');
}

describe('rank assignment', () => {
  it('honours unique in-range hints and fills the rest in join order', () => {
    const ls = [link('a'), link('b', 2), link('c', 2), link('d', 0), link('e', 9)];
    assignRanks(ls);
    expect(ls.map((l) => l.rank)).toEqual([1, 2, 3, 0, 4]);
  });
});

describe('run directory', () => {
  it('replaces a directory atomically and appends metrics line by line', () => {
    const dir = new RunDirectory(mkdtempSync(join(tmpdir(), 'mtl-rd-')));
    dir.writeDirectory('checkpoints/step-1', { 'a.bin': new Uint8Array([1, 2]) });
    dir.writeDirectory('checkpoints/step-1', { 'b.bin': new Uint8Array([3]) });
    expect(existsSync(dir.file('checkpoints/step-1/a.bin'))).toBe(false);
    expect(readFileSync(dir.file('checkpoints/step-1/b.bin'))).toEqual(Buffer.from([3]));
    dir.appendMetrics({ step: 0 });
    dir.appendMetrics({ step: 1 });
    dir.close();
    expect(readFileSync(dir.file('metrics.jsonl'), 'utf8')).toBe('{"step":0}\n{"step":1}\n');
    expect(dir.listCheckpoints()).toEqual(['step-1']);
  });
});

describe('metric table', () => {
  it('puts one task a row and the union of metrics in columns', () => {
    const t = metricTable({ a: { mse: 0.5, count: 10 }, b: { accuracy: 0.75 } }, { a: 0.25, b: 1 });
    expect(t.split('\n')[0]).toMatch(/^task\s+train loss\s+val mse\s+val count\s+val accuracy$/);
    expect(t).toMatch(/a\s+0\.2500\s+0\.5000\s+10\s+-/);
  });
});

describe('admission', () => {
  async function start(workers: number) {
    const out = mkdtempSync(join(tmpdir(), 'mtl-coord-'));
    const c = new Coordinator({ config: runConfigSchema.parse({ runId: 'adm' }), workers, host: '127.0.0.1', port: 0, secret: SECRET, outDir: out, logger: log });
    coordinators.push(c);
    return { c, port: await c.listen(), out };
  }

  async function joinAs(port: number, secret: string, name: string) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const msgs: any[] = [];
    await new Promise<void>((res) =>
      ws.on('message', (d) => {
        const m = decodeMessage(d as Buffer);
        msgs.push(m);
        if (m.type === 'challenge') {
          ws.send(encodeMessage({ type: 'hello', proof: proveSecret(secret, m.nonce, 'worker'), name, host: '127.0.0.1', dataPort: 9000, pid: 1 }));
        } else res();
      }),
    );
    return { ws, msgs };
  }

  it('serves /status, refuses a bad secret and keeps admitting; a joined worker leaving frees its place', async () => {
    const { port } = await start(2);
    const bad = await joinAs(port, 'not-the-secret-not-the-secret', 'bad');
    expect(bad.msgs[1]).toMatchObject({ type: 'reject' });
    const a = await joinAs(port, SECRET, 'a');
    expect(a.msgs[1]).toMatchObject({ type: 'welcome', joined: 1, expected: 2 });
    a.ws.close();
    await new Promise((r) => setTimeout(r, 100));
    const b = await joinAs(port, SECRET, 'b');
    expect(b.msgs[1]).toMatchObject({ type: 'welcome', joined: 1 });
    const status = await (await fetch(`http://127.0.0.1:${port}/status`)).json();
    expect(status).toMatchObject({ phase: 'admitting', joined: 1, expected: 2 });
    b.ws.close();
  });

  it('survives a malformed frame from an admitted worker and fails the run naming it', async () => {
    const { c, port, out } = await start(1);
    const w = await joinAs(port, SECRET, 'mallory');
    expect(w.msgs[1]).toMatchObject({ type: 'welcome' });
    w.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    const summary = await c.run();
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/worker mallory \(rank 0, host 127\.0\.0\.1, pid 1\) disconnected/);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).status).toBe('failed');
  });
});

/** A worker speaking the control protocol by hand, so a test can order its messages exactly. */
class ScriptedWorker {
  private readonly inbox: any[] = [];
  private wake?: () => void;
  private readonly inbound = new Reassembler();
  private fragmentId = 0;
  /** Every frame received, in bytes. */
  readonly frameSizes: number[] = [];
  private constructor(readonly ws: WebSocket, private readonly frameBytes: number) {
    ws.on('message', (d) => {
      this.frameSizes.push((d as Buffer).length);
      const m = this.inbound.push(decodeMessage(d as Buffer));
      if (m) this.inbox.push(m);
      this.wake?.();
    });
  }

  /** Joins with a frame limit of its own (the ws client refuses larger frames; it fragments larger messages). */
  static async join(port: number, name: string, rankHint: number, frameBytes = 64 * 1024 * 1024): Promise<ScriptedWorker> {
    const w = new ScriptedWorker(new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: frameBytes }), frameBytes);
    const challenge = await w.next('challenge');
    w.send({ type: 'hello', proof: proveSecret(SECRET, challenge.nonce, 'worker'), name, host: '127.0.0.1', dataPort: 9000 + rankHint, pid: 1000 + rankHint, rankHint });
    return w;
  }

  /** The next message of this type (earlier ones of other types are skipped). */
  async next(type: string): Promise<any> {
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(0, i + 1).at(-1);
      await new Promise<void>((res) => (this.wake = res));
    }
  }

  send(msg: Record<string, unknown>): void {
    for (const f of encodeFrames(msg as never, this.frameBytes, this.fragmentId++)) this.ws.send(f);
  }

  ready(rank: number, numParams = 3): void {
    this.send({ type: 'ready', rank, backend: 'cpu', numParams, tensors: 0, inputDim: 4, trainSize: 64, valSize: 0, stepsPerEpoch: 8, totalSteps: 6, flopsPerExample: 1, tasks: {} });
  }

  step(rank: number, step: number): void {
    this.send({ type: 'step', rank, step, epoch: 0, losses: { task_a: 0.5 + step, task_b: 0.25 }, counts: { task_a: 8, task_b: 8 }, samples: 8, computeMs: 1, commMs: 1, updateMs: 1, bytesSent: 100, tensors: 0 });
  }
}

describe('a ring re-formed after a loss', () => {
  it('records a step before the checkpoint that the lost worker never reported, once, from the reports that arrived', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mtl-coord-'));
    const config = runConfigSchema.parse({ runId: 'lost-between-reports', steps: 6, batchSize: 16, checkpointEvery: 2 });
    const c = new Coordinator({ config, workers: 2, maxRestarts: 1, host: '127.0.0.1', port: 0, secret: SECRET, outDir: out, logger: log });
    coordinators.push(c);
    const port = await c.listen();
    void c.run();
    const a = await ScriptedWorker.join(port, 'a', 0);
    const b = await ScriptedWorker.join(port, 'b', 1);
    expect(await a.next('assign')).toMatchObject({ rank: 0, world: 2, startStep: 0 });
    expect(await b.next('assign')).toMatchObject({ rank: 1, world: 2 });
    a.ready(0);
    b.ready(1);
    await Promise.all([a.next('start'), b.next('start')]);
    // Rank 0 finishes steps 0 and 1 and hands over the checkpoint of step 2; rank 1 reports step 0
    // and dies before its report of step 1 leaves.
    a.step(0, 0);
    a.step(0, 1);
    a.send({ type: 'params', step: 2, reason: 'checkpoint', params: new Uint8Array(new Float32Array([1, 2, 3]).buffer), checksum: 'c2', optimizer: { stepCount: 2, buffers: [] } });
    b.step(1, 0);
    await new Promise((r) => setTimeout(r, 100));
    b.ws.terminate();
    expect(await a.next('abort')).toMatchObject({ reform: true });
    a.send({ type: 'failed', rank: 0, error: 'stopped for the re-form' });
    expect(await a.next('assign')).toMatchObject({ rank: 0, world: 1, startStep: 2 });

    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const train = lines.filter((l) => l.type === 'train');
    expect(train.map((l) => l.step)).toEqual([0, 1]);
    expect(train[0]).toMatchObject({ samples: 16 });
    expect(train[0].missingRanks).toBeUndefined();
    // Step 1 from rank 0 alone: the global losses it stated, its own samples, rank 1 named as missing.
    expect(train[1]).toMatchObject({ step: 1, losses: { task_a: 1.5, task_b: 0.25 }, samples: 8, missingRanks: [1] });
    expect(lines.at(-1)).toMatchObject({ type: 'restart', step: 2, world: 1 });
    a.ws.close();
  });
});

describe('messages larger than a control frame', () => {
  it('a checkpoint comes in fragments and the resume assignment after a re-form goes out in fragments, each frame within the limit', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mtl-coord-'));
    const config = runConfigSchema.parse({ runId: 'fragments', steps: 6, batchSize: 16, checkpointEvery: 2 });
    const limit = 4096;
    const c = new Coordinator({ config, workers: 2, maxRestarts: 1, maxFrameBytes: limit, host: '127.0.0.1', port: 0, secret: SECRET, outDir: out, logger: log });
    coordinators.push(c);
    const port = await c.listen();
    void c.run();
    const a = await ScriptedWorker.join(port, 'a', 0, limit);
    const b = await ScriptedWorker.join(port, 'b', 1, limit);
    await Promise.all([a.next('assign'), b.next('assign')]);
    const P = 3000; // 12 KB of parameters, three times the frame limit; with Adam's two buffers 36 KB
    a.ready(0, P);
    b.ready(1, P);
    await Promise.all([a.next('start'), b.next('start')]);
    const params = new Float32Array(P).map((_, i) => Math.sin(i));
    const m = new Float32Array(P).map((_, i) => i / P);
    const v = new Float32Array(P).map((_, i) => 1 / (1 + i));
    a.step(0, 0);
    a.step(0, 1);
    b.step(1, 0);
    b.step(1, 1);
    const bytes = (x: Float32Array) => new Uint8Array(x.buffer.slice(0));
    a.send({ type: 'params', step: 2, reason: 'checkpoint', params: bytes(params), checksum: 'c2', optimizer: { stepCount: 2, buffers: [bytes(m), bytes(v)] } });
    const stateFile = join(out, 'checkpoints', 'step-2', 'state.json');
    while (!existsSync(stateFile)) await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(join(out, 'checkpoints', 'step-2', 'params.bin'))).toEqual(Buffer.from(params.buffer));
    expect(readFileSync(join(out, 'checkpoints', 'step-2', 'optimizer-1.bin'))).toEqual(Buffer.from(v.buffer));
    b.ws.terminate();
    await a.next('abort');
    a.send({ type: 'failed', rank: 0, error: 'stopped for the re-form' });
    const assign = await a.next('assign');
    expect(assign).toMatchObject({ rank: 0, world: 1, startStep: 2 });
    expect(Buffer.from(assign.resume.params)).toEqual(Buffer.from(params.buffer));
    expect(assign.resume.optimizer.buffers.map((x: Uint8Array) => Buffer.from(x))).toEqual([Buffer.from(m.buffer), Buffer.from(v.buffer)]);
    expect(Math.max(...a.frameSizes)).toBeLessThanOrEqual(limit);
    a.ws.close();
  });
});

