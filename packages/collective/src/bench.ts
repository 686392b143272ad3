/**
 * Benchmarks as library functions (for the CLI's benchmark suite and
 * bench/allreduce-bench.ts). Both spawn separate node processes running
 * dist/bench-worker.js over 127.0.0.1, so they need the compiled package.
 *
 * runAllReduceBenchmark({ world, sizesBytes, iterations, warmup })
 *   W processes form a ring (PeerListener + ProcessGroup.connect); for each
 *   size, every rank runs `warmup` all-reduces, a barrier, then `iterations`
 *   back-to-back all-reduces (timed like nccl-tests: the run divided by the
 *   count). Results are rank 0's: meanMs per op, algbw = bytes / time, busbw =
 *   algbw * 2(W-1)/W (comparable across W and with gloo / NCCL busbw).
 *
 * runPointToPointBenchmark({ bytes, iterations })
 *   One-direction throughput between two processes, each iteration one
 *   message of `bytes` (acknowledged by the receiver; one extra warm-up
 *   iteration is not timed), over (a) a `ws` connection with default client
 *   settings (the client masks every byte in JS), (b) `ws` with an all-zero
 *   mask (ws then skips masking), (c) a raw node:net TCP socket with default
 *   'data' events. Also (d) this package's own data-plane link for reference.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerAddress } from './group';

export interface AllReduceBenchmarkOptions {
  world: number;
  sizesBytes: number[];
  iterations: number;
  warmup: number;
  /** Ring chunk size (default: the package default). */
  chunkBytes?: number;
  /**
   * How the W processes link up: 'unix' (the default where there are abstract
   * sockets: what workers of one host use) or 'tcp' (loopback, as across hosts).
   */
  transport?: 'unix' | 'tcp';
}

export interface AllReduceBenchmarkResult {
  world: number;
  bytes: number;
  meanMs: number;
  algbwGBs: number;
  busbwGBs: number;
  /** CPU (user + system) per op on rank 0, ms. */
  cpuMsPerOp: number;
  /** CPU per op averaged over all ranks, ms: user and system (kernel: socket copies) separately. */
  cpuUserMsPerOpMean?: number;
  cpuSysMsPerOpMean?: number;
  /** Share of the timed ops that ran on the native ring, averaged over the ranks (0: the JS ring). */
  nativeShare?: number;
  /** What carried the links (rank 0's): a Unix socket or TCP. */
  transport?: 'unix' | 'tcp';
}

export interface PointToPointBenchmarkResult {
  bytes: number;
  iterations: number;
  /** (a) ws, default client settings (JS masking). */
  wsDefaultGBs: number;
  /** (b) ws with the zero mask. */
  wsZeroMaskGBs: number;
  /** (c) raw node:net TCP socket. */
  tcpGBs: number;
  /** (d) this package's data-plane link (WebSocket frames, streamed receive). */
  mtlLinkGBs: number;
  /** (e) a raw Unix socket between two processes, and (f) the data-plane link over one (Linux; absent elsewhere). */
  unixGBs?: number;
  mtlLinkUnixGBs?: number;
}

/** @internal Path of the compiled worker script. */
export function benchWorkerPath(): string {
  const here = join(__dirname, 'bench-worker.js');
  if (existsSync(here)) return here;
  const dist = join(__dirname, '..', 'dist', 'bench-worker.js');
  if (existsSync(dist)) return dist;
  throw new Error(`bench worker not found next to ${__dirname}; build @mtl/collective first (tsc -b)`);
}

type ChildMsg = { port?: number; local?: PeerAddress['local'] | null; results?: unknown; error?: string };

