import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { describeIssues, runConfigSchema, type RunConfig } from '@mtl/protocol';

/** Aggregators that combine the T global task gradients on the trunk (the stacked path). */
const STACKED_AGGREGATORS: ReadonlySet<string> = new Set(['pcgrad', 'mgda', 'cagrad', 'gradnorm', 'imtl', 'aligned', 'gradvac', 'gls', 'nash', 'fairgrad']);

/** Flags that set one parameter of one aggregator (the run file's aggregator fields). */
const AGGREGATOR_PARAMS = [
  { flag: '--dwa-temperature', key: 'dwaTemperature', aggregator: 'dwa', field: 'temperature' },
  { flag: '--cagrad-alpha', key: 'cagradAlpha', aggregator: 'cagrad', field: 'alpha' },
  { flag: '--gradnorm-alpha', key: 'gradnormAlpha', aggregator: 'gradnorm', field: 'alpha' },
  { flag: '--gradnorm-lr', key: 'gradnormLr', aggregator: 'gradnorm', field: 'lr' },
  { flag: '--gradvac-beta', key: 'gradvacBeta', aggregator: 'gradvac', field: 'beta' },
  { flag: '--fairgrad-alpha', key: 'fairgradAlpha', aggregator: 'fairgrad', field: 'alpha' },
] as const;

