import { Command } from 'commander';
import { resolve } from 'node:path';
import type { LogFormat } from '@mtl/protocol';
import { addRunOptions, positiveInt, resolveRunConfig, type RunFlags } from '../run-options';
import { logFormatOption } from '../common';
import { runLocalCluster } from '../launcher';
import { placeTasks } from '@mtl/coordinator';

interface TrainFlags extends RunFlags {
  workers: number;
  out?: string;
  logFormat: LogFormat;
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train on a local cluster: one coordinator and N worker processes on loopback')
    .option('-w, --workers <n>', 'number of worker processes', positiveInt('--workers'), 2)
    .option('-o, --out <dir>', 'run directory (default runs/<run id>)')
    .addOption(logFormatOption());
  addRunOptions(cmd);
  cmd.action(async (flags: TrainFlags) => {
    const config = resolveRunConfig(flags);
    // Refuse an impossible placement before starting any process.
    if (config.variant === 'parallel') placeTasks(config.tasks.map((t) => t.name), flags.workers, config.placement);
    const out = resolve(flags.out ?? `runs/${config.runId}`);
    process.exitCode = await runLocalCluster({ config, workers: flags.workers, outDir: out, logFormat: flags.logFormat });
  });
  return cmd;
}
