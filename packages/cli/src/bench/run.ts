// Orchestrates one benchmark run: every measurement in sequence (the machine is small; nothing is
// measured while something else of ours runs), then the targets of issue 4 as ratios.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { allReduceBenchmark, pointToPointBenchmark, type AllReduceRow, type PointToPoint } from './collective';
import type { PlainLoopOptions, PlainLoopResult } from './plain-loop';
import { freePort, numpyCandidates, probePython, runPython, type PythonEnv } from './python';
import type { BenchSettings } from './settings';
import { dropStepSeries, median, refFlopsPerExample, runCluster, runClusterPair, type ClusterRun } from './training';

export type Note = { note: string };
export type Maybe<T> = T | Note;

export interface GlooRow {
  world: number;
  bytes: number;
  meanMs: number;
  algbwGBs: number;
  busbwGBs: number;
}

export interface DdpRow {
  world: number;
  stepMs: number;
  samplesPerSec: number;
  gflopsPerProc: number;
  torch: string;
  /** the BLAS torch was built against (Debian's uses the system libblas.so.3) */
  blas: string;
}

export interface GemmResult {
  threads: string;
  gflops: number;
  bestGflops: number;
  numpy: string;
  blas: string;
  python: string;
}

export interface Target {
  id: string;
  target: string;
  measured: string;
  /** measured / threshold, oriented so that >= 1 passes (for an upper bound: threshold / measured) */
  ratio: number | null;
  status: 'PASS' | 'FAIL' | 'SKIP';
  note?: string;
}

export interface BenchReport {
  schema: 'mtl-bench/1';
  mode: 'quick' | 'full';
  startedAt: string;
  finishedAt: string;
  wallTimeSec: number;
  commit: string;
  machine: { cpuModel: string; nproc: number; memGB: number; node: string; platform: string; loadavgStart: number[]; loadavgEnd: number[] };
  settings: BenchSettings;
  python: { env: PythonEnv | null; numpyExe: string | null; torchExe: string | null; note?: string };
  workload: { inputDim: number; trunk: number[]; tasks: number; perWorkerBatch: number; flopsPerExample: number };
  allReduce: {
    ours: Maybe<AllReduceRow[]>;
    gloo: Maybe<GlooRow[]>;
    /**
     * Per world and size present in both: ours over TCP / gloo (the same transport: the target's
     * figure), and ours over the Unix sockets that workers of one host use / gloo.
     */
    vsGloo: Array<{ world: number; bytes: number; oursBusbwGBs: number; glooBusbwGBs: number; ratio: number; oursUnixBusbwGBs?: number; unixRatio?: number }>;
  };
  pointToPoint: Maybe<PointToPoint>;
  compute: {
    gemmAllCores: Maybe<GemmResult>;
    /** every interpreter measured (all cores) */
    gemmCandidates: GemmResult[];
    gemmOneCore: Maybe<GemmResult>;
    plain: Maybe<PlainLoopResult>;
    /** The plain loop without the native addon (explicit transposes, wasm XNNPACK products). */
    plainWasmMatMul: Maybe<PlainLoopResult>;
    plainStockMatMul: Maybe<PlainLoopResult>;
  };
  training: {
    w1: Maybe<ClusterRun>;
    w2: Maybe<ClusterRun>;
    ddp: Maybe<DdpRow[]>;
    /** cluster W=1 step / plain tfjs step, median of the rounds */
    overheadRatio: number | null;
    /** each scaling round's W=1 run against a plain loop measured just before it */
    overheadRounds: OverheadRound[];
    /** W=2 samples/s / W=1 samples/s of the median scaling round */
    scaling: number | null;
    /** W=1, two W=1 at once, W=2, run back to back per round */
    scalingRounds: ScalingRound[];
    /** Two independent W=1 clusters at once (no communication): the machine's two-process limit (first round). */
    w1Pair: Maybe<{ samplesPerSec: number; overlapSec: number; stepsInOverlap: [number, number]; perRunSamplesPerSec: [number, number]; lockstepPenaltyMs: number; lockstepSamplesPerSec: number; command: string }>;
    /** median over the rounds of pair samples/s / W=1 samples/s: the most scaling any two-process run reaches here */
    twoProcessCeiling: number | null;
    /** median over the rounds of the pair's lockstep samples/s / W=1 samples/s: the most a W=2 run with a free all-reduce reaches here */
    lockstepCeiling: number | null;
    /** best numpy GEMM repetition (all cores, or one if higher under load) / FLOPs per example */
    gemmBoundSamplesPerSec: number | null;
    /** W=2 samples/s / gemmBoundSamplesPerSec */
    endToEndFraction: number | null;
    /** ours / DDP samples/s, per world */
    vsDdp: Array<{ world: number; ours: number; ddp: number; ratio: number }>;
  };
  memory: Maybe<ClusterRun['memory']>;
  targets: Target[];
}

