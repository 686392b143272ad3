import { Command } from 'commander';
import { resolve } from 'node:path';
import type { LogFormat } from '@mtl/protocol';
import { addRunOptions, nonNegativeInt, positiveInt, resolveRunConfig, resumeBase, type RunFlags } from '../run-options';
import { dataTransportOption, logFormatOption } from '../common';
import { runLocalCluster, type CpuAffinity } from '../launcher';
import { parseCpuList } from '@mtl/native';
import { placeTasks } from '@mtl/coordinator';

interface TrainFlags extends RunFlags {
  workers: number;
  out?: string;
  resume?: string;
  logFormat: LogFormat;
  cpuAffinity: CpuAffinity;
  report: boolean;
  maxRestarts: number;
  dataTransport: 'auto' | 'tcp';
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train on a local cluster: one coordinator and N worker processes on loopback')
    .option('-w, --workers <n>', 'number of worker processes', positiveInt('--workers'), 2)
    .option('-o, --out <dir>', 'run directory (default runs/<run id>)')
    .option('--resume <dir>', 'continue the run in DIR from its newest checkpoint (flags such as --steps override its config)')
    .option(
      '--cpu-affinity <mode>',
      'pin workers to CPUs: auto (one core each when 2 <= workers <= cores), none, or CPU ids in rank order, e.g. 2,3',
      cpuAffinityMode,
      'auto' as CpuAffinity,
    )
    .option('--no-report', 'do not write report.html into the run directory at the end')
    .option('--max-restarts <n>', 'elastic: when a worker dies, go on with the others from the newest checkpoint, at most n times', nonNegativeInt('--max-restarts'), 0)
    .addOption(dataTransportOption())
    .addOption(logFormatOption());
  addRunOptions(cmd);
  cmd.action(async (flags: TrainFlags) => {
    const config = resolveRunConfig(flags, flags.resume ? resumeBase(flags.resume) : {});
    // Refuse an impossible placement before starting any process.
    if (config.variant === 'parallel') placeTasks(config.tasks.map((t) => t.name), flags.workers, config.placement);
    const out = resolve(flags.resume ?? flags.out ?? `runs/${config.runId}`);
    process.exitCode = await runLocalCluster({ config, workers: flags.workers, outDir: out, logFormat: flags.logFormat, resume: !!flags.resume, cpuAffinity: flags.cpuAffinity, report: flags.report, maxRestarts: flags.maxRestarts, ...(flags.dataTransport !== 'auto' ? { workerArgs: ['--data-transport', flags.dataTransport] } : {}) });
  });
  return cmd;
}

function cpuAffinityMode(value: string): CpuAffinity {
  if (value === 'auto' || value === 'none') return value;
  // Ranges are accepted ("0-3" = 0,1,2,3); one CPU per worker, in rank order, repeats kept out.
  return parseCpuList(value, '--cpu-affinity');
}
