// Training figures from the real cluster: `mtl train` as a user runs it (coordinator + W worker
// processes on loopback), then the run's own metrics.jsonl and summary.json are read back.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { allowedCpus } from '@mtl/native';
import { ProcessTreeSampler, type ProcMemory } from './proc';
import { REF } from './python';

export const CLI = join(__dirname, '..', '..', 'bin', 'mtl.js');

export interface ClusterRunOptions {
  world: number;
  steps: number;
  warmup: number;
  backend: string;
  dir: string;
  timeoutMs: number;
  /** `mtl train --cpu-affinity` (default: the launcher's auto: W=2 one core per worker, W=1 unpinned). */
  cpuAffinity?: string;
  /** `mtl train --data-transport` (default auto: Unix sockets between the workers of this host). */
  dataTransport?: 'auto' | 'tcp';
}

export interface MemoryReport {
  steps: number;
  tensorsFirst: number;
  tensorsLast: number;
  tensorsMin: number;
  tensorsMax: number;
  /** true when the live tensor count after warmup never changes */
  tensorsFlat: boolean;
  workers: WorkerMemory[];
}

/**
 * RSS of one worker judged as a trend, not from two samples. A leak climbs without bound, while
 * the V8 heap moves in a saw-tooth (measured here: +30 MB over ~100 s, then a major GC drops it
 * back), which medians or a slope over a window near one period mistake for growth. So the
 * verdict compares peaks: growthMB = the highest RSS of the second half of the run minus the
 * highest of the first half (past the first 10%): a leak raises every new peak, a saw-tooth does
 * not. Medians of the second and last quarter and the least-squares slope are reported too.
 * Only samples taken while steps ran are judged (`window`): before the first step the workers are
 * still loading, and after the last one rank 0 serialises the final model and optimizer state for
 * the coordinator (measured: a one-off +50 MB in the last second). peakRssMB (the kernel's VmHWM)
 * still covers the whole life of the process.
 */
export interface WorkerMemory {
  role: string;
  pid: number;
  peakRssMB: number;
  samples: number;
  /** Samples inside the training window, the ones judged. */
  samplesJudged: number;
  firstHalfPeakMB: number;
  secondHalfPeakMB: number;
  growthMB: number;
  earlyMedianMB: number;
  lateMedianMB: number;
  slopeMBPerMin: number;
}

export interface ClusterRun {
  world: number;
  globalBatch: number;
  stepsMeasured: number;
  warmupSkipped: number;
  stepMs: number;
  stepMsMedian: number;
  samplesPerSec: number;
  gflopsPerWorker: number;
  /** FLOPs of one worker's forward+backward divided by the compute phase only */
  computeGflopsPerWorker: number;
  split: { computeMs: number; commMs: number; updateMs: number; otherMs: number };
  bytesSentPerStep: number;
  flopsPerExample: number;
  summary: { status: string; samplesPerSec: number; gflopsPerWorker: number; backend: string; wallTimeSec: number };
  memory: MemoryReport;
  /** How matrix products ran in the workers (from summary.json). */
  kernels?: string;
  /** How rank 0's links to its peers were carried (from config.json): TCP or Unix sockets. */
  links?: { tcp: number; unix: number };
  command: string;
  /** Wall-clock seconds of each measured step's end (for runs measured side by side; not in the report). */
  stepEnds?: number[];
  /** Each measured step's compute + comm + update ms (for the lockstep limit; not in the report). */
  stepBusyMs?: number[];
}

/**
 * Two independent single-worker clusters run at the same time: no communication at all, so their
 * combined samples/s over the time both were stepping is the most any two-process data-parallel
 * run can reach on this machine (two compute-bound processes share its caches, memory bandwidth and
 * the cores with the coordinators).
 */
