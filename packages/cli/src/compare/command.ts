import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError, type Option, type ParseOptionsResult } from 'commander';

/** A usage error found after parsing (the action's errors reach the user as `mtl: <message>`, exit code 1). */
export class CompareError extends Error {
  override name = 'CompareError';
}
import { addRunOptions, positiveInt } from '../run-options';
import { buildComparison, parseTargets, type Target } from './analyze';
import { chartSpecs, renderCharts } from './charts';
import { htmlReport, terminalTable } from './report';
import { loadRunDir, RunDirError, type LoadedRun } from './run-dir';

const CLI = join(__dirname, '..', '..', 'bin', 'mtl.js');

/** Options of `compare` itself; every other option is a workload flag forwarded to `mtl train`. */
const OWN_OPTIONS = new Set(['--variants', '--out', '--target', '--help']);

interface CompareFlags {
  variants?: string[];
  out?: string;
  target?: Target[];
  workers?: number;
}

/** Commander hands a subcommand its unparsed arguments here: keep them to forward the workload flags verbatim. */
class CompareCommand extends Command {
  rawArgs: string[] = [];
  override parseOptions(args: string[]): ParseOptionsResult {
    this.rawArgs = [...args];
    return super.parseOptions(args);
  }
}

export function compareCommand(): Command {
  const cmd = new CompareCommand('compare')
    .description(
      'compare finished runs (mtl compare RUN_DIR RUN_DIR ...) or train variants on the same workload and compare them ' +
        '(mtl compare --variants parallel,distributed [workload flags]); prints a table and writes report.html, SVG charts and compare.json',
    )
    .argument('[runDirs...]', 'run directories written by mtl train / mtl coordinator')
    .option('--variants <list>', 'train each of these variants with the same workload flags, one after the other, then compare', variantList)
    .option('-o, --out <dir>', 'where the report goes (default runs/compare-<date>); with --variants the runs go in <dir>/<variant>')
    .option('--target <list>', 'time to target: task=metric:value,... (metric defaults to the task\'s primary one), e.g. task_a=mse:0.03', parseTargets)
    .option('-w, --workers <n>', 'with --variants: number of worker processes (forwarded to mtl train)', positiveInt('--workers'));
  addRunOptions(cmd);
  cmd.action(async (runDirs: string[], flags: CompareFlags) => {
    process.exitCode = await runCompare(runDirs, flags, cmd);
  });
  return cmd;
}

function variantList(v: string): string[] {
  const list = v.split(',').map((s) => s.trim());
  if (list.some((s) => !/^[A-Za-z0-9_-]+$/.test(s))) throw new InvalidArgumentError(`--variants expects a comma-separated list of variant names (e.g. parallel,distributed), got '${v}'`);
  return list;
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The workload flags as given on the command line, minus compare's own options. */
export function forwardedFlags(cmd: Command, raw: string[]): string[] {
  const byName = new Map<string, Option>();
  for (const o of cmd.options) {
    if (o.long) byName.set(o.long, o);
    if (o.short) byName.set(o.short, o);
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const tok = raw[i]!;
    if (tok === '--') break;
    if (!tok.startsWith('-') || tok === '-') continue; // a run directory operand
    let name = tok;
    let attached = false;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      if (eq > 0) {
        name = tok.slice(0, eq);
        attached = true;
      }
    } else if (tok.length > 2) {
      name = tok.slice(0, 2);
      attached = true;
    }
    const opt = byName.get(name);
    const takesValue = !!opt && (opt.required || opt.optional);
    const own = !!opt && OWN_OPTIONS.has(opt.long ?? '');
    const value = takesValue && !attached && i + 1 < raw.length ? raw[++i] : undefined;
    if (own || !opt) continue;
    out.push(tok);
    if (value !== undefined) out.push(value);
  }
  return out;
}