/** Flags that describe a run; shared by `train`, `coordinator` and `compare`. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'run file (YAML or JSON); flags override its fields')
    .option('--run-id <id>', 'name of the run (default: run-<date>-<random>)')
    .addOption(new Option('--variant <name>', 'distributed: one multi-task dataset over all workers; parallel: each task its own data and worker group').choices(['distributed', 'parallel']))
    .option('--placement <map>', 'parallel variant: task groups as task=rank,rank;task=rank (default round-robin)', parsePlacement)
    .option('--steps <n>', 'global optimisation steps', nonNegativeInt('--steps'))
    .option('--epochs <n>', 'train for this many epochs instead of --steps', positiveInt('--epochs'))
    .option('--batch-size <n>', 'examples per step across all workers (independent of the worker count)', positiveInt('--batch-size'))
    .option('--seed <n>', 'seed of data, initialisation and sampling', nonNegativeInt('--seed'))
    .option('--tasks <list>', 'tasks as name:type[:weight],... with type regression, binary or multiclass:K', parseTasks)
    .option('--trunk <widths>', 'hidden widths of the shared MLP trunk, e.g. 64,64', intList('--trunk'))
    .option('--head <widths>', 'hidden widths inside each task head (default none)', intList('--head', true))
    .addOption(new Option('--activation <name>', 'activation of hidden layers').choices(['relu', 'tanh', 'sigmoid', 'elu', 'gelu', 'linear']))
    .addOption(new Option('--architecture <name>', 'hps: one shared trunk; mmoe: experts (each of the trunk widths) mixed by a gate per task; cgc: shared and per-task experts mixed by a gate per task; ple: --levels stacked cgc layers; dselect-k: mmoe with a gate per task that selects --dselect-k experts; cross-stitch: a column of the trunk widths per task, the columns mixed after each hidden layer').choices(['hps', 'mmoe', 'cgc', 'ple', 'dselect-k', 'cross-stitch']))
    .option('--experts <n>', 'mmoe, dselect-k: number of experts (dselect-k: a power of two); cgc, ple: shared experts per level (default 4)', positiveInt('--experts'))
    .option('--task-experts <n>', 'cgc, ple: experts of each task per level (default 1)', positiveInt('--task-experts'))
    .option('--levels <n>', 'ple: extraction levels (default 2)', positiveInt('--levels'))
    .option('--dselect-k <k>', 'dselect-k: experts each task\'s gate selects, at most --experts (default 2)', positiveInt('--dselect-k'))
    .option('--dselect-gamma <x>', 'dselect-k: width gamma of the gate\'s smooth-step (default 1)', positiveFloat('--dselect-gamma'))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['sgd', 'adam']))
    .option('--lr <x>', 'learning rate', positiveFloat('--lr'))
    .option('--momentum <x>', 'SGD momentum', float('--momentum'))
    .option('--weight-decay <x>', 'L2 weight decay', float('--weight-decay'))
    .addOption(new Option('--aggregator <name>', 'how task gradients combine (dwa: Dynamic Weight Average; uw: uncertainty weighting; rlw: random loss weighting; gradnorm: GradNorm; imtl: IMTL-G; aligned: Aligned-MTL; gls: geometric loss strategy; nash: Nash-MTL; fairgrad: FairGrad; pcgrad, gradvac, mgda, cagrad: gradient surgery; these need the distributed variant)').choices(['equal', 'static', 'dwa', 'uw', 'rlw', 'gradnorm', 'imtl', 'aligned', 'gls', 'nash', 'fairgrad', 'pcgrad', 'gradvac', 'mgda', 'cagrad']))
    .option('--dwa-temperature <x>', 'temperature T of the dwa aggregator (default 2)', positiveFloat('--dwa-temperature'))
    .option('--cagrad-alpha <x>', 'radius alpha of the cagrad aggregator, a share of the mean gradient\'s norm (default 0.5)', float('--cagrad-alpha'))
    .option('--gradnorm-alpha <x>', 'asymmetry alpha of the gradnorm aggregator (default 1.5)', float('--gradnorm-alpha'))
    .option('--gradnorm-lr <x>', 'learning rate of the gradnorm aggregator\'s task weights (default 0.025)', positiveFloat('--gradnorm-lr'))
    .option('--gradvac-beta <x>', 'rate beta of the gradvac aggregator\'s moving cosine targets, in (0, 1] (default 0.5)', positiveFloat('--gradvac-beta'))
    .option('--fairgrad-alpha <x>', 'fairness alpha of the fairgrad aggregator, in [0.01, 10] (1: Nash-MTL\'s proportional fairness; default 1)', positiveFloat('--fairgrad-alpha'))
    .option('--examples <n>', 'synthetic dataset size', positiveInt('--examples'))
    .option('--input-dim <n>', 'synthetic feature dimension', positiveInt('--input-dim'))
    .option('--correlation <x>', 'synthetic task correlation in [-1, 1]', float('--correlation'))
    .option('--noise <x>', 'synthetic label noise (std dev)', float('--noise'))
    .option('--missing-rate <x>', 'fraction of synthetic labels masked out per task', float('--missing-rate'))
    .option('--val-fraction <x>', 'share of the data held out for validation', float('--val-fraction'))
    .option('--data <file>', 'train on a CSV (.csv) or JSON-lines (.jsonl) file instead of synthetic data')
    .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', 'node-gpu', 'node', 'wasm', 'cpu']))
    .option('--checksum-every <n>', 'compare parameter checksums across ranks every n steps', positiveInt('--checksum-every'))
    .option('--eval-every <n>', 'validate every n steps (0 = every epoch)', nonNegativeInt('--eval-every'))
    .option('--checkpoint-every <n>', 'write a checkpoint every n steps (0 = only the final one)', nonNegativeInt('--checkpoint-every'))
    .option('--keep-last', 'keep the last partial batch of each epoch instead of dropping it');
}

export interface RunFlags {
  config?: string;
  runId?: string;
  variant?: string;
  placement?: Record<string, number[]>;
  steps?: number;
  epochs?: number;
  batchSize?: number;
  seed?: number;
  tasks?: Array<{ name: string; type: string; weight?: number }>;
  trunk?: number[];
  head?: number[];
  activation?: string;
  architecture?: string;
  experts?: number;
  taskExperts?: number;
  levels?: number;
  dselectK?: number;
  dselectGamma?: number;
  optimizer?: string;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  aggregator?: string;
  dwaTemperature?: number;
  cagradAlpha?: number;
  gradnormAlpha?: number;
  gradnormLr?: number;
  gradvacBeta?: number;
  fairgradAlpha?: number;
  examples?: number;
  inputDim?: number;
  correlation?: number;
  noise?: number;
  missingRate?: number;
  valFraction?: number;
  data?: string;
  backend?: string;
  checksumEvery?: number;
  evalEvery?: number;
  checkpointEvery?: number;
  keepLast?: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultRunId(): string {
  const d = new Date();
  const stamp = d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Read a YAML or JSON run file; syntax errors name the file and line. */
