/**
 * Command-line front end of the benchmark library (src/bench.ts).
 *
 *   npx tsc -b && npx tsc -b bench && node bench/dist/allreduce-bench.js [--world 2] [--mib 1,4,16,64] [--iters 10] [--warmup 3] [--chunk-kib 512] [--p2p]
 *
 * Bus bandwidth = bytes * 2(W-1)/W / time (the nccl-tests convention), so it
 * is comparable across W and with gloo / NCCL numbers
 * (../shared/anchors/gloo_bw.py prints the same columns for gloo).
 */
import { runAllReduceBenchmark, runPointToPointBenchmark } from '@mtl/collective';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const world = Number(arg('world', '2'));
  const sizes = arg('mib', '16').split(',').map((m) => Math.round(Number(m) * 1024 * 1024));
  const chunkKiB = Number(arg('chunk-kib', '0'));
  const res = await runAllReduceBenchmark({
    world,
    sizesBytes: sizes,
    iterations: Number(arg('iters', '10')),
    warmup: Number(arg('warmup', '3')),
    ...(chunkKiB ? { chunkBytes: chunkKiB * 1024 } : {}),
  });
  for (const r of res) {
    console.log(
      `mtl world=${r.world} size=${(r.bytes / 2 ** 20).toFixed(0)}MiB time=${r.meanMs.toFixed(1)}ms algbw=${r.algbwGBs.toFixed(2)}GB/s busbw=${r.busbwGBs.toFixed(2)}GB/s cpu/op(rank0)=${r.cpuMsPerOp.toFixed(1)}ms cpu/op(mean of ranks) user=${(r.cpuUserMsPerOpMean ?? 0).toFixed(1)}ms sys=${(r.cpuSysMsPerOpMean ?? 0).toFixed(1)}ms`,
    );
  }
  if (process.argv.includes('--p2p')) {
    const p = await runPointToPointBenchmark({ bytes: sizes[0]!, iterations: Number(arg('iters', '10')) });
    console.log(
      `point-to-point ${(p.bytes / 2 ** 20).toFixed(0)} MiB: ws default ${p.wsDefaultGBs.toFixed(2)} GB/s, ws zero mask ${p.wsZeroMaskGBs.toFixed(2)} GB/s, raw TCP ${p.tcpGBs.toFixed(2)} GB/s, mtl link ${p.mtlLinkGBs.toFixed(2)} GB/s`,
    );
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
