// The CI-sized benchmark: `mtl bench --quick` runs end to end and reports every field. Figures are
// not asserted (ratios and budgets live in the benchmark's own PASS/FAIL table).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mtl, tempDir } from './harness';

type Json = Record<string, unknown>;

const isNote = (x: unknown) => !!x && typeof x === 'object' && typeof (x as Json).note === 'string' && Object.keys(x as Json).length === 1;

/** Either the measurement (with these fields) or a { note } saying why it was skipped. */
function expectMeasuredOrNote(x: unknown, fields: string[]): void {
  expect(x).toBeTruthy();
  if (isNote(x)) return;
  const row = (Array.isArray(x) ? x[0] : x) as Json;
  if (Array.isArray(x) && x.length === 0) return;
  for (const f of fields) expect(row, f).toHaveProperty(f);
}

describe('mtl bench --quick', () => {
  it('writes bench.json with every section and a PASS/FAIL/SKIP line per target', async () => {
    const out = tempDir('bench');
    const r = await mtl(['bench', '--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const file = join(out, 'bench.json');
    expect(existsSync(file)).toBe(true);
    const b = JSON.parse(readFileSync(file, 'utf8')) as Json;

    for (const k of ['schema', 'mode', 'startedAt', 'finishedAt', 'wallTimeSec', 'commit', 'machine', 'settings', 'python', 'workload', 'allReduce', 'pointToPoint', 'compute', 'training', 'memory', 'targets']) {
      expect(b, k).toHaveProperty(k);
    }
    expect(b.mode).toBe('quick');
    const machine = b.machine as Json;
    for (const k of ['cpuModel', 'nproc', 'node', 'loadavgStart', 'loadavgEnd']) expect(machine).toHaveProperty(k);
    expect((b.workload as Json).flopsPerExample).toBeGreaterThan(0);

    const ar = b.allReduce as Json;
    expectMeasuredOrNote(ar.ours, ['world', 'bytes', 'meanMs', 'algbwGBs', 'busbwGBs', 'ring', 'transport']);
    // Both transports are measured: TCP (gloo's, and between hosts) and Unix sockets (one host).
    if (Array.isArray(ar.ours) && process.platform === 'linux') expect(new Set((ar.ours as Json[]).map((x) => x.transport))).toEqual(new Set(['tcp', 'unix']));
    expectMeasuredOrNote(ar.gloo, ['world', 'bytes', 'meanMs', 'algbwGBs', 'busbwGBs']);
    expect(Array.isArray(ar.vsGloo)).toBe(true);
    expectMeasuredOrNote(b.pointToPoint, ['raw']);

    const c = b.compute as Json;
    expectMeasuredOrNote(c.gemmAllCores, ['gflops', 'numpy', 'blas']);
    expectMeasuredOrNote(c.gemmOneCore, ['gflops']);
    expectMeasuredOrNote(c.plainStockMatMul, ['stepMs']);
    expectMeasuredOrNote(c.plainWasmMatMul, ['stepMs']);
    expect(typeof (c.plain as Json).kernels).toBe('string');
    // The plain tfjs loop and both cluster runs need nothing outside the repository: always measured.
    for (const k of ['stepMs', 'samplesPerSec', 'gflops', 'lossAndGradMs', 'lossAndGradGflops']) expect(c.plain as Json).toHaveProperty(k);

    const t = b.training as Json;
    for (const w of ['w1', 'w2']) {
      const run = t[w] as Json;
      expect(isNote(run), `${w}: ${JSON.stringify(run)}`).toBe(false);
      for (const k of ['world', 'stepMs', 'samplesPerSec', 'gflopsPerWorker', 'computeGflopsPerWorker', 'split', 'bytesSentPerStep', 'memory', 'command']) {
        expect(run, `${w}.${k}`).toHaveProperty(k);
      }
      for (const k of ['computeMs', 'commMs', 'updateMs', 'otherMs']) expect(run.split as Json).toHaveProperty(k);
      expect(run.samplesPerSec).toBeGreaterThan(0);
    }
    expect((t.w2 as Json).world).toBe(2);
    expectMeasuredOrNote(t.ddp, ['world', 'stepMs', 'samplesPerSec', 'gflopsPerProc']);
    for (const k of ['overheadRatio', 'scaling', 'gemmBoundSamplesPerSec', 'endToEndFraction', 'vsDdp']) expect(t).toHaveProperty(k);
    expect(typeof t.overheadRatio).toBe('number');
    const overheads = t.overheadRounds as Json[];
    expect(overheads.length).toBeGreaterThanOrEqual(1);
    for (const k of ['w1StepMs', 'plainStepMs', 'ratio']) expect(overheads[0]).toHaveProperty(k);
    expect(overheads.map((x) => x.ratio)).toContain(t.overheadRatio);
    expect(typeof t.scaling).toBe('number');
    // The two-process limit: two W=1 clusters that stepped at the same time.
    const pair = t.w1Pair as Json;
    expect(isNote(pair), JSON.stringify(pair)).toBe(false);
    for (const k of ['samplesPerSec', 'overlapSec', 'stepsInOverlap', 'perRunSamplesPerSec', 'lockstepPenaltyMs', 'lockstepSamplesPerSec', 'command']) expect(pair).toHaveProperty(k);
    expect(pair.overlapSec as number).toBeGreaterThan(0);
    expect(typeof t.twoProcessCeiling).toBe('number');
    // Waiting for the slower one never makes the pair faster.
    expect(pair.lockstepPenaltyMs as number).toBeGreaterThanOrEqual(0);
    expect(pair.lockstepSamplesPerSec as number).toBeLessThanOrEqual(pair.samplesPerSec as number);
    expect(typeof t.lockstepCeiling).toBe('number');
    const rounds = t.scalingRounds as Json[];
    expect(rounds.length).toBeGreaterThanOrEqual(1);
    for (const k of ['w1SamplesPerSec', 'w2SamplesPerSec', 'pairSamplesPerSec', 'scaling', 'ceiling', 'lockstepCeiling', 'w2Split']) expect(rounds[0]).toHaveProperty(k);
    expect(rounds.map((x) => x.scaling)).toContain(t.scaling);
    // Every round also ran W=2 with its link on TCP, as between hosts.
    expect(typeof rounds[0]!.scalingTcp).toBe('number');
    expect(rounds[0]!.w2TcpSamplesPerSec as number).toBeGreaterThan(0);
    const tcpRun = ['train-w2-tcp', 'train-w2-tcp-r1'].map((d) => join(out, d, 'config.json')).find((f) => existsSync(f));
    expect(tcpRun).toBeDefined();
    expect(JSON.parse(readFileSync(tcpRun!, 'utf8')).workers.map((w: Json) => w.links)).toEqual([{ tcp: 1, unix: 0 }, { tcp: 1, unix: 0 }]);

    const m = b.memory as Json;
    for (const k of ['tensorsFirst', 'tensorsLast', 'tensorsFlat', 'workers']) expect(m).toHaveProperty(k);
    // Linux has /proc: both workers' RSS is sampled and reported as a trend.
    const mw = m.workers as Json[];
    expect(mw.map((w) => w.role).sort()).toEqual(['worker-0', 'worker-1']);
    for (const w of mw) {
      for (const k of ['peakRssMB', 'samples', 'samplesJudged', 'firstHalfPeakMB', 'secondHalfPeakMB', 'growthMB', 'earlyMedianMB', 'lateMedianMB', 'slopeMBPerMin']) expect(typeof w[k]).toBe('number');
      expect(w.peakRssMB as number).toBeGreaterThan(20);
    }

    const targets = b.targets as Json[];
    const ids = targets.map((x) => x.id);
    expect(ids).toEqual([
      'allreduce-busbw-vs-gloo-w2',
      'allreduce-busbw-vs-gloo-w4',
      'cluster-overhead-w1',
      'scaling-w2',
      'compute-gflops-per-worker',
      'end-to-end-vs-gemm-limit',
      'memory-flat',
    ]);
    for (const x of targets) {
      expect(['PASS', 'FAIL', 'SKIP']).toContain(x.status);
      expect(x).toHaveProperty('ratio');
      expect(x).toHaveProperty('measured');
    }

    // The readable table names every target with its status.
    expect(r.stdout).toContain('Targets (issue 4)');
    for (const x of targets) expect(r.stdout).toMatch(new RegExp(`^${x.status}\\s`, 'm'));
  });
});