export function readRunFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read run file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  if (extname(file) === '.json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`run file ${file} is not valid JSON: ${(err as Error).message}`);
    }
  } else {
    try {
      value = parseYaml(text, { prettyErrors: true });
    } catch (err) {
      const e = err as Error & { linePos?: Array<{ line: number; col: number }> };
      const where = e.linePos?.[0] ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      throw new ConfigError(`run file ${file} is not valid YAML${where}: ${e.message.split('\n')[0]}`);
    }
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`run file ${file} must hold a mapping of run fields at the top level`);
  return value as Record<string, unknown>;
}

/** Defaults < `base` (a resumed run's config) < run file < flags, then one validation that names every bad field. */
export function resolveRunConfig(flags: RunFlags, extra: Record<string, unknown> = {}): RunConfig {
  const cfg: Record<string, unknown> = { ...extra, ...(flags.config ? readRunFile(flags.config) : {}) };
  const section = (name: string): Record<string, unknown> => ({ ...((cfg[name] as Record<string, unknown> | undefined) ?? {}) });
  const set = (obj: Record<string, unknown>, key: string, v: unknown) => {
    if (v !== undefined) obj[key] = v;
  };
  set(cfg, 'runId', flags.runId ?? cfg.runId ?? defaultRunId());
  set(cfg, 'variant', flags.variant);
  set(cfg, 'placement', flags.placement);
  set(cfg, 'steps', flags.steps);
  set(cfg, 'epochs', flags.epochs);
  set(cfg, 'batchSize', flags.batchSize);
  set(cfg, 'seed', flags.seed);
  set(cfg, 'tasks', flags.tasks);
  set(cfg, 'backend', flags.backend);
  set(cfg, 'checksumEvery', flags.checksumEvery);
  set(cfg, 'evalEvery', flags.evalEvery);
  set(cfg, 'checkpointEvery', flags.checkpointEvery);
  if (flags.keepLast) cfg.dropLast = false;
  const model = section('model');
  set(model, 'trunk', flags.trunk);
  set(model, 'head', flags.head);
  set(model, 'activation', flags.activation);
  set(model, 'architecture', flags.architecture);
  set(model, 'experts', flags.experts);
  set(model, 'taskExperts', flags.taskExperts);
  set(model, 'levels', flags.levels);
  set(model, 'k', flags.dselectK);
  set(model, 'gamma', flags.dselectGamma);
  cfg.model = model;
  const opt = section('optimizer');
  set(opt, 'name', flags.optimizer);
  set(opt, 'lr', flags.lr);
  set(opt, 'momentum', flags.momentum);
  set(opt, 'weightDecay', flags.weightDecay);
  cfg.optimizer = opt;
  if (flags.aggregator) cfg.aggregator = { ...section('aggregator'), name: flags.aggregator };
  for (const p of AGGREGATOR_PARAMS) {
    const v = flags[p.key];
    if (v === undefined) continue;
    if (section('aggregator').name !== p.aggregator) throw new ConfigError(`${p.flag} applies to the ${p.aggregator} aggregator; add --aggregator ${p.aggregator}`);
    cfg.aggregator = { ...section('aggregator'), [p.field]: v };
  }
  let data = section('data');
  if (flags.data) {
    const ext = extname(flags.data).toLowerCase();
    if (ext !== '.csv' && ext !== '.jsonl') throw new ConfigError(`--data ${flags.data}: expected a .csv or .jsonl file`);
    data = { source: ext.slice(1), path: flags.data, ...(data.valFraction !== undefined ? { valFraction: data.valFraction } : {}) };
  } else if (data.source === undefined) {
    data.source = 'synthetic';
  }
  set(data, 'numExamples', flags.examples);
  set(data, 'inputDim', flags.inputDim);
  set(data, 'correlation', flags.correlation);
  set(data, 'noise', flags.noise);
  set(data, 'missingRate', flags.missingRate);
  set(data, 'valFraction', flags.valFraction);
  cfg.data = data;
  const parsed = runConfigSchema.safeParse(cfg);
  if (!parsed.success) {
    const where = flags.config ? ` (run file ${flags.config} and flags)` : '';
    throw new ConfigError(`invalid run configuration${where}: ${describeIssues(parsed.error.issues)}`);
  }
  const run = parsed.data;
  for (const [flag, v] of [['--dselect-k', flags.dselectK], ['--dselect-gamma', flags.dselectGamma]] as const) {
    if (v !== undefined && run.model.architecture !== 'dselect-k') throw new ConfigError(`${flag} applies to the dselect-k architecture; add --architecture dselect-k`);
  }
  if (run.model.architecture === 'dselect-k') {
    const { experts, k } = run.model;
    if ((experts & (experts - 1)) !== 0 || experts < 2) throw new ConfigError(`invalid run configuration: model.experts: dselect-k needs a power of two of experts (its gate addresses them with binary digits), got ${experts}`);
    if (k > experts) throw new ConfigError(`invalid run configuration: model.k: dselect-k selects k of the ${experts} experts per task, got k = ${k}`);
  }
  const names = new Set<string>();
  for (const t of run.tasks) {
    if (names.has(t.name)) throw new ConfigError(`invalid run configuration: tasks: task name ${t.name} appears twice`);
    names.add(t.name);
  }
  if (run.aggregator.name !== 'equal' && run.aggregator.name !== 'static' && run.variant === 'parallel') {
    const how = STACKED_AGGREGATORS.has(run.aggregator.name) ? "needs every task's global gradient on one shared batch (it all-reduces the T task gradients stacked)" : 'combines the tasks of one shared batch';
    throw new ConfigError(`invalid run configuration: aggregator ${run.aggregator.name} ${how} and needs the distributed variant (the parallel variant weighs each task by its tasks[].weight)`);
  }
  if (run.aggregator.name === 'static' && run.aggregator.weights) {
    for (const k of Object.keys(run.aggregator.weights)) {
      if (!names.has(k)) throw new ConfigError(`invalid run configuration: aggregator.weights.${k}: no task is named ${k}`);
    }
  }
  return run;
}