export interface OverheadRound {
  w1StepMs: number;
  plainStepMs: number;
  ratio: number;
}

export interface ScalingRound {
  w1SamplesPerSec: number;
  w2SamplesPerSec: number;
  w2StepMs: number;
  w2Split: ClusterRun['split'];
  pairSamplesPerSec: number | null;
  scaling: number;
  ceiling: number | null;
  /** the pair's lockstep samples/s (ClusterPair.lockstepSamplesPerSec) / W=1 samples/s */
  lockstepCeiling: number | null;
  /** The same W=2 run with its link on TCP loopback (`--data-transport tcp`), as between hosts; null where it failed. */
  w2TcpSamplesPerSec: number | null;
  w2TcpStepMs: number | null;
  scalingTcp: number | null;
}

const isNote = (x: unknown): x is Note => !!x && typeof x === 'object' && 'note' in (x as object) && Object.keys(x as object).length === 1;

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function errNote(what: string, err: unknown): Note {
  const note = `${what} failed: ${(err as Error)?.message ?? String(err)}`;
  log(note);
  return { note };
}

function repoCommit(): string {
  const root = resolve(__dirname, '..', '..', '..', '..');
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  return r.stdout.trim() + (dirty.stdout && dirty.stdout.trim() ? '+dirty' : '');
}

function cpuModel(): string {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch {
    /* not linux */
  }
  return cpus()[0]?.model ?? 'unknown';
}

/** registered: the kernels selectBackend registers (native GEMM where built); wasm: the same without the native addon; stock: tfjs' own. */
type KernelMode = 'registered' | 'wasm' | 'stock';

