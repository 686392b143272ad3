// The readable side of a benchmark report: plain-text tables for a terminal or a log.
import type { BenchReport, Maybe, Note } from './run';

const MiB = 1 << 20;

function isNote(x: unknown): x is Note {
  return !!x && typeof x === 'object' && 'note' in (x as object) && Object.keys(x as object).length === 1;
}

function table(head: string[], rows: Array<Array<string | number>>, left = new Set([0])): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

const f = (x: number | undefined | null, d = 2) => (x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));

function noteOr<T>(x: Maybe<T>, render: (v: T) => string): string {
  return isNote(x) ? `  (${x.note})` : render(x);
}

export function renderReport(r: BenchReport): string {
  const out: string[] = [];
  out.push(`mtl bench (${r.mode}) ${r.startedAt}  commit ${r.commit}`);
  out.push(
    `machine: ${r.machine.cpuModel}, ${r.machine.nproc} cores, ${f(r.machine.memGB, 1)} GB, node ${r.machine.node}; load avg ${r.machine.loadavgStart.map((x) => f(x)).join(' ')} -> ${r.machine.loadavgEnd.map((x) => f(x)).join(' ')}`,
  );
  out.push(`workload: MLP ${r.workload.inputDim}-${r.workload.trunk.join('-')} + ${r.workload.tasks} regression heads, ${r.workload.perWorkerBatch} examples/worker/step, ${f(r.workload.flopsPerExample / 1e6, 2)} MFLOP/example; backend ${r.settings.backend}`);
  if (r.python.note) out.push(`python: ${r.python.note}`);

  out.push('\nAll-reduce (busbw = algbw x 2(W-1)/W)');
  if (isNote(r.allReduce.ours)) out.push(`  ours: ${r.allReduce.ours.note}`);
  if (isNote(r.allReduce.gloo)) out.push(`  gloo: ${r.allReduce.gloo.note}`);
  const ours = isNote(r.allReduce.ours) ? [] : r.allReduce.ours;
  const gloo = isNote(r.allReduce.gloo) ? [] : r.allReduce.gloo;
  const keys = [...new Set([...ours, ...gloo].map((x) => `${x.world}:${x.bytes}`))].map((k) => k.split(':').map(Number));
  if (keys.length) {
    out.push(
      table(
        ['W', 'MiB', 'ring', 'tcp ms', 'tcp algbw', 'tcp busbw', 'gloo ms', 'gloo busbw', 'tcp/gloo', 'unix ms', 'unix busbw', 'unix/gloo'],
        keys.map(([w, b]) => {
          const o = ours.find((x) => x.world === w && x.bytes === b && x.transport === 'tcp');
          const u = ours.find((x) => x.world === w && x.bytes === b && x.transport === 'unix');
          const g = gloo.find((x) => x.world === w && x.bytes === b);
          return [
            w,
            b / MiB,
            o?.ring ?? u?.ring ?? '-',
            f(o?.meanMs, 1),
            f(o?.algbwGBs),
            f(o?.busbwGBs),
            f(g?.meanMs, 1),
            f(g?.busbwGBs),
            o && g ? f(o.busbwGBs / g.busbwGBs) : '-',
            f(u?.meanMs, 1),
            f(u?.busbwGBs),
            u && g ? f(u.busbwGBs / g.busbwGBs) : '-',
          ];
        }),
      ),
    );
  }
  out.push(
    `point-to-point (${r.settings.pointToPoint.bytes / MiB} MiB):` +
      noteOr(r.pointToPoint, (p) => ` ws default ${f(p.wsDefaultGBs)} GB/s, ws zero-mask ${f(p.wsZeroMaskGBs)} GB/s, raw TCP ${f(p.tcpGBs)} GB/s, mtl peer link ${f(p.mtlLinkGBs)} GB/s; raw Unix socket ${f(p.unixGBs)} GB/s, mtl peer link over it ${f(p.mtlLinkUnixGBs)} GB/s`),
  );

  out.push('\nCompute');
  out.push(`  numpy GEMM (same shapes), all cores:` + noteOr(r.compute.gemmAllCores, (g) => ` ${f(g.gflops, 1)} GFLOP/s (numpy ${g.numpy}, ${g.blas}, ${g.python})`));
  for (const g of r.compute.gemmCandidates) if (!isNote(r.compute.gemmAllCores) && g !== r.compute.gemmAllCores && g.python !== r.compute.gemmAllCores.python) out.push(`    also measured: ${f(g.gflops, 1)} GFLOP/s (numpy ${g.numpy}, ${g.blas}, ${g.python})`);
  out.push(`  numpy GEMM, one core:` + noteOr(r.compute.gemmOneCore, (g) => ` ${f(g.gflops, 1)} GFLOP/s`));
  out.push(
    `  plain tfjs loop (${r.settings.backend}):` +
      noteOr(r.compute.plain, (p) => ` ${f(p.stepMs, 1)} ms/step, ${f(p.samplesPerSec, 0)} samples/s, ${f(p.gflops, 1)} GFLOP/s; MtlModel.lossAndGrad ${f(p.lossAndGradMs, 1)} ms = ${f(p.lossAndGradGflops, 1)} GFLOP/s [${p.kernels}]`),
  );
  out.push(
    `  same without the native addon (MTL_NATIVE=0):` +
      noteOr(r.compute.plainWasmMatMul, (p) => ` ${f(p.stepMs, 1)} ms/step, ${f(p.gflops, 1)} GFLOP/s; lossAndGrad ${f(p.lossAndGradMs, 1)} ms = ${f(p.lossAndGradGflops, 1)} GFLOP/s [${p.kernels}]`),
  );
  out.push(
    `  same with stock wasm matMul kernels:` +
      noteOr(r.compute.plainStockMatMul, (p) => ` ${f(p.stepMs, 1)} ms/step, ${f(p.gflops, 1)} GFLOP/s; lossAndGrad ${f(p.lossAndGradMs, 1)} ms = ${f(p.lossAndGradGflops, 1)} GFLOP/s`),
  );

  out.push('\nTraining (cluster: mtl train, steady state after warmup)' + (!isNote(r.training.w1) && r.training.w1.kernels ? `; kernels: ${r.training.w1.kernels}` : ''));
  const runs = [r.training.w1, r.training.w2];
  for (const run of runs) if (isNote(run)) out.push(`  ${run.note}`);
  const ok = runs.filter((x): x is Exclude<typeof x, Note> => !isNote(x));
  if (ok.length) {
    out.push(
      table(
        ['W', 'steps', 'step ms', 'samples/s', 'GFLOP/s/worker', 'compute GFLOP/s', 'compute ms', 'comm ms', 'update ms', 'other ms', 'MB sent/step', 'links'],
        ok.map((c) => [
          c.world,
          c.stepsMeasured,
          f(c.stepMs, 1),
          f(c.samplesPerSec, 0),
          f(c.gflopsPerWorker, 1),
          f(c.computeGflopsPerWorker, 1),
          f(c.split.computeMs, 1),
          f(c.split.commMs, 1),
          f(c.split.updateMs, 1),
          f(c.split.otherMs, 1),
          f(c.bytesSentPerStep / 1e6, 1),
          !c.links || c.links.tcp + c.links.unix === 0 ? '-' : c.links.unix && c.links.tcp ? 'mixed' : c.links.unix ? 'unix' : 'tcp',
        ]),
      ),
    );
  }
  if (isNote(r.training.ddp)) out.push(`  PyTorch DDP: ${r.training.ddp.note}`);
  else {
    for (const d of r.training.ddp) {
      const vs = r.training.vsDdp.find((v) => v.world === d.world);
      out.push(`  PyTorch DDP W=${d.world}: ${f(d.stepMs, 1)} ms/step, ${f(d.samplesPerSec, 0)} samples/s, ${f(d.gflopsPerProc, 1)} GFLOP/s/proc (torch ${d.torch}, BLAS ${d.blas}); ours/DDP ${vs ? f(vs.ratio) : '-'}`);
    }
  }
  out.push(`  overhead W=1 vs plain (median round): ${f(r.training.overheadRatio, 3)}x; scaling W=2/W=1 (median round): ${f(r.training.scaling)}x; GEMM-bound limit ${f(r.training.gemmBoundSamplesPerSec, 0)} samples/s, W=2 reaches ${f((r.training.endToEndFraction ?? NaN) * 100, 1)}%`);
  if (r.training.overheadRounds.length > 1)
    out.push(`  overhead per round (W=1 step / plain loop step measured just before): ${r.training.overheadRounds.map((x) => `${f(x.w1StepMs, 1)}/${f(x.plainStepMs, 1)} = ${f(x.ratio, 3)}x`).join(', ')}`);
  for (const [k, x] of r.training.scalingRounds.entries()) {
    out.push(
      `  scaling round ${k + 1}: W=1 ${f(x.w1SamplesPerSec, 0)}, two W=1 at once ${x.pairSamplesPerSec === null ? '-' : f(x.pairSamplesPerSec, 0)}, W=2 ${f(x.w2SamplesPerSec, 0)} samples/s ` +
        `(step ${f(x.w2StepMs, 1)} ms: compute ${f(x.w2Split.computeMs, 1)}, comm ${f(x.w2Split.commMs, 1)}, update ${f(x.w2Split.updateMs, 1)}): scaling ${f(x.scaling)}x, two-process limit ${x.ceiling === null ? '-' : f(x.ceiling) + 'x'}, lockstep limit ${x.lockstepCeiling === null ? '-' : f(x.lockstepCeiling) + 'x'}` +
        (x.scalingTcp === null ? '' : `; W=2 over TCP ${f(x.w2TcpSamplesPerSec, 0)} samples/s (step ${f(x.w2TcpStepMs, 1)} ms): ${f(x.scalingTcp)}x`),
    );
  }
  if (r.training.twoProcessCeiling !== null) out.push(`  two independent W=1 clusters at once (no communication, the most two processes reach here): ${f(r.training.twoProcessCeiling)}x W=1 (median round)`);
  if (r.training.lockstepCeiling !== null) out.push(`  the same pair waiting for the slower of the two at every step (a W=2 run with a free all-reduce): ${f(r.training.lockstepCeiling)}x W=1 (median round)`);
  // The machine's own two-core speed-up on the same products: context for the scaling target.
  if (!isNote(r.compute.gemmAllCores) && !isNote(r.compute.gemmOneCore) && r.compute.gemmOneCore.gflops > 0) {
    out.push(`  numpy GEMM all cores / one core: ${f(r.compute.gemmAllCores.gflops / r.compute.gemmOneCore.gflops)}x (the machine's own parallel speed-up on these products)`);
  }

  out.push('\nMemory (W=2 run)');
  if (isNote(r.memory)) out.push(`  ${r.memory.note}`);
  else {
    const m = r.memory;
    out.push(`  tfjs tensors over ${m.steps} steps: first ${m.tensorsFirst}, last ${m.tensorsLast}, min ${m.tensorsMin}, max ${m.tensorsMax} (${m.tensorsFlat ? 'flat' : 'NOT flat'})`);
    for (const w of m.workers) out.push(`  ${w.role} (pid ${w.pid}): peak RSS ${f(w.peakRssMB, 0)} MB; peak of 1st half ${f(w.firstHalfPeakMB, 0)} MB -> 2nd half ${f(w.secondHalfPeakMB, 0)} MB (${w.growthMB >= 0 ? '+' : ''}${f(w.growthMB, 1)} MB); median ${f(w.earlyMedianMB, 0)} -> ${f(w.lateMedianMB, 0)} MB (2nd -> 4th quarter); slope ${f(w.slopeMBPerMin, 2)} MB/min; ${w.samplesJudged} of ${w.samples} samples judged (the steps' window)`);
  }

  out.push('\nTargets (issue 4)');
  out.push(table(['', 'target', 'measured', 'ratio'], r.targets.map((t) => [t.status, t.target + (t.note ? ` [${t.note}]` : ''), t.measured, t.ratio === null ? '-' : f(t.ratio)]), new Set([0, 1, 2])));
  out.push(`\nwall time ${f(r.wallTimeSec, 0)} s`);
  return out.join('\n');
}