export interface ClusterPair {
  runs: [ClusterRun, ClusterRun];
  /** seconds both were stepping */
  overlapSec: number;
  stepsInOverlap: [number, number];
  /** sum of both runs' samples/s over the overlap */
  samplesPerSec: number;
  /**
   * What waiting for the slower of the two at every step would cost them: the mean over the steps
   * both measured of max(a_k, b_k), less the mean of a and b (a_k, b_k: step k's compute + comm +
   * update of each run). A data-parallel pair waits like that at every all-reduce; this is its cost
   * with these two processes' step-to-step variation and no communication at all. Steps are paired
   * by number, as the ranks of a W=2 run are: the slow steps of two runs of the same code fall on
   * the same step numbers (V8 compiles and collects at the same points; per-step times of the two
   * correlate at 0.64-0.66 here), so pairing every step with every other overstates the wait.
   */
  lockstepPenaltyMs: number;
  /** samplesPerSec with lockstepPenaltyMs added to the pair's mean step: the W=2 limit with a free all-reduce */
  lockstepSamplesPerSec: number;
}

/** Remove the per-step series a run carries for side-by-side figures; they stay out of the report. */
export function dropStepSeries(r: ClusterRun): void {
  delete r.stepEnds;
  delete r.stepBusyMs;
}

/** Mean over k of max(xs[k], ys[k]), less the mean of the two means (over the steps both have). */
export function lockstepPenalty(xs: number[], ys: number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n === 0) return 0;
  let sumMax = 0, sum = 0;
  for (let k = 0; k < n; k++) {
    sumMax += Math.max(xs[k]!, ys[k]!);
    sum += xs[k]! + ys[k]!;
  }
  return sumMax / n - sum / (2 * n);
}

interface TrainLine {
  type: 'train';
  /** seconds since trainStartedAt */
  step: number;
  time: number;
  computeMs: number;
  commMs: number;
  updateMs: number;
  bytesSent: number;
  tensors: number;
}

/** 3 * 2 * sum(in*out) over the layers: the same count as @mtl/mtl's flopsPerExample and the anchor. */
export function refFlopsPerExample(): number {
  let macs = 0;
  let w: number = REF.inputDim;
  for (const h of REF.trunk) {
    macs += w * h;
    w = h;
  }
  macs += w * REF.tasks;
  return 6 * macs;
}

export function trainArgs(o: ClusterRunOptions): string[] {
  const tasks = Array.from({ length: REF.tasks }, (_, i) => `t${i}:regression`).join(',');
  return [
    'train',
    '--workers', String(o.world),
    '--input-dim', String(REF.inputDim),
    '--trunk', REF.trunk.join(','),
    '--tasks', tasks,
    '--batch-size', String(REF.perWorkerBatch * o.world),
    '--backend', o.backend,
    '--steps', String(o.steps),
    '--examples', '8192',
    '--out', o.dir,
    '--checksum-every', '1000',
    // Validation only after the last step, so no step in the measured window pays for it.
    '--eval-every', String(o.steps + 1),
    '--log-format', 'json',
    ...(o.cpuAffinity ? ['--cpu-affinity', o.cpuAffinity] : []),
    ...(o.dataTransport && o.dataTransport !== 'auto' ? ['--data-transport', o.dataTransport] : []),
  ];
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

export function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function rankZeroLinks(dir: string): { links?: { tcp: number; unix: number } } {
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { workers?: { rank: number; links?: { tcp: number; unix: number } }[] };
    const links = cfg.workers?.find((w) => w.rank === 0)?.links;
    return links ? { links } : {};
  } catch {
    return {};
  }
}

