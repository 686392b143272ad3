import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Packr } from 'msgpackr';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, proveSecret } from '@mtl/protocol';
import { MtlProcess, mtl, readJson, readJsonl, tempDir } from './harness';

const SECRET = 'correct-horse-battery-staple-42';
const env = { MTL_SECRET: SECRET };
const packr = new Packr({ useRecords: false });
const running: MtlProcess[] = [];

function start(args: string[], e: Record<string, string> = env): MtlProcess {
  const p = new MtlProcess(args, e);
  running.push(p);
  return p;
}

afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

async function coordinator(workers: number, extra: string[] = []): Promise<{ proc: MtlProcess; url: string; out: string }> {
  const out = join(tempDir('coord'), 'run');
  const proc = start(['coordinator', '--workers', String(workers), '--host', '127.0.0.1', '--port', '0', '--out', out, '--backend', 'cpu', ...extra]);
  const m = await proc.waitFor(/coordinator listening.*port=(\d+)/);
  return { proc, url: `ws://127.0.0.1:${m[1]}`, out };
}

function worker(url: string, name: string, e: Record<string, string> = env): MtlProcess {
  return start(['worker', '--coordinator', url, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--name', name], e);
}

/** A raw control connection that gets the challenge and then sends what the test wants. */
async function rawClient(url: string): Promise<{ ws: WebSocket; nonce: Buffer; closed: Promise<{ code: number; reason: string; msgs: any[] }> }> {
  const ws = new WebSocket(url);
  const msgs: any[] = [];
  const closed = new Promise<{ code: number; reason: string; msgs: any[] }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString(), msgs })));
  const nonce = await new Promise<Buffer>((res, rej) => {
    ws.once('message', (d) => {
      const m = decodeMessage(d as Buffer);
      if (m.type !== 'challenge') rej(new Error(`expected challenge, got ${m.type}`));
      else res(m.nonce as Buffer);
      ws.on('message', (d2) => msgs.push(decodeMessage(d2 as Buffer)));
    });
    ws.once('error', rej);
  });
  return { ws, nonce, closed };
}

