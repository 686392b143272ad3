import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../src/main';
import { ConfigError, resolveRunConfig } from '../src/run-options';

function parseTrain(args: string[]): any {
  const program = buildProgram();
  const train = program.commands.find((c) => c.name() === 'train')!;
  train.action(() => undefined);
  program.exitOverride();
  train.exitOverride();
  program.parse(['node', 'mtl', 'train', ...args]);
  return train.opts();
}

describe('run configuration', () => {
  it('layers defaults < run file < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtl-opts-'));
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'steps: 50\nbatchSize: 64\noptimizer: { name: sgd, lr: 0.1, momentum: 0.5 }\nmodel: { trunk: [8, 8] }\n');
    const cfg = resolveRunConfig(parseTrain(['--config', file, '--lr', '0.2', '--tasks', 'a:regression,b:multiclass:5:2', '--seed', '9']));
    expect(cfg.steps).toBe(50);
    expect(cfg.batchSize).toBe(64);
    expect(cfg.seed).toBe(9);
    expect(cfg.optimizer).toMatchObject({ name: 'sgd', lr: 0.2, momentum: 0.5 });
    expect(cfg.model.trunk).toEqual([8, 8]);
    expect(cfg.tasks).toEqual([
      { name: 'a', type: 'regression', weight: 1 },
      { name: 'b', type: 'multiclass:5', weight: 2 },
    ]);
  });

  it('parses the parallel variant and its placement', () => {
    const cfg = resolveRunConfig(parseTrain(['--variant', 'parallel', '--tasks', 'a,b', '--placement', 'a=0,2;b=1']));
    expect(cfg.variant).toBe('parallel');
    expect(cfg.placement).toEqual({ a: [0, 2], b: [1] });
  });

  it('parses the cgc and ple architectures: shared experts, experts per task, levels', () => {
    expect(resolveRunConfig(parseTrain(['--architecture', 'cgc', '--experts', '2', '--task-experts', '3'])).model).toMatchObject({ architecture: 'cgc', experts: 2, taskExperts: 3 });
    expect(resolveRunConfig(parseTrain(['--architecture', 'ple', '--levels', '3'])).model).toMatchObject({ architecture: 'ple', experts: 4, taskExperts: 1, levels: 3 });
    expect(() => parseTrain(['--levels', '0'])).toThrow(/--levels expects a positive integer, got '0'/);
    expect(() => parseTrain(['--architecture', 'pl'])).toThrow(/Allowed choices are hps, mmoe, cgc, ple, dselect-k, cross-stitch/);
  });

  it('parses the dselect-k and cross-stitch architectures: k and gamma with their defaults, refused where they cannot work', () => {
    expect(resolveRunConfig(parseTrain(['--architecture', 'dselect-k'])).model).toMatchObject({ architecture: 'dselect-k', experts: 4, k: 2, gamma: 1 });
    expect(resolveRunConfig(parseTrain(['--architecture', 'dselect-k', '--experts', '8', '--dselect-k', '3', '--dselect-gamma', '0.5'])).model).toMatchObject({ experts: 8, k: 3, gamma: 0.5 });
    expect(resolveRunConfig(parseTrain(['--architecture', 'cross-stitch', '--trunk', '8,4'])).model).toMatchObject({ architecture: 'cross-stitch', trunk: [8, 4] });
    const dir = mkdtempSync(join(tmpdir(), 'mtl-opts-'));
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'model: { architecture: dselect-k, experts: 2, k: 1, gamma: 2 }\n');
    expect(resolveRunConfig(parseTrain(['--config', file])).model).toMatchObject({ architecture: 'dselect-k', experts: 2, k: 1, gamma: 2 });
    expect(() => resolveRunConfig(parseTrain(['--architecture', 'dselect-k', '--experts', '6']))).toThrow(/model\.experts: dselect-k needs a power of two of experts .* got 6/);
    expect(() => resolveRunConfig(parseTrain(['--architecture', 'dselect-k', '--dselect-k', '5']))).toThrow(/model\.k: dselect-k selects k of the 4 experts per task, got k = 5/);
    expect(() => resolveRunConfig(parseTrain(['--dselect-k', '3']))).toThrow(/--dselect-k applies to the dselect-k architecture; add --architecture dselect-k/);
    expect(() => resolveRunConfig(parseTrain(['--architecture', 'mmoe', '--dselect-gamma', '3']))).toThrow(/--dselect-gamma applies to the dselect-k architecture/);
    expect(() => parseTrain(['--dselect-gamma', '0'])).toThrow(/--dselect-gamma expects a positive number, got '0'/);
    writeFileSync(file, 'model: { architecture: dselect-k, gamma: -1 }\n');
    expect(() => resolveRunConfig(parseTrain(['--config', file]))).toThrow(/model\.gamma/);
  });

  it('names bad flags, bad fields and duplicate tasks', () => {
    expect(() => parseTrain(['--steps', 'many'])).toThrow(/--steps expects a number, got 'many'/);
    expect(() => parseTrain(['--batch-size', '0'])).toThrow(/--batch-size expects a positive integer/);
    expect(() => parseTrain(['--optimizer', 'rmsprop'])).toThrow(/Allowed choices are sgd, adam/);
    expect(() => resolveRunConfig(parseTrain(['--tasks', 'a,a']))).toThrow(/task name a appears twice/);
    expect(() => resolveRunConfig(parseTrain(['--correlation', '3']))).toThrow(ConfigError);
    expect(() => resolveRunConfig(parseTrain(['--correlation', '3']))).toThrow(/data\.correlation/);
    expect(() => resolveRunConfig(parseTrain(['--data', 'file.parquet']))).toThrow(/expected a \.csv or \.jsonl file/);
    expect(resolveRunConfig(parseTrain(['--aggregator', 'dwa'])).aggregator).toEqual({ name: 'dwa', temperature: 2 });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'dwa', '--dwa-temperature', '0.5'])).aggregator).toEqual({ name: 'dwa', temperature: 0.5 });
    expect(() => resolveRunConfig(parseTrain(['--dwa-temperature', '3']))).toThrow(/--dwa-temperature applies to the dwa aggregator; add --aggregator dwa/);
    expect(resolveRunConfig(parseTrain(['--aggregator', 'gradnorm', '--gradnorm-alpha', '0.5', '--gradnorm-lr', '0.1'])).aggregator).toEqual({ name: 'gradnorm', alpha: 0.5, lr: 0.1 });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'cagrad', '--cagrad-alpha', '0.2'])).aggregator).toEqual({ name: 'cagrad', alpha: 0.2 });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'gradvac', '--gradvac-beta', '0.1'])).aggregator).toEqual({ name: 'gradvac', beta: 0.1 });
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'gradvac', '--gradvac-beta', '2']))).toThrow(/aggregator\.beta/);
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'mgda', '--gradnorm-lr', '0.1']))).toThrow(/--gradnorm-lr applies to the gradnorm aggregator; add --aggregator gradnorm/);
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'dwa', '--variant', 'parallel']))).toThrow(/aggregator dwa .* needs the distributed variant/);
    const dir = mkdtempSync(join(tmpdir(), 'mtl-opts-'));
    const list = join(dir, 'list.yaml');
    writeFileSync(list, '- 1\n- 2\n');
    expect(() => resolveRunConfig({ config: list })).toThrow(/must hold a mapping/);
    expect(() => resolveRunConfig({ config: join(dir, 'missing.yaml') })).toThrow(/cannot read run file .*missing\.yaml/);
  });

  it('rlw, imtl, aligned and gradvac: parsed with their defaults, and refused in the parallel variant saying why', () => {
    expect(resolveRunConfig(parseTrain(['--aggregator', 'rlw'])).aggregator).toEqual({ name: 'rlw' });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'imtl'])).aggregator).toEqual({ name: 'imtl' });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'aligned'])).aggregator).toEqual({ name: 'aligned' });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'gradvac'])).aggregator).toEqual({ name: 'gradvac', beta: 0.5 });
    const dir = mkdtempSync(join(tmpdir(), 'mtl-opts-'));
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'aggregator: { name: gradvac, beta: 0.1 }\n');
    expect(resolveRunConfig(parseTrain(['--config', file])).aggregator).toEqual({ name: 'gradvac', beta: 0.1 });
    writeFileSync(file, 'aggregator: { name: gradvac, beta: 0 }\n');
    expect(() => resolveRunConfig(parseTrain(['--config', file]))).toThrow(/aggregator\.beta/);
    for (const name of ['imtl', 'aligned', 'gradvac', 'pcgrad']) {
      expect(() => resolveRunConfig(parseTrain(['--aggregator', name, '--variant', 'parallel']))).toThrow(new RegExp(`aggregator ${name} needs every task's global gradient on one shared batch .* needs the distributed variant`));
    }
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'rlw', '--variant', 'parallel']))).toThrow(/aggregator rlw combines the tasks of one shared batch and needs the distributed variant/);
  });

  it('gls, nash and fairgrad: parsed with their defaults, --fairgrad-alpha and the run file\'s alpha, refused in the parallel variant saying why', () => {
    expect(resolveRunConfig(parseTrain(['--aggregator', 'gls'])).aggregator).toEqual({ name: 'gls' });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'nash'])).aggregator).toEqual({ name: 'nash' });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'fairgrad'])).aggregator).toEqual({ name: 'fairgrad', alpha: 1 });
    expect(resolveRunConfig(parseTrain(['--aggregator', 'fairgrad', '--fairgrad-alpha', '2.5'])).aggregator).toEqual({ name: 'fairgrad', alpha: 2.5 });
    expect(() => parseTrain(['--aggregator', 'fairgrad', '--fairgrad-alpha', '0'])).toThrow(/--fairgrad-alpha expects a positive number, got '0'/);
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'fairgrad', '--fairgrad-alpha', '20']))).toThrow(/aggregator\.alpha/);
    expect(() => resolveRunConfig(parseTrain(['--aggregator', 'nash', '--fairgrad-alpha', '2']))).toThrow(/--fairgrad-alpha applies to the fairgrad aggregator; add --aggregator fairgrad/);
    expect(() => parseTrain(['--aggregator', 'nash-mtl'])).toThrow(/Allowed choices are .*gls, nash, fairgrad/);
    const dir = mkdtempSync(join(tmpdir(), 'mtl-opts-'));
    const file = join(dir, 'run.yaml');
    writeFileSync(file, 'aggregator: { name: fairgrad, alpha: 0.5 }\n');
    expect(resolveRunConfig(parseTrain(['--config', file])).aggregator).toEqual({ name: 'fairgrad', alpha: 0.5 });
    expect(resolveRunConfig(parseTrain(['--config', file, '--fairgrad-alpha', '3'])).aggregator).toEqual({ name: 'fairgrad', alpha: 3 });
    writeFileSync(file, 'aggregator: { name: fairgrad, alpha: -1 }\n');
    expect(() => resolveRunConfig(parseTrain(['--config', file]))).toThrow(/aggregator\.alpha/);
    writeFileSync(file, 'aggregator: { name: nash, alpha: 1 }\n');
    expect(() => resolveRunConfig(parseTrain(['--config', file]))).toThrow(/aggregator: Unrecognized key: "alpha"/);
    for (const name of ['gls', 'nash', 'fairgrad']) {
      expect(() => resolveRunConfig(parseTrain(['--aggregator', name, '--variant', 'parallel']))).toThrow(new RegExp(`aggregator ${name} needs every task's global gradient on one shared batch .* needs the distributed variant`));
    }
  });
});
