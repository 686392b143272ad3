// `mtl bench`: the benchmark suite of issue 4. Writes <out>/bench.json and prints a table with every
// target as PASS/FAIL and its ratio. --quick is the CI-sized run (well under two minutes).
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { positiveInt } from '../run-options';
import { runBench } from './run';
import { settingsFor } from './settings';
import { renderReport } from './table';

interface BenchFlags {
  quick?: boolean;
  out?: string;
  backend?: string;
  python: boolean;
  memorySteps?: number;
  trainSteps?: number;
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, '').replace(/:/g, '-');
}

export function benchCommand(): Command {
  const cmd = new Command('bench')
    .description('benchmark suite: all-reduce vs gloo, transport limits, training throughput vs a plain tfjs loop, PyTorch DDP and the numpy GEMM limit, memory')
    .option('--quick', 'CI-sized run: small buffers, few iterations and steps')
    .option('-o, --out <dir>', 'output directory for bench.json and the training runs (default runs/bench-<date>)')
    .option('--backend <name>', 'compute backend of the training measurements', 'wasm')
    .option('--no-python', 'skip numpy, gloo and PyTorch DDP even where a Python has them')
    .option('--memory-steps <n>', 'steps of the W=2 run that also tracks memory (full default: at least 3000 steps and 300 s)', positiveInt('--memory-steps'))
    .option('--train-steps <n>', 'steps of each run of the scaling rounds, warm-up included (full default: 1400, the first 1000 not measured)', positiveInt('--train-steps'));
  cmd.action(async (flags: BenchFlags) => {
    const settings = settingsFor(!!flags.quick, { backend: flags.backend, python: flags.python, memorySteps: flags.memorySteps, trainSteps: flags.trainSteps });
    const out = resolve(flags.out ?? join('runs', `bench-${stamp()}`));
    mkdirSync(out, { recursive: true });
    const report = await runBench(settings, out);
    const file = join(out, 'bench.json');
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(renderReport(report) + `\n\nwrote ${file}\n`);
    process.exitCode = 0;
  });
  return cmd;
}