function spawnWorkers(n: number, env: (i: number) => Record<string, string>) {
  const path = benchWorkerPath();
  const kids = Array.from({ length: n }, (_, i) => fork(path, [], { env: { ...process.env, ...env(i) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const failed = new Promise<never>((_, reject) => {
    for (const k of kids) {
      k.on('message', (m: ChildMsg) => {
        if (m && m.error) reject(new Error(`bench worker failed: ${m.error}`));
      });
      k.on('exit', (code) => {
        if (code !== 0 && code !== null) reject(new Error(`bench worker exited with code ${code}`));
      });
    }
  });
  failed.catch(() => {});
  const kill = () => {
    for (const k of kids) if (k.exitCode === null) k.kill();
  };
  return { kids, failed, kill };
}

async function next<T>(k: ReturnType<typeof fork>, failed: Promise<never>): Promise<T> {
  const msg = Promise.race([once(k, 'message').then(([m]) => m as T), failed]);
  return msg;
}

export async function runAllReduceBenchmark(opts: AllReduceBenchmarkOptions): Promise<AllReduceBenchmarkResult[]> {
  const { world, sizesBytes, iterations, warmup } = opts;
  if (!Number.isInteger(world) || world < 1 || world > 32) throw new RangeError(`world must be in 1..32, got ${world}`);
  for (const b of sizesBytes) if (!Number.isInteger(b) || b < 4 || b % 4 !== 0) throw new RangeError(`sizes must be positive multiples of 4 bytes, got ${b}`);
  const { kids, failed, kill } = spawnWorkers(world, (rank) => ({ MTL_BENCH_MODE: 'allreduce', MTL_BENCH_RANK: String(rank) }));
  try {
    const hellos = await Promise.all(kids.map((k) => next<ChildMsg & { port: number }>(k, failed)));
    const local = opts.transport !== 'tcp';
    const peers = hellos.map((h, rank) => ({ rank, host: '127.0.0.1', port: h.port, ...(local && h.local ? { local: h.local } : {}) }));
    const results = kids.map((k) => next<{ results: AllReduceBenchmarkResult[] }>(k, failed));
    for (const k of kids) k.send({ world, peers, sizesBytes, iterations, warmup, chunkBytes: opts.chunkBytes });
    const all = await Promise.all(results);
    return all[0]!.results.map((r, k) => {
      const per = all.map((a) => a.results[k] as AllReduceBenchmarkResult & { cpuUserMsPerOp?: number; cpuSysMsPerOp?: number });
      const mean = (f: (x: (typeof per)[number]) => number | undefined) => per.reduce((acc, x) => acc + (f(x) ?? 0), 0) / per.length;
      const { cpuUserMsPerOp: _u, cpuSysMsPerOp: _s, ...rest } = r as AllReduceBenchmarkResult & { cpuUserMsPerOp?: number; cpuSysMsPerOp?: number };
      return {
        ...rest,
        cpuUserMsPerOpMean: mean((x) => x.cpuUserMsPerOp),
        cpuSysMsPerOpMean: mean((x) => x.cpuSysMsPerOp),
        nativeShare: mean((x) => x.nativeShare),
      };
    });
  } finally {
    kill();
  }
}

export async function runPointToPointBenchmark(opts: { bytes: number; iterations: number }): Promise<PointToPointBenchmarkResult> {
  const { bytes, iterations } = opts;
  if (!Number.isInteger(bytes) || bytes < 4 || bytes % 4 !== 0) throw new RangeError(`bytes must be a positive multiple of 4, got ${bytes}`);
  const out: Record<string, number> = {};
  const modes = ['ws-default', 'ws-zero-mask', 'tcp', 'mtl-link', ...(process.platform === 'linux' ? ['unix', 'mtl-link-unix'] : [])];
  for (const mode of modes) {
    const { kids, failed, kill } = spawnWorkers(2, (i) => ({ MTL_BENCH_MODE: 'p2p', MTL_BENCH_ROLE: i === 0 ? 'receiver' : 'sender' }));
    try {
      const [rx, tx] = kids as [ReturnType<typeof fork>, ReturnType<typeof fork>];
      const [hello] = await Promise.all([next<{ ports: Record<string, number>; unix?: string; local?: PeerAddress['local'] | null }>(rx, failed), next<{ ready: true }>(tx, failed)]);
      const done = next<{ results: { seconds: number } }>(tx, failed);
      rx.send({ mode, bytes, iterations });
      tx.send({ mode, bytes, iterations, ...hello });
      const { results } = await done;
      out[mode] = (bytes * iterations) / results.seconds / 1e9;
    } finally {
      kill();
    }
  }
  return {
    bytes,
    iterations,
    wsDefaultGBs: out['ws-default']!,
    wsZeroMaskGBs: out['ws-zero-mask']!,
    tcpGBs: out['tcp']!,
    mtlLinkGBs: out['mtl-link']!,
    ...(out['unix'] !== undefined ? { unixGBs: out['unix'] } : {}),
    ...(out['mtl-link-unix'] !== undefined ? { mtlLinkUnixGBs: out['mtl-link-unix'] } : {}),
  };
}