// ---- flag parsers: each error names the flag and the bad value ----------------------------------

function num(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} expects a number, got '${v}'`);
  return n;
}
export function float(flag: string) {
  return (v: string) => num(flag, v);
}
export function positiveFloat(flag: string) {
  return (v: string) => {
    const n = num(flag, v);
    if (n <= 0) throw new InvalidArgumentError(`${flag} expects a positive number, got '${v}'`);
    return n;
  };
}
export function nonNegativeInt(flag: string) {
  return (v: string) => {
    const n = num(flag, v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} expects a non-negative integer, got '${v}'`);
    return n;
  };
}
export function positiveInt(flag: string) {
  return (v: string) => {
    const n = num(flag, v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} expects a positive integer, got '${v}'`);
    return n;
  };
}
function intList(flag: string, allowEmpty = false) {
  return (v: string) => {
    if (allowEmpty && v.trim() === '') return [];
    return v.split(',').map((part) => positiveInt(flag)(part.trim()));
  };
}
function parsePlacement(v: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const part of v.split(';').filter((p) => p.trim())) {
    const [task, ranks] = part.split('=');
    if (!task || ranks === undefined) throw new InvalidArgumentError(`--placement expects task=rank,rank;task=rank, got '${part}'`);
    out[task.trim()] = ranks.split(',').map((r) => nonNegativeInt('--placement rank')(r.trim()));
  }
  return out;
}

function parseTasks(v: string): Array<{ name: string; type: string; weight?: number }> {
  return v.split(',').map((spec) => {
    const parts = spec.trim().split(':');
    const name = parts[0] ?? '';
    if (!name) throw new InvalidArgumentError(`--tasks: empty task name in '${spec}'`);
    let type = parts[1] ?? 'regression';
    let rest = parts.slice(2);
    if (type === 'multiclass') {
      type = `multiclass:${rest[0] ?? ''}`;
      rest = rest.slice(1);
    }
    const weight = rest[0] !== undefined ? num('--tasks weight', rest[0]) : undefined;
    return weight === undefined ? { name, type } : { name, type, weight };
  });
}

/** `--resume DIR`: the run config recorded in DIR and its newest checkpoint. */
export function resumeBase(dir: string): Record<string, unknown> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--resume ${dir}: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const run = (JSON.parse(text) as { run?: Record<string, unknown> }).run;
    if (!run || typeof run !== 'object') throw new Error('no "run" field');
    return run;
  } catch (err) {
    throw new ConfigError(`--resume ${dir}: ${file} is not a run config: ${(err as Error).message}`);
  }
}