describe('bad input is refused clearly and harms nothing', () => {
  it('rejects a wrong token, another protocol version, garbage, oversized and text frames, then trains with the good worker', async () => {
    const { proc, url, out } = await coordinator(1, ['--steps', '20', '--batch-size', '32', '--examples', '512', '--trunk', '16']);

    const impostor = await mtl(['worker', '--coordinator', url, '--advertise', '127.0.0.1', '--bind', '127.0.0.1', '--name', 'impostor'], { MTL_SECRET: 'wrong-secret-wrong-secret' });
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toMatch(/coordinator refused this worker: authentication failed/);

    const hello = (nonce: Buffer, v = PROTOCOL_VERSION) =>
      packr.pack({ v, type: 'hello', proof: proveSecret(SECRET, nonce, 'worker'), name: 'raw', host: '127.0.0.1', dataPort: 9, pid: 1 });

    const old = await rawClient(url);
    old.ws.send(hello(old.nonce, PROTOCOL_VERSION + 1));
    const oldEnd = await old.closed;
    expect(oldEnd.msgs[0]).toMatchObject({ type: 'reject' });
    expect(oldEnd.msgs[0].reason).toMatch(new RegExp(`protocol version mismatch: peer speaks ${PROTOCOL_VERSION + 1}, this build speaks ${PROTOCOL_VERSION}`));

    const garbage = await rawClient(url);
    garbage.ws.send(Buffer.from([0xc1, 0xc1, 0xc1, 0x00]));
    expect((await garbage.closed).msgs[0].reason).toMatch(/undecodable control frame/);

    const big = await rawClient(url);
    big.ws.send(Buffer.alloc(200_000, 1));
    expect((await big.closed).msgs[0].reason).toMatch(/exceeds the 65536-byte limit/);

    const text = await rawClient(url);
    text.ws.send('{"type":"hello"}');
    expect((await text.closed).msgs[0].reason).toMatch(/must be binary/);

    const badField = await rawClient(url);
    badField.ws.send(packr.pack({ v: PROTOCOL_VERSION, type: 'hello', proof: proveSecret(SECRET, badField.nonce, 'worker'), name: 'raw', host: '127.0.0.1', dataPort: 'x', pid: 1 }));
    expect((await badField.closed).msgs[0].reason).toMatch(/invalid hello message: dataPort/);

    // The coordinator kept serving: a worker with the right secret joins and the run completes.
    const good = worker(url, 'good');
    const [c, w] = await Promise.all([proc.exit, good.exit]);
    expect(c.code, c.stderr).toBe(0);
    expect(w.code, w.stderr).toBe(0);
    expect(c.stderr).toMatch(/refused connection: authentication failed/);
    expect(readJson(join(out, 'summary.json')).status).toBe('completed');
  });

  it('stops the run with a message naming a worker that dies mid-run, and keeps the data so far', async () => {
    const { proc, url, out } = await coordinator(2, ['--steps', '100000', '--batch-size', '64', '--trunk', '64,64', '--examples', '4096']);
    const w0 = worker(url, 'alpha');
    const w1 = worker(url, 'beta');
    await proc.waitFor(/step \d+\/100000/, 90_000);
    const victimRank = Number((await (w1.waitFor(/assigned rank (\d)/))) [1]);
    w1.kill('SIGKILL');
    const [c, survivor] = await Promise.all([proc.exit, w0.exit]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(new RegExp(`run failed: worker beta \\(rank ${victimRank}, host 127\\.0\\.0\\.1, pid \\d+\\) disconnected at step \\d+`));
    expect(survivor.code).toBe(1);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/worker beta/);
    expect(readJsonl(join(out, 'metrics.jsonl')).length).toBeGreaterThan(0);
    // The failed run's report shows how far it got and why it stopped.
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toMatch(/<p class="status-failed">Status: failed: .*worker beta/);
    expect(report).toContain('<figure id="loss-vs-step">');
  });

  it('refuses unknown flags and invalid values with a message naming them', async () => {
    const unknown = await mtl(['train', '--bogus-flag']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown option '--bogus-flag'/);

    const lr = await mtl(['train', '--lr', '-1']);
    expect(lr.code).not.toBe(0);
    expect(lr.stderr).toMatch(/--lr expects a positive number, got '-1'/);

    const dir = tempDir('cfg');
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'steps: 10\noptimizer:\n  name: adam\n  lr: fast\ntasks:\n  - { name: y, type: multiclass:1 }\n');
    const bad = await mtl(['train', '--config', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid run configuration \(run file .*run\.yaml and flags\): .*tasks\.0\.type: .*optimizer\.lr/);

    const syntax = join(dir, 'broken.yaml');
    writeFileSync(syntax, 'steps: 10\nmodel: [unclosed\n');
    const broken = await mtl(['train', '--config', syntax]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/broken\.yaml is not valid YAML at line \d+/);

    const cpuList = await mtl(['train', '--cpu-affinity', '0,x']);
    expect(cpuList.code).not.toBe(0);
    expect(cpuList.stderr).toMatch(/--cpu-affinity: 'x' is not a CPU id or range/);
    const cpuCount = await mtl(['train', '--workers', '3', '--cpu-affinity', '0,1', '--out', join(dir, 'cpu-run')]);
    expect(cpuCount.code).toBe(1);
    expect(cpuCount.stderr).toMatch(/--cpu-affinity lists 2 CPUs for 3 workers/);
    const cpuMissing = await mtl(['worker', '--coordinator', 'ws://127.0.0.1:1', '--cpu-affinity', '4095'], { MTL_SECRET: 'a-secret-of-at-least-16-chars' });
    expect(cpuMissing.code).toBe(1);
    expect(cpuMissing.stderr).toMatch(/--cpu-affinity: CPU 4095 is not available to this process \(it may run on [\d,-]+\)/);

    const noRun = await mtl(['report', join(dir, 'nowhere')]);
    expect(noRun.code).toBe(1);
    expect(noRun.stderr).toMatch(/run directory .*nowhere does not exist/);

    const noSecret = await mtl(['worker', '--coordinator', 'ws://127.0.0.1:1'], { MTL_SECRET: '' });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toMatch(/MTL_SECRET/);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});