async function runCompare(runDirs: string[], flags: CompareFlags, cmd: CompareCommand): Promise<number> {
  const forwarded = forwardedFlags(cmd, cmd.rawArgs);
  const outDir = resolve(flags.out ?? join('runs', `compare-${stamp()}`));
  let runs: LoadedRun[];
  let trainingFailed: string[] = [];
  let command: string;
  if (flags.variants) {
    if (runDirs.length) throw new CompareError(`give either run directories or --variants, not both (got ${runDirs.join(' ')} and --variants ${flags.variants.join(',')})`);
    if (flags.variants.length < 2) process.stderr.write(`mtl compare: only one variant (${flags.variants[0]}); the report will have a single column\n`);
    const trained = await trainVariants(flags.variants, forwarded, outDir);
    runs = trained.runs;
    trainingFailed = trained.failed;
    command = `mtl compare --variants ${flags.variants.join(',')} ${forwarded.join(' ')}`.trim();
  } else {
    if (forwarded.length) throw new CompareError(`workload flags (${forwarded.filter((f) => f.startsWith('-')).join(' ')}) only apply with --variants; finished runs are compared as they are`);
    if (runDirs.length < 2) throw new CompareError(`give at least two run directories to compare (got ${runDirs.length}), or --variants a,b to train and compare`);
    runs = runDirs.map((d) => loadRunDir(d));
    command = `mtl compare ${runDirs.join(' ')}`;
  }
  if (flags.target) command += ` --target ${flags.target.map((t) => `${t.task}=${t.metric ? `${t.metric}:` : ''}${t.value}`).join(',')}`;

  const cmp = buildComparison(runs, flags.target ?? []);
  const charts = await renderCharts(chartSpecs(cmp, runs));
  mkdirSync(outDir, { recursive: true });
  for (const c of charts) writeFileSync(join(outDir, c.file), c.svg);
  writeFileSync(join(outDir, 'report.html'), htmlReport(cmp, charts, command));
  writeFileSync(join(outDir, 'compare.json'), JSON.stringify({ ...cmp, command, charts: charts.map((c) => ({ file: c.file, title: c.title, caption: c.caption })) }, null, 2) + '\n');

  process.stdout.write(`\n${terminalTable(cmp)}\n\n`);
  for (const v of cmp.verdicts) process.stdout.write(`- ${v}\n`);
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  process.stdout.write(`\nreport: ${rel(join(outDir, 'report.html'))}\ncharts: ${charts.map((c) => rel(join(outDir, c.file))).join(' ')}\nnumbers: ${rel(join(outDir, 'compare.json'))}\n`);
  if (trainingFailed.length) {
    process.stderr.write(`mtl compare: training did not complete for ${trainingFailed.join(', ')} (the report shows what was recorded)\n`);
    return 1;
  }
  return 0;
}

/** Train each variant with identical flags, one after the other (so they do not compete for the cores). */
async function trainVariants(variants: string[], forwarded: string[], outDir: string): Promise<{ runs: LoadedRun[]; failed: string[] }> {
  const names = variants.map((v, i) => (variants.indexOf(v) !== variants.lastIndexOf(v) ? `${v}-${i + 1}` : v));
  mkdirSync(outDir, { recursive: true });
  const runs: LoadedRun[] = [];
  const failed: string[] = [];
  for (let i = 0; i < variants.length; i++) {
    const variant = variants[i]!;
    const runDir = join(outDir, names[i]!);
    const logFile = join(outDir, `${names[i]}.log`);
    if (existsSync(join(runDir, 'config.json'))) throw new RunDirError(`${runDir} already holds a run; choose another --out`);
    const args = ['train', '--variant', variant, '--out', runDir, ...forwarded];
    process.stderr.write(`mtl compare: training ${variant} (${i + 1}/${variants.length}): mtl ${args.join(' ')}\n  log: ${logFile}\n`);
    const started = Date.now();
    const code = await runLogged(args, logFile);
    if (interrupted) throw new CompareError(`interrupted while training ${variant}; partial runs are in ${outDir}`);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (!existsSync(join(runDir, 'config.json'))) {
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-12).join('\n');
      throw new Error(`mtl train --variant ${variant} exited with code ${code} before starting a run (full log: ${logFile}):\n${tail}`);
    }
    process.stderr.write(`mtl compare: ${variant} finished in ${secs} s (exit code ${code})\n`);
    if (code !== 0) failed.push(variant);
    runs.push(loadRunDir(runDir));
  }
  return { runs, failed };
}

let interrupted = false;

function runLogged(args: string[], logFile: string): Promise<number> {
  const fd = openSync(logFile, 'w');
  return new Promise<number>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', fd, fd] });
    const stop = () => {
      interrupted = true;
      child.kill('SIGTERM');
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const done = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      closeSync(fd);
    };
    child.once('error', (err) => {
      done();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      done();
      resolvePromise(code ?? (signal ? 128 : 1));
    });
  });
}
