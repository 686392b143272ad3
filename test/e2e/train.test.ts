import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MtlModel, fileSystemHandler } from '@mtl/mtl';
import { modelSpecOf } from '@mtl/protocol';
import { allowedCpus, loadNative } from '@mtl/native';
import { finalParams, maxAbsDiff, mtl, readJson, readJsonl, tempDir } from './harness';

describe('mtl train: coordinator + 2 workers on loopback', () => {
  it('trains, the loss falls, artifacts exist and the saved model loads', async () => {
    const out = join(tempDir('train'), 'run');
    const res = await mtl([
      'train', '--workers', '2', '--out', out, '--steps', '120', '--batch-size', '64', '--examples', '2048',
      '--tasks', 'price:regression,click:binary,segment:multiclass:3', '--trunk', '32,32', '--lr', '0.01',
      '--checksum-every', '10', '--eval-every', '40', '--backend', 'cpu',
    ]);
    expect(res.code, res.stderr).toBe(0);
    // Logs come back with a rank prefix, progress shows step, losses and throughput.
    expect(res.stderr).toMatch(/\[rank 0\]/);
    expect(res.stderr).toMatch(/\[rank 1\]/);
    expect(res.stderr).toMatch(/step \d+\/120 epoch \d+ \| loss price=\S+ click=\S+ segment=\S+ \| [\d,]+ samples\/s/);
    expect(res.stdout).toMatch(/task\s+train loss/);

    for (const f of ['config.json', 'metrics.jsonl', 'summary.json', 'model/model.json', 'model/weights.bin']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const summary = readJson(join(out, 'summary.json'));
    expect(summary.status).toBe('completed');
    expect(summary.world).toBe(2);
    expect(summary.steps).toBe(120);
    expect(summary.backend).toBe('cpu');
    expect(summary.samplesPerSec).toBeGreaterThan(0);
    expect(Object.keys(summary.finalMetrics).sort()).toEqual(['click', 'price', 'segment']);
    expect(summary.finalMetrics.click.auc).toBeGreaterThan(0.6);
    expect(summary.finalMetrics.segment.accuracy).toBeGreaterThan(0.4);

    const lines = readJsonl(join(out, 'metrics.jsonl'));
    const train = lines.filter((l) => l.type === 'train');
    expect(train.map((l) => l.step)).toEqual([...Array(120).keys()]);
    const mean = (xs: any[], task: string) => xs.reduce((a, l) => a + l.losses[task], 0) / xs.length;
    for (const task of ['price', 'click', 'segment']) {
      expect(mean(train.slice(-20), task), task).toBeLessThan(0.8 * mean(train.slice(0, 20), task));
    }
    // The tfjs tensor count stays flat across steps (no leak).
    const tensors = train.map((l) => l.tensors);
    expect(new Set(tensors.slice(5)).size).toBe(1);
    expect(lines.filter((l) => l.type === 'eval').length).toBe(3);

    const config = readJson(join(out, 'config.json'));
    expect(config.run.tasks.map((t: any) => t.name)).toEqual(['price', 'click', 'segment']);
    expect(config.workers.map((w: any) => w.rank)).toEqual([0, 1]);
    // Two workers on a host with at least two CPUs: pinned one core each (the launcher's auto mode),
    // as each worker read back from /proc after pinning itself.
    const cpus = allowedCpus();
    if (loadNative()?.setProcessAffinity && cpus && cpus.length >= 2) {
      expect(config.workers.map((w: any) => w.cpus)).toEqual([String(cpus[0]), String(cpus[1])]);
      expect(res.stderr).toMatch(/pinned to CPU/);
    } else expect(config.workers.map((w: any) => w.cpus)).toEqual([undefined, undefined]);
    // Both workers share this host and network namespace: their link is a Unix socket (Linux).
    const link = process.platform === 'linux' ? { tcp: 0, unix: 1 } : { tcp: 1, unix: 0 };
    expect(config.workers.map((w: any) => w.links)).toEqual([link, link]);
    expect(res.stderr).toMatch(process.platform === 'linux' ? /ring formed: 1 peer link\(s\) over a Unix socket, 0 over TCP/ : /0 peer link\(s\) over a Unix socket, 1 over TCP/);

    // report.html: the run's page, drawn from its own files (charts inline, no scripts).
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    expect(report).toContain(`<h1>mtl run <code>${config.run.runId}</code></h1>`);
    expect(report).toContain('<p class="status-completed">Status: completed</p>');
    for (const id of ['loss-vs-step', 'val-metric', 'throughput', 'step-split']) expect(report).toMatch(new RegExp(`<figure id="${id}">\\s*<svg`));
    expect(report).toMatch(/<td class="measure">price mse \(primary\)<\/td><td>[\d.]+<\/td>/);
    expect(report).not.toMatch(/<script/);
    expect(res.stderr).toMatch(/report: .*report\.html/);

    await tf.setBackend('cpu');
    const model = await tf.loadLayersModel(fileSystemHandler(join(out, 'model')));
    const y = model.predict(tf.zeros([3, config.inputDim])) as tf.Tensor[];
    expect(y.map((t) => t.shape)).toEqual([[3, 1], [3, 1], [3, 3]]);
  });

  it('--data-transport tcp keeps the link on TCP and trains to the same bits as the Unix socket', async () => {
    const dir = tempDir('transport');
    const args = ['--workers', '2', '--steps', '30', '--batch-size', '64', '--examples', '1024', '--tasks', 'a:regression,b:binary', '--trunk', '64,64', '--backend', 'cpu', '--eval-every', '0'];
    const tcp = await mtl(['train', '--out', join(dir, 'tcp'), '--data-transport', 'tcp', ...args]);
    expect(tcp.code, tcp.stderr).toBe(0);
    const auto = await mtl(['train', '--out', join(dir, 'auto'), ...args]);
    expect(auto.code, auto.stderr).toBe(0);
    expect(readJson(join(dir, 'tcp', 'config.json')).workers.map((w: any) => w.links)).toEqual([{ tcp: 1, unix: 0 }, { tcp: 1, unix: 0 }]);
    expect(maxAbsDiff(finalParams(join(dir, 'tcp')), finalParams(join(dir, 'auto')))).toBe(0);
    const bad = await mtl(['train', '--out', join(dir, 'bad'), '--data-transport', 'shm', ...args]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--data-transport.*'shm' is invalid/);
  });

  it('--steps 0 writes the initialised model', async () => {
    const out = join(tempDir('steps0'), 'run');
    const res = await mtl(['train', '--workers', '2', '--out', out, '--steps', '0', '--backend', 'cpu', '--examples', '512', '--seed', '5']);
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(join(out, 'model', 'model.json'))).toBe(true);
    expect(readJson(join(out, 'summary.json')).steps).toBe(0);
    // Exactly the seeded initialisation, so runs can be compared from the same start.
    await tf.setBackend('cpu');
    const fresh = MtlModel.create(modelSpecOf(readJson(join(out, 'config.json')).run, 16), 5);
    expect(maxAbsDiff(finalParams(out), fresh.getParams())).toBe(0);
    fresh.dispose();
  });
});
