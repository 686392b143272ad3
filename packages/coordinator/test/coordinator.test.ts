import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createLogger, decodeMessage, encodeMessage, proveSecret, runConfigSchema } from '@mtl/protocol';
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
