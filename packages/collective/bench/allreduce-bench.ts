/**
 * Bus bandwidth of ring all-reduce across W worker processes on this host.
 *
 *   npx tsc -b bench && node bench/dist/allreduce-bench.js [--world 2] [--mib 16] [--iters 10] [--chunk-kib 512]
 *
 * Bus bandwidth = bytes * 2(W-1)/W / time (the nccl-tests convention), so it
 * is comparable across W and with gloo / NCCL numbers.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { PeerListener, ProcessGroup, type PeerAddress } from '@mtl/collective';

const SECRET = 'bench-secret-0123456789';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

type Msg = { port: number } | { peers: PeerAddress[] } | { times: number[]; cpuPerOp: number; gcPerOp: number; bytesSent: number };

async function child(): Promise<void> {
  const rank = Number(process.env['BENCH_RANK']);
  const world = arg('world', 2);
  const mib = arg('mib', 16);
  const iters = arg('iters', 10);
  const chunkBytes = arg('chunk-kib', 512) * 1024;
  const listener = await PeerListener.listen({ host: '127.0.0.1', port: 0, secret: SECRET });
  process.send!({ port: listener.port } satisfies Msg);
  const [msg] = (await once(process, 'message')) as [{ peers: PeerAddress[] }];
  const group = await ProcessGroup.connect({ rank, world, peers: msg.peers, listener, secret: SECRET, runId: 'bench', chunkBytes });
  const buf = new Float32Array((mib * 1024 * 1024) / 4).fill(1);
  for (let k = 0; k < 3; k++) await group.allReduce(buf); // warm-up: JIT, TCP windows
  // Like nccl-tests: time a run of back-to-back ops and divide, so per-op
  // scheduling skew between the processes averages out.
  const times: number[] = [];
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  const cpu0 = process.cpuUsage();
  for (let round = 0; round < 5; round++) {
    await group.barrier();
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < iters; k++) await group.allReduce(buf);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9 / iters);
  }
  const cpu = process.cpuUsage(cpu0);
  // CPU seconds per op: on a machine shared with other work this, not wall time, shows what the code costs.
  const cpuPerOp = (cpu.user + cpu.system) / 1e6 / (5 * iters);
  obs.disconnect();
  process.send!({ times, cpuPerOp, gcPerOp: gcMs / 1e3 / (5 * iters), bytesSent: group.stats.bytesSent } satisfies Msg);
  await group.close();
  await listener.close();
}

async function main(): Promise<void> {
  const world = arg('world', 2);
  const mib = arg('mib', 16);
  const kids = Array.from({ length: world }, (_, rank) => fork(__filename, process.argv.slice(2), { execArgv: process.env["BENCH_EXEC_ARGV"] ? process.env["BENCH_EXEC_ARGV"].split(" ") : [], env: { ...process.env, BENCH_RANK: String(rank) } }));
  const ports = await Promise.all(kids.map(async (k) => ((await once(k, 'message')) as [{ port: number }])[0].port));
  const peers = ports.map((port, rank) => ({ rank, host: '127.0.0.1', port }));
  const results = kids.map(async (k) => ((await once(k, 'message')) as [{ times: number[]; cpuPerOp: number; gcPerOp: number }])[0]);
  for (const k of kids) k.send({ peers });
  const res = await Promise.all(results);
  // An op is as slow as its slowest rank.
  const per = res[0]!.times.map((_, i) => Math.max(...res.map((r) => r.times[i]!)));
  per.sort((a, b) => a - b);
  const bytes = mib * 1024 * 1024;
  const factor = (2 * (world - 1)) / world;
  const median = per[Math.floor(per.length / 2)]!;
  const best = per[0]!;
  console.log(
    `allReduce ${mib} MiB, W=${world}, chunk ${arg('chunk-kib', 512)} KiB: ${(median * 1e3).toFixed(1)} ms per op (median of 5 rounds), ` +
      `bus bandwidth median ${((bytes * factor) / median / 1e9).toFixed(2)} GB/s, best round ${((bytes * factor) / best / 1e9).toFixed(2)} GB/s`,
  );
  const cpu = Math.max(...res.map((r) => r.cpuPerOp));
  console.log(
    `CPU per op per rank ${(cpu * 1e3).toFixed(1)} ms (user+sys, of which GC ${(Math.max(...res.map((r) => r.gcPerOp)) * 1e3).toFixed(1)} ms); with a free core per rank that bounds bus bandwidth at ${((bytes * factor) / cpu / 1e9).toFixed(2)} GB/s`,
  );
}

if (process.env['BENCH_RANK'] !== undefined) void child();
else void main();