export async function runCluster(o: ClusterRunOptions): Promise<ClusterRun> {
  rmSync(o.dir, { recursive: true, force: true });
  mkdirSync(o.dir, { recursive: true });
  const args = trainArgs(o);
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sampler = new ProcessTreeSampler(child.pid!, 500);
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-3000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGTERM'), o.timeoutMs);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const procs = sampler.stop();
  const summaryFile = join(o.dir, 'summary.json');
  if (code !== 0 || !existsSync(summaryFile)) {
    throw new Error(`mtl train (W=${o.world}) exited with code ${code}: ${tail.trim().split('\n').slice(-4).join(' | ')}`);
  }
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as ClusterRun['summary'] & { flopsPerExample?: number; kernels?: string; trainStartedAt?: string };
  const lines = readFileSync(join(o.dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string });
  const train = lines.filter((l): l is TrainLine => l.type === 'train').sort((a, b) => a.step - b.step);
  const steady = train.filter((l) => l.step >= o.warmup);
  if (steady.length < 2) throw new Error(`mtl train (W=${o.world}): only ${steady.length} steps after warmup`);
  // Wall time per step from consecutive `time` stamps (covers everything a step costs, including
  // what the split does not name); a gap that spans a validation is left out.
  const evalSteps = new Set(lines.filter((l) => l.type === 'eval').map((l) => (l as unknown as { step: number }).step));
  const deltas: number[] = [];
  for (let i = 1; i < steady.length; i++) {
    const a = steady[i - 1];
    const b = steady[i];
    if (b.step !== a.step + 1 || evalSteps.has(b.step)) continue;
    deltas.push((b.time - a.time) * 1000);
  }
  const stepMs = mean(deltas);
  const globalBatch = REF.perWorkerBatch * o.world;
  const flops = summary.flopsPerExample || refFlopsPerExample();
  const split = {
    computeMs: mean(steady.map((l) => l.computeMs)),
    commMs: mean(steady.map((l) => l.commMs)),
    updateMs: mean(steady.map((l) => l.updateMs)),
    otherMs: 0,
  };
  split.otherMs = Math.max(0, stepMs - split.computeMs - split.commMs - split.updateMs);
  const samplesPerSec = globalBatch / (stepMs / 1000);
  const started = summary.trainStartedAt ? Date.parse(summary.trainStartedAt) / 1000 : NaN;
  const stepEnds = Number.isFinite(started) ? steady.map((l) => started + l.time) : [];
  const tensors = steady.map((l) => l.tensors);
  const memory: MemoryReport = {
    steps: train.length,
    tensorsFirst: tensors[0],
    tensorsLast: tensors[tensors.length - 1],
    tensorsMin: Math.min(...tensors),
    tensorsMax: Math.max(...tensors),
    tensorsFlat: Math.min(...tensors) === Math.max(...tensors),
    workers: workerMemory(procs, trainingWindow(summary.trainStartedAt, train, sampler.t0)),
  };
  return {
    world: o.world,
    globalBatch,
    stepsMeasured: deltas.length,
    warmupSkipped: o.warmup,
    stepMs,
    stepMsMedian: median(deltas),
    samplesPerSec,
    gflopsPerWorker: (samplesPerSec * flops) / o.world / 1e9,
    computeGflopsPerWorker: split.computeMs > 0 ? (REF.perWorkerBatch * flops) / (split.computeMs / 1000) / 1e9 : 0,
    split,
    bytesSentPerStep: mean(steady.map((l) => l.bytesSent)),
    flopsPerExample: flops,
    summary: {
      status: summary.status,
      samplesPerSec: summary.samplesPerSec,
      gflopsPerWorker: summary.gflopsPerWorker,
      backend: summary.backend,
      wallTimeSec: summary.wallTimeSec,
    },
    memory,
    ...(summary.kernels ? { kernels: summary.kernels } : {}),
    ...rankZeroLinks(o.dir),
    stepEnds,
    stepBusyMs: steady.map((l) => l.computeMs + l.commMs + l.updateMs),
    command: `node packages/cli/bin/mtl.js ${args.map((a) => (/[\s,]/.test(a) && !a.includes(':') ? `'${a}'` : a)).join(' ')}`,
  };
}

