import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MtlProcess, finalParams, maxAbsDiff, mtl, readJson, tempDir } from './harness';

// Three hosts made of network namespaces on this machine (infra/netns/testbed.sh): the coordinator
// on one, a worker on each of the others, every byte between them through veth links and a bridge,
// none through loopback. Needs root and iproute2, as CI has here; skipped elsewhere, saying why.
const TESTBED = resolve(__dirname, '..', '..', 'infra', 'netns', 'testbed.sh');
const why =
  process.platform !== 'linux'
    ? 'not Linux'
    : process.getuid?.() !== 0
      ? 'needs root for network namespaces'
      : spawnSync('ip', ['netns', 'list']).status !== 0
        ? 'ip netns is not available'
        : '';
const PREFIX = `mt${process.pid % 1000000}`;
const SECRET = { MTL_SECRET: 'multi-host-test-secret-0123456789' };
const addr = (i: number) => `198.18.0.${i + 1}`;
const txBytes = (host: number) => Number(execFileSync('ip', ['netns', 'exec', `${PREFIX}-h${host}`, 'cat', '/sys/class/net/eth0/statistics/tx_bytes'], { encoding: 'utf8' }));
const workload = ['--steps', '40', '--batch-size', '64', '--examples', '2048', '--trunk', '32,32', '--tasks', 'y:regression,c:binary', '--seed', '11', '--checksum-every', '10', '--backend', 'cpu'];

describe.skipIf(why !== '')(`a cluster across network namespaces${why ? ` (SKIPPED: ${why})` : ''}`, () => {
  beforeAll(() => {
    execFileSync(TESTBED, ['down', PREFIX], { stdio: 'inherit' }); // a bed left by a killed run with this pid
    execFileSync(TESTBED, ['up', PREFIX, '3'], { stdio: 'inherit' });
  });
  afterAll(() => {
    execFileSync(TESTBED, ['down', PREFIX], { stdio: 'inherit' });
  });

  it('trains on three hosts, all-reduces over the links between them, and ends with the same bits as on loopback', async () => {
    const dir = tempDir('multihost');
    const out = join(dir, 'hosts');
    const coordinator = new MtlProcess(['coordinator', '--workers', '2', '--host', addr(0), '--port', '7070', '--out', out, ...workload], SECRET, { netns: `${PREFIX}-h0` });
    await coordinator.waitFor(/coordinator listening/, 30_000);
    const tx0 = [txBytes(1), txBytes(2)];
    const workers = [1, 2].map(
      (h) =>
        new MtlProcess(
          ['worker', '--coordinator', `ws://${addr(0)}:7070`, '--advertise', addr(h), '--bind', addr(h), '--rank-hint', String(h - 1), '--name', `host${h}`],
          SECRET,
          { netns: `${PREFIX}-h${h}` },
        ),
    );
    const [c, ...w] = await Promise.all([coordinator.exit, ...workers.map((x) => x.exit)]);
    expect(c.code, c.stderr).toBe(0);
    for (const x of w) expect(x.code, x.stderr).toBe(0);
    const config = readJson(join(out, 'config.json'));
    expect(config.workers.map((x: any) => x.host)).toEqual([addr(1), addr(2)]);
    // One kernel, but each worker in its own network namespace: no Unix socket between them.
    expect(config.workers.map((x: any) => x.links)).toEqual([{ tcp: 1, unix: 0 }, { tcp: 1, unix: 0 }]);
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    // Each worker sent its half of the data plane (and its control messages) out of its own link.
    const sent = [txBytes(1) - tx0[0]!, txBytes(2) - tx0[1]!];
    expect(summary.bytesSentTotal).toBeGreaterThan(0);
    for (const s of sent) expect(s).toBeGreaterThanOrEqual(summary.bytesSentTotal / 2);

    // The same run on loopback: identical parameters, bit for bit.
    const local = join(dir, 'loopback');
    const l = await mtl(['train', '--workers', '2', '--out', local, ...workload]);
    expect(l.code, l.stderr).toBe(0);
    expect(readJson(join(local, 'config.json')).workers.map((x: any) => x.links)).toEqual([{ tcp: 0, unix: 1 }, { tcp: 0, unix: 1 }]);
    expect(maxAbsDiff(finalParams(out), finalParams(local))).toBe(0);
  });
});