async function runPlain(o: PlainLoopOptions, mode: KernelMode, timeoutMs: number): Promise<PlainLoopResult> {
  const script = join(__dirname, 'plain-loop.js');
  const env = { ...process.env, MTL_WASM_STOCK_MATMUL: mode === 'stock' ? '1' : '0', ...(mode === 'wasm' ? { MTL_NATIVE: '0' } : {}) };
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [script, JSON.stringify(o)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-3000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) res(JSON.parse(line) as PlainLoopResult);
      else rej(new Error(`plain loop exited with code ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

async function gemm(exe: string, threads: number | null, reps: number, timeoutMs: number): Promise<GemmResult> {
  const env: NodeJS.ProcessEnv = threads ? { OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) } : {};
  const lines = await runPython(exe, 'gemm', { batch: 256, reps }, { timeoutMs, env });
  const g = lines.find((l) => l.kind === 'gemm');
  if (!g) throw new Error('no result line');
  return { threads: String(g.threads), gflops: Number(g.gflops), bestGflops: Number(g.bestGflops), numpy: String(g.numpy), blas: String(g.blas), python: String(g.python) };
}

export async function runBench(s: BenchSettings, outDir: string): Promise<BenchReport> {
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const loadavgStart = loadavg();
  const flopsPerExample = refFlopsPerExample();
  const timeout = s.timeoutMs;
  const MiB = 1 << 20;

  // Python: which interpreter has numpy, which has torch.
  let py: PythonEnv | null = null;
  let pyNote: string | undefined;
  if (s.python) {
    py = probePython();
    const parts: string[] = [];
    if (!py.numpy) parts.push('no Python with numpy found: GEMM limit skipped');
    if (!py.torch) parts.push('no Python with torch found: gloo and DDP skipped (Debian: apt-get install python3-torch)');
    if (parts.length) pyNote = parts.join('; ');
    log(`python: numpy ${py.numpy ? `${py.numpy.exe} (${py.numpy.numpy})` : 'absent'}, torch ${py.torch ? `${py.torch.exe} (${py.torch.torch})` : 'absent'}`);
  } else {
    pyNote = 'python measurements disabled (--no-python)';
  }

  // 1. The machine's compute limit.
  let gemmAll: Maybe<GemmResult> = { note: pyNote ?? 'numpy absent' };
  let gemmOne: Maybe<GemmResult> = { note: pyNote ?? 'numpy absent' };
  const gemmAllRuns: GemmResult[] = [];
  if (py?.numpy) {
    // Every distinct numpy install is measured (a distribution's numpy may sit on the reference
    // BLAS); the fastest is the machine's limit.
    const best = (xs: GemmResult[]) => xs.reduce<GemmResult | undefined>((a, b) => (!a || b.gflops > a.gflops ? b : a), undefined);
    const one: GemmResult[] = [];
    for (const cand of numpyCandidates(py)) {
      log(`numpy float32 GEMM on the reference shapes: ${cand.exe} (numpy ${cand.numpy}), all cores then one`);
      try {
        gemmAllRuns.push(await gemm(cand.exe, null, s.gemm.reps, timeout));
        one.push(await gemm(cand.exe, 1, s.gemm.reps, timeout));
      } catch (err) {
        errNote(`numpy GEMM with ${cand.exe}`, err);
      }
    }
    gemmAll = best(gemmAllRuns) ?? { note: 'numpy GEMM failed with every interpreter' };
    gemmOne = best(one) ?? { note: 'numpy GEMM failed with every interpreter' };
  }

  // 2. Communication: point-to-point, our all-reduce, gloo's.
  log(`point-to-point ws / tcp, ${s.pointToPoint.bytes / MiB} MiB x ${s.pointToPoint.iterations}`);
  const p2p = await pointToPointBenchmark(s.pointToPoint.bytes, s.pointToPoint.iterations);
  const pointToPoint: Maybe<PointToPoint> = p2p.ok ? p2p.value : { note: p2p.note };
  if (!p2p.ok) log(p2p.note);

  let ours: Maybe<AllReduceRow[]> = [];
  measure: for (const w of s.allReduce.worlds) {
    // TCP loopback as gloo uses (and as between hosts), then the Unix sockets workers of one host use.
    for (const transport of ['tcp', 'unix'] as const) {
      log(`ring all-reduce W=${w} over ${transport === 'tcp' ? 'TCP' : 'Unix sockets'}, sizes ${s.allReduce.sizesBytes.map((b) => b / MiB).join('/')} MiB`);
      const r = await allReduceBenchmark(w, s.allReduce.sizesBytes, s.allReduce.iterations, s.allReduce.warmup, transport);
      if (!r.ok) {
        log(r.note);
        ours = { note: r.note };
        break measure;
      }
      // Where there are no Unix sockets (not Linux) the second pass ran over TCP too: keep one.
      ours.push(...r.value.filter((x) => x.transport === transport));
    }
  }

  let gloo: Maybe<GlooRow[]> = { note: pyNote ?? 'torch absent' };
  if (py?.torch) {
    const rows: GlooRow[] = [];
    try {
      for (const w of s.allReduce.worlds) {
        log(`gloo all_reduce W=${w}`);
        const lines = await runPython(
          py.torch.exe,
          'gloo',
          { world: w, port: await freePort(), sizes: s.allReduce.sizesBytes, iters: s.gloo.iterations, warmup: s.gloo.warmup },
          { timeoutMs: timeout },
        );
        for (const l of lines.filter((x) => x.kind === 'gloo')) {
          rows.push({ world: Number(l.world), bytes: Number(l.bytes), meanMs: Number(l.meanMs), algbwGBs: Number(l.algbwGBs), busbwGBs: Number(l.busbwGBs) });
        }
      }
      gloo = rows;
    } catch (err) {
      gloo = errNote('gloo all_reduce', err);
    }
  }
  const vsGloo: BenchReport['allReduce']['vsGloo'] = [];
  if (Array.isArray(ours) && Array.isArray(gloo)) {
    for (const o of ours.filter((x) => x.transport === 'tcp')) {
      const g = gloo.find((x) => x.world === o.world && x.bytes === o.bytes);
      const u = ours.find((x) => x.transport === 'unix' && x.world === o.world && x.bytes === o.bytes);
      if (g && g.busbwGBs > 0) {
        vsGloo.push({
          world: o.world,
          bytes: o.bytes,
          oursBusbwGBs: o.busbwGBs,
          glooBusbwGBs: g.busbwGBs,
          ratio: o.busbwGBs / g.busbwGBs,
          ...(u ? { oursUnixBusbwGBs: u.busbwGBs, unixRatio: u.busbwGBs / g.busbwGBs } : {}),
        });
      }
    }
  }

  // 3. Compute: the plain tfjs loop (and, in full mode, the same with the stock wasm kernels).
  log(`plain tfjs training loop (${s.backend})`);
  let plain: Maybe<PlainLoopResult>;
  try {
    plain = await runPlain({ backend: s.backend, ...s.plain }, 'registered', timeout);
  } catch (err) {
    plain = errNote('plain tfjs loop', err);
  }
  let plainStock: Maybe<PlainLoopResult> = { note: s.stockCompare ? 'only on the wasm backend' : 'full mode only' };
  let plainWasm: Maybe<PlainLoopResult> = { note: s.stockCompare ? 'only on the wasm backend' : 'full mode only' };
  if (s.stockCompare && s.backend === 'wasm') {
    log('plain tfjs loop without the native GEMM (MTL_NATIVE=0: explicit transposes + wasm XNNPACK)');
    try {
      // A compute figure of the path without the addon, not an overhead anchor: the median step
      // after a short warm-up is enough (its steps are 2-3x longer).
      plainWasm = await runPlain({ backend: s.backend, ...s.plain, steps: Math.min(s.plain.steps, 30), warmup: Math.min(s.plain.warmup, 5) }, 'wasm', timeout);
    } catch (err) {
      plainWasm = errNote('plain tfjs loop (wasm kernels)', err);
    }
    log('plain tfjs loop with the stock wasm matMul kernels (before/after of ops/wasm-kernels.ts)');
    try {
      plainStock = await runPlain({ backend: s.backend, steps: 5, warmup: 1, gradSteps: 3 }, 'stock', timeout);
    } catch (err) {
      plainStock = errNote('plain tfjs loop (stock kernels)', err);
    }
  }

  // 4. Scaling, measured in rounds: W=1, two W=1 clusters at once, W=2, back to back, so each
  // ratio compares runs a minute apart (the host's speed drifts over minutes: one 3,000-step run
  // here was 99 ms a step for its first 1,000 steps and 144-159 ms after, with no change of its
  // own). The median round's ratios are the figures judged; every round is reported.
  const runs: Record<1 | 2, Maybe<ClusterRun>> = { 1: { note: 'not run' }, 2: { note: 'not run' } };
  const rounds: ScalingRound[] = [];
  const pairs: Array<BenchReport['training']['w1Pair']> = [];
  const w1Runs: Array<Maybe<ClusterRun>> = [];
  const overheads: OverheadRound[] = [];
  for (let round = 0; round < s.scalingRounds; round++) {
    const tag = s.scalingRounds > 1 ? ` (round ${round + 1} of ${s.scalingRounds})` : '';
    const dir = (name: string) => join(outDir, s.scalingRounds > 1 ? `${name}-r${round + 1}` : name);
    // The overhead target's anchor, measured again in every round next to its W=1 run.
    let roundPlain: Maybe<PlainLoopResult> = plain;
    if (round > 0) {
      log(`plain tfjs training loop (${s.backend})${tag}`);
      try {
        roundPlain = await runPlain({ backend: s.backend, ...s.plain }, 'registered', timeout);
      } catch (err) {
        roundPlain = errNote(`plain tfjs loop${tag}`, err);
      }
    }
    let w1: Maybe<ClusterRun>;
    log(`cluster W=1: ${s.train.steps} steps of the reference workload${tag}`);
    try {
      w1 = await runCluster({ world: 1, steps: s.train.steps, warmup: s.train.warmup, backend: s.backend, dir: dir('train-w1'), timeoutMs: timeout });
    } catch (err) {
      w1 = errNote(`cluster W=1${tag}`, err);
    }
    // The machine's own limit for the scaling target: two W=1 clusters at the same time.
    let pair: BenchReport['training']['w1Pair'];
    // Twice the measured steps of the other runs after the same warm-up, so that both stay busy
    // over the whole window the pair is measured in.
    const pairSteps = s.train.warmup + 2 * (s.train.steps - s.train.warmup);
    log(`two independent W=1 clusters at once: ${pairSteps} steps each (the two-process limit)${tag}`);
    try {
      const p = await runClusterPair({ steps: pairSteps, warmup: s.train.warmup, backend: s.backend, dirs: [dir('train-w1-pair-a'), dir('train-w1-pair-b')], timeoutMs: timeout });
      pair = {
        samplesPerSec: p.samplesPerSec,
        overlapSec: p.overlapSec,
        stepsInOverlap: p.stepsInOverlap,
        perRunSamplesPerSec: [p.runs[0].samplesPerSec, p.runs[1].samplesPerSec],
        lockstepPenaltyMs: p.lockstepPenaltyMs,
        lockstepSamplesPerSec: p.lockstepSamplesPerSec,
        command: `two at once: ${p.runs[0].command}`,
      };
    } catch (err) {
      pair = errNote(`two W=1 clusters at once${tag}`, err);
    }
    let w2: Maybe<ClusterRun>;
    log(`cluster W=2: ${s.train.steps} steps of the reference workload${tag}`);
    try {
      w2 = await runCluster({ world: 2, steps: s.train.steps, warmup: s.train.warmup, backend: s.backend, dir: dir('train-w2'), timeoutMs: timeout });
    } catch (err) {
      w2 = errNote(`cluster W=2${tag}`, err);
    }
    // The W=2 run again over TCP loopback: what the Unix-socket link gains, in the same round.
    let w2Tcp: Maybe<ClusterRun>;
    log(`cluster W=2 over TCP (--data-transport tcp): ${s.train.steps} steps${tag}`);
    try {
      w2Tcp = await runCluster({ world: 2, steps: s.train.steps, warmup: s.train.warmup, backend: s.backend, dir: dir('train-w2-tcp'), timeoutMs: timeout, dataTransport: 'tcp' });
    } catch (err) {
      w2Tcp = errNote(`cluster W=2 over TCP${tag}`, err);
      log(w2Tcp.note);
    }
    w1Runs.push(w1);
    pairs.push(pair);
    if (!isNote(w1) && !isNote(roundPlain)) overheads.push({ w1StepMs: w1.stepMs, plainStepMs: roundPlain.stepMs, ratio: w1.stepMs / roundPlain.stepMs });
    if (!isNote(w1) && !isNote(w2)) {
      rounds.push({
        w1SamplesPerSec: w1.samplesPerSec,
        w2SamplesPerSec: w2.samplesPerSec,
        w2StepMs: w2.stepMs,
        w2Split: w2.split,
        pairSamplesPerSec: isNote(pair) ? null : pair.samplesPerSec,
        scaling: w2.samplesPerSec / w1.samplesPerSec,
        ceiling: isNote(pair) ? null : pair.samplesPerSec / w1.samplesPerSec,
        lockstepCeiling: isNote(pair) ? null : pair.lockstepSamplesPerSec / w1.samplesPerSec,
        w2TcpSamplesPerSec: isNote(w2Tcp) ? null : w2Tcp.samplesPerSec,
        w2TcpStepMs: isNote(w2Tcp) ? null : w2Tcp.stepMs,
        scalingTcp: isNote(w2Tcp) ? null : w2Tcp.samplesPerSec / w1.samplesPerSec,
      });
    }
  }
  // 5. The W=2 memory run: memory, and the W=2 figures of the training table. At least memorySteps
  // steps and at least memoryMinSeconds long at the W=2 step time the rounds measured.
  const w2Step = median(rounds.map((x) => x.w2StepMs));
  const memorySteps = w2Step > 0 ? Math.max(s.memorySteps, Math.ceil((s.memoryMinSeconds * 1000) / w2Step)) : s.memorySteps;
  const why = memorySteps > s.memorySteps ? ` (at least ${s.memoryMinSeconds} s at ${w2Step.toFixed(1)} ms a step)` : '';
  log(`cluster W=2: ${memorySteps} steps of the reference workload (memory)${why}`);
  try {
    runs[2] = await runCluster({ world: 2, steps: memorySteps, warmup: Math.min(s.train.warmup, Math.floor(memorySteps / 2)), backend: s.backend, dir: join(outDir, 'train-w2-memory'), timeoutMs: timeout });
  } catch (err) {
    runs[2] = errNote('cluster W=2 (memory run)', err);
  }
  const middle = rounds.length ? [...rounds].sort((x, y) => x.scaling - y.scaling)[(rounds.length - 1) >> 1]! : null;
  // The W=1 run reported in the training table is the median round's.
  runs[1] = w1Runs.find((r) => !isNote(r) && middle && r.samplesPerSec === middle.w1SamplesPerSec) ?? w1Runs.find((r) => !isNote(r)) ?? w1Runs[0] ?? { note: 'not run' };
  for (const r of [runs[1], runs[2]]) if (!isNote(r)) dropStepSeries(r);
  const overheadMid = overheads.length ? [...overheads].sort((x, y) => x.ratio - y.ratio)[(overheads.length - 1) >> 1]! : null;
  const pair = pairs.find((p) => p && !isNote(p)) ?? pairs[0] ?? { note: 'not run' };

  let ddp: Maybe<DdpRow[]> = { note: pyNote ?? 'torch absent' };
  if (py?.torch) {
    const rows: DdpRow[] = [];
    try {
      for (const w of s.ddp.worlds) {
        log(`PyTorch DDP W=${w}`);
        const lines = await runPython(py.torch.exe, 'ddp', { world: w, port: await freePort(), steps: s.ddp.steps, warmup: s.ddp.warmup }, { timeoutMs: timeout });
        for (const l of lines.filter((x) => x.kind === 'ddp')) {
          rows.push({ world: Number(l.world), stepMs: Number(l.stepMs), samplesPerSec: Number(l.samplesPerSec), gflopsPerProc: Number(l.gflopsPerProc), torch: String(l.torch), blas: String(l.blas) });
        }
      }
      ddp = rows;
    } catch (err) {
      ddp = errNote('PyTorch DDP', err);
    }
  }

  // Ratios.
  const w1 = isNote(runs[1]) ? null : (runs[1] as ClusterRun);
  const w2 = isNote(runs[2]) ? null : (runs[2] as ClusterRun);
  const gemmR = isNote(gemmAll) ? null : gemmAll;
  const overheadRatio = overheadMid ? overheadMid.ratio : null;
  const scaling = middle ? middle.scaling : null;
  const ceilings = rounds.map((r) => r.ceiling).filter((c): c is number => c !== null).sort((x, y) => x - y);
  const twoProcessCeiling = ceilings.length ? ceilings[(ceilings.length - 1) >> 1]! : null;
  const locksteps = rounds.map((r) => r.lockstepCeiling).filter((c): c is number => c !== null).sort((x, y) => x - y);
  const lockstepCeiling = locksteps.length ? locksteps[(locksteps.length - 1) >> 1]! : null;
  // The limit is the best repetition of either setting: on a shared machine the median of the
  // all-cores run can fall below the one-core run, which no unloaded machine would show.
  const gemmOneR = isNote(gemmOne) ? null : gemmOne;
  const gemmLimit = gemmR ? Math.max(gemmR.bestGflops, gemmOneR?.bestGflops ?? 0) : null;
  const gemmBound = gemmLimit ? (gemmLimit * 1e9) / flopsPerExample : null;
  const endToEnd = w2 && gemmBound ? w2.samplesPerSec / gemmBound : null;
  const vsDdp: BenchReport['training']['vsDdp'] = [];
  if (Array.isArray(ddp)) {
    for (const d of ddp) {
      const o = d.world === 1 ? w1 : d.world === 2 ? w2 : null;
      if (o) vsDdp.push({ world: d.world, ours: o.samplesPerSec, ddp: d.samplesPerSec, ratio: o.samplesPerSec / d.samplesPerSec });
    }
  }

  const report: BenchReport = {
    schema: 'mtl-bench/1',
    mode: s.mode,
    startedAt,
    finishedAt: '',
    wallTimeSec: 0,
    commit: repoCommit(),
    machine: {
      cpuModel: cpuModel(),
      nproc: cpus().length,
      memGB: totalmem() / 2 ** 30,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadavgStart,
      loadavgEnd: loadavg(),
    },
    settings: s,
    python: { env: py, numpyExe: py?.numpy?.exe ?? null, torchExe: py?.torch?.exe ?? null, ...(pyNote ? { note: pyNote } : {}) },
    workload: { inputDim: 512, trunk: [1024, 1024], tasks: 4, perWorkerBatch: 256, flopsPerExample },
    allReduce: { ours, gloo, vsGloo },
    pointToPoint,
    compute: { gemmAllCores: gemmAll, gemmCandidates: gemmAllRuns, gemmOneCore: gemmOne, plain, plainWasmMatMul: plainWasm, plainStockMatMul: plainStock },
    training: { w1: runs[1], w2: runs[2], ddp, overheadRatio, overheadRounds: overheads, scaling, scalingRounds: rounds, w1Pair: pair, twoProcessCeiling, lockstepCeiling, gemmBoundSamplesPerSec: gemmBound, endToEndFraction: endToEnd, vsDdp },
    memory: w2 ? w2.memory : { note: isNote(runs[2]) ? runs[2].note : 'not run' },
    targets: [],
  };
  report.targets = targets(report);
  report.finishedAt = new Date().toISOString();
  report.wallTimeSec = (Date.now() - t0) / 1000;
  return report;
}

function fmt(x: number, d = 2): string {
  return Number.isFinite(x) ? x.toFixed(d) : String(x);
}

function targets(r: BenchReport): Target[] {
  const out: Target[] = [];
  const MiB = 1 << 20;
  // All-reduce vs gloo at 16 MiB (quick mode: the largest size measured).
  for (const world of [2, 4]) {
    const id = `allreduce-busbw-vs-gloo-w${world}`;
    const rows = r.allReduce.vsGloo.filter((v) => v.world === world);
    const at16 = rows.find((v) => v.bytes === 16 * MiB) ?? rows.sort((a, b) => b.bytes - a.bytes)[0];
    const target = `ring all-reduce bus bandwidth at 16 MiB >= gloo's, W=${world}`;
    if (!at16) {
      const why = isNote(r.allReduce.ours) ? r.allReduce.ours.note : isNote(r.allReduce.gloo) ? r.allReduce.gloo.note : `W=${world} not measured in ${r.mode} mode`;
      out.push({ id, target, measured: '-', ratio: null, status: 'SKIP', note: why });
      continue;
    }
    out.push({
      id,
      target,
      measured: `${fmt(at16.oursBusbwGBs)} vs ${fmt(at16.glooBusbwGBs)} GB/s at ${at16.bytes / MiB} MiB, both over TCP` + (at16.oursUnixBusbwGBs !== undefined ? `; ours over Unix sockets ${fmt(at16.oursUnixBusbwGBs)} (${fmt(at16.unixRatio!)}x)` : ''),
      ratio: at16.ratio,
      status: at16.ratio >= 1 ? 'PASS' : 'FAIL',
      ...(at16.bytes !== 16 * MiB ? { note: `measured at ${at16.bytes / MiB} MiB (${r.mode} mode)` } : {}),
    });
  }
  const w1 = isNote(r.training.w1) ? null : r.training.w1;
  const w2 = isNote(r.training.w2) ? null : r.training.w2;
  const plain = isNote(r.compute.plain) ? null : r.compute.plain;
  const skip = (id: string, target: string, note: string): Target => ({ id, target, measured: '-', ratio: null, status: 'SKIP', note });
  // Cluster overhead W=1.
  {
    const id = 'cluster-overhead-w1';
    const target = 'cluster W=1 step time <= 1.05x the plain tfjs loop';
    const v = r.training.overheadRatio;
    out.push(
      v === null || !w1 || !plain
        ? skip(id, target, 'cluster W=1 or plain loop missing')
        : (() => {
            const all = r.training.overheadRounds;
            const mid = all.find((x) => x.ratio === v) ?? { w1StepMs: w1.stepMs, plainStepMs: plain.stepMs };
            const each = all.length > 1 ? ` (median of ${all.length} rounds: ${all.map((x) => fmt(x.ratio, 3)).join(', ')})` : '';
            return { id, target, measured: `${fmt(mid.w1StepMs, 1)} ms vs ${fmt(mid.plainStepMs, 1)} ms = ${fmt(v, 3)}x${each}`, ratio: 1.05 / v, status: v <= 1.05 ? 'PASS' : 'FAIL' };
          })(),
    );
  }
  // Scaling: the median of the rounds (W=1, two W=1 at once, W=2, back to back).
  {
    const id = 'scaling-w2';
    const target = 'W=2 samples/s >= 1.8x W=1';
    const v = r.training.scaling;
    const rounds = r.training.scalingRounds;
    const mid = rounds.find((x) => x.scaling === v);
    out.push(
      v === null || !mid
        ? skip(id, target, 'a cluster run is missing')
        : {
            id,
            target,
            measured:
              `${fmt(mid.w2SamplesPerSec, 0)} vs ${fmt(mid.w1SamplesPerSec, 0)} samples/s = ${fmt(v, 2)}x` +
              (rounds.length > 1 ? ` (median of ${rounds.length} rounds: ${rounds.map((x) => fmt(x.scaling, 2)).join(', ')})` : ''),
            ratio: v / 1.8,
            status: v >= 1.8 ? 'PASS' : 'FAIL',
            ...(r.training.twoProcessCeiling !== null
              ? {
                  note:
                    `two independent W=1 runs at once reach ${fmt(r.training.twoProcessCeiling, 2)}x here (the limit without any communication)` +
                    (r.training.lockstepCeiling !== null ? `; waiting for the slower of them at every step, as data parallelism must, ${fmt(r.training.lockstepCeiling, 2)}x (the limit with a free all-reduce)` : ''),
                }
              : {}),
          },
    );
  }
  // Compute per worker.
  {
    const id = 'compute-gflops-per-worker';
    const target = `>= 10 GFLOP/s per worker on ${r.settings.backend} (forward+backward of the training step, cluster W=1)`;
    out.push(
      !w1
        ? skip(id, target, 'cluster W=1 missing')
        : {
            id,
            target,
            measured:
              `${fmt(w1.computeGflopsPerWorker, 1)} GFLOP/s (whole step incl. update and overhead: ${fmt(w1.gflopsPerWorker, 1)}; kernels: ${w1.kernels ?? 'unknown'})` +
              (isNote(r.compute.plainWasmMatMul) || r.compute.plainWasmMatMul.lossAndGradGflops === undefined
                ? ''
                : `; without the native addon: lossAndGrad ${fmt(r.compute.plainWasmMatMul.lossAndGradGflops, 1)} GFLOP/s`),
            ratio: w1.computeGflopsPerWorker / 10,
            status: w1.computeGflopsPerWorker >= 10 ? 'PASS' : 'FAIL',
          },
    );
  }
  // End-to-end.
  {
    const id = 'end-to-end-vs-gemm-limit';
    const target = 'W=2 samples/s >= 50% of numpy GEMM rate (all cores) / FLOPs per example';
    const v = r.training.endToEndFraction;
    const g = isNote(r.compute.gemmAllCores) ? null : r.compute.gemmAllCores;
    out.push(
      v === null || !w2 || !g
        ? skip(id, target, isNote(r.compute.gemmAllCores) ? r.compute.gemmAllCores.note : 'cluster W=2 missing')
        : {
            id,
            target,
            measured: `${fmt(w2.samplesPerSec, 0)} of ${fmt(r.training.gemmBoundSamplesPerSec ?? 0, 0)} samples/s (numpy best ${fmt(((r.training.gemmBoundSamplesPerSec ?? 0) * r.workload.flopsPerExample) / 1e9, 1)} GFLOP/s) = ${fmt(v * 100, 1)}%`,
            ratio: v / 0.5,
            status: v >= 0.5 ? 'PASS' : 'FAIL',
          },
    );
  }
  // Memory: flat tensor count and RSS over the W=2 run.
  {
    const id = 'memory-flat';
    const m = isNote(r.memory) ? null : r.memory;
    const target = `tfjs tensor count constant and worker peak RSS of the run's second half <= 1.1x that of its first half, over ${m?.steps ?? r.settings.memorySteps} steps (W=2)`;
    if (!m) out.push(skip(id, target, isNote(r.memory) ? r.memory.note : 'missing'));
    else {
      const worst = m.workers.reduce((a, w) => Math.max(a, w.firstHalfPeakMB > 0 ? w.growthMB / w.firstHalfPeakMB : 0), 0);
      // A short run is still warming up (allocator, JIT): there only the tensor count is judged.
      const judgeRss = m.steps >= 200;
      const ok = m.tensorsFlat && (!judgeRss || worst <= 0.1);
      out.push({
        id,
        target,
        measured: `tensors ${m.tensorsMin}..${m.tensorsMax}; peak RSS ${m.workers.map((w) => `${fmt(w.peakRssMB, 0)} MB`).join(', ') || 'n/a'}; RSS growth ${fmt(worst * 100, 1)}%`,
        ratio: null,
        status: ok ? 'PASS' : 'FAIL',
        ...(m.workers.length === 0
          ? { note: 'RSS not sampled (no /proc)' }
          : !judgeRss
            ? { note: `RSS growth not judged under 200 steps (${r.mode} mode); tensor count only` }
            : {}),
      });
    }
  }
  return out;
}