/** Two W=1 clusters started together; see ClusterPair. */
export async function runClusterPair(o: Omit<ClusterRunOptions, 'world' | 'dir'> & { dirs: [string, string] }): Promise<ClusterPair> {
  // Each on a core of its own, as the launcher pins the two workers of a W=2 run (measured here:
  // the pair runs as fast pinned as unpinned, 27.3-28.5 ms a step either way).
  const cpus = allowedCpus();
  const pin = (i: number) => (cpus && cpus.length >= 2 ? { cpuAffinity: String(cpus[i]) } : {});
  const [a, b] = await Promise.all(o.dirs.map((dir, i) => runCluster({ ...o, world: 1, dir, ...pin(i) })));
  const ends = (r: ClusterRun) => r.stepEnds ?? [];
  if (ends(a!).length < 2 || ends(b!).length < 2) throw new Error('the pair runs have no step times (summary.json lacks trainStartedAt)');
  const lo = Math.max(ends(a!)[0]!, ends(b!)[0]!);
  const hi = Math.min(ends(a!).at(-1)!, ends(b!).at(-1)!);
  if (!(hi > lo)) throw new Error('the two single-worker runs never stepped at the same time');
  // Steps that ended inside the window both share; the rate is steps per second of that window.
  const inside = (r: ClusterRun) => ends(r).filter((t) => t > lo && t <= hi).length;
  const steps: [number, number] = [inside(a!), inside(b!)];
  const samplesPerSec = ((steps[0] + steps[1]) * REF.perWorkerBatch) / (hi - lo);
  const lockstepPenaltyMs = lockstepPenalty(a!.stepBusyMs ?? [], b!.stepBusyMs ?? []);
  // The pair's mean step (each run stepping REF.perWorkerBatch at a time), plus the wait.
  const pairStepMs = (2 * REF.perWorkerBatch * 1000) / samplesPerSec;
  const lockstepSamplesPerSec = (2 * REF.perWorkerBatch * 1000) / (pairStepMs + lockstepPenaltyMs);
  dropStepSeries(a!);
  dropStepSeries(b!);
  return { runs: [a!, b!], overlapSec: hi - lo, stepsInOverlap: steps, samplesPerSec, lockstepPenaltyMs, lockstepSamplesPerSec };
}

/** The sampler-relative ms from the first to the last step (null: unknown, judge every sample). */
function trainingWindow(trainStartedAt: string | undefined, train: TrainLine[], samplerT0: number): [number, number] | null {
  const start = trainStartedAt ? Date.parse(trainStartedAt) : NaN;
  if (!Number.isFinite(start) || train.length === 0) return null;
  const at = (l: TrainLine) => start + l.time * 1000 - samplerT0;
  return [at(train[0]!), at(train[train.length - 1]!)];
}

/** Worker processes only; see WorkerMemory for how the trend is read. */
function workerMemory(procs: ProcMemory[], window: [number, number] | null): WorkerMemory[] {
  return procs
    .filter((p) => p.role.startsWith('worker'))
    .map((p) => {
      const s = window ? p.samples.filter((x) => x.t >= window[0] && x.t <= window[1]) : p.samples;
      const q = Math.floor(s.length / 4);
      const early = median(s.slice(q, 2 * q).map((x) => x.rssMB));
      const late = median(s.slice(s.length - q).map((x) => x.rssMB));
      const peak = (xs: ProcMemory['samples']) => xs.reduce((a, x) => Math.max(a, x.rssMB), 0);
      const half = Math.floor(s.length / 2);
      const first = peak(s.slice(Math.floor(s.length / 10), half));
      const second = peak(s.slice(half));
      return {
        role: p.role,
        pid: p.pid,
        peakRssMB: p.peakRssMB,
        samples: p.samples.length,
        samplesJudged: s.length,
        firstHalfPeakMB: first,
        secondHalfPeakMB: second,
        growthMB: second - first,
        earlyMedianMB: early,
        lateMedianMB: late,
        slopeMBPerMin: slope(s.slice(q).map((x) => [x.t / 60000, x.rssMB] as const)),
      };
    });
}

/** Least-squares slope of y over x; 0 with fewer than two points. */
function slope(pts: ReadonlyArray<readonly [number, number]>): number {
  const n = pts.length;
  if (n < 2) return 0;
  let sx = 0, sy = 0;
  for (const [x, y] of pts) { sx += x; sy += y; }
  const mx = sx / n, my = sy / n;
  let sxy = 0, sxx = 0;
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2; }
  return sxx > 0 ? sxy / sxx : 0;
}
