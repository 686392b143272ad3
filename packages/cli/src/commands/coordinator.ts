import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { Coordinator, latestCheckpoint } from '@mtl/coordinator';
import { runConfigSchema, describeIssues, type LogFormat, type RunConfig } from '@mtl/protocol';
import { addRunOptions, positiveInt, nonNegativeInt, resolveRunConfig, resumeBase, ConfigError, type RunFlags } from '../run-options';
import { exitWithParent, logFormatOption, makeLogger, readPem, secretFrom } from '../common';
import { writeRunReport } from '../report/run-report';

interface CoordinatorFlags extends RunFlags {
  workers: number;
  host: string;
  port: number;
  out?: string;
  secretFile?: string;
  logFormat: LogFormat;
  configJson?: string;
  tlsCert?: string;
  tlsKey?: string;
  resume?: string;
  report: boolean;
  maxRestarts: number;
  maxWorkers?: number;
}

export function coordinatorCommand(): Command {
  const cmd = new Command('coordinator')
    .description('run the coordinator of a multi-host cluster: admits workers, assigns ranks, records the run')
    .requiredOption('-w, --workers <n>', 'number of workers to wait for', positiveInt('--workers'))
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('-p, --port <n>', 'port to listen on (0 = any)', nonNegativeInt('--port'), 7070)
    .option('-o, --out <dir>', 'run directory (default runs/<run id>)')
    .option('--secret-file <file>', 'file holding the shared secret (else $MTL_SECRET)')
    .option('--resume <dir>', 'continue the run in DIR from its newest checkpoint (flags such as --steps override its config)')
    .option('--tls-cert <file>', 'serve wss:// with this certificate (PEM); needs --tls-key')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--no-report', 'do not write report.html into the run directory at the end')
    .option('--max-restarts <n>', 'elastic (distributed variant; parallel with round-robin placement): when a worker is lost, re-form the ring from the workers left and continue from the newest checkpoint, at most n times', nonNegativeInt('--max-restarts'), 0)
    .option('--max-workers <n>', 'elastic (distributed variant; parallel with round-robin placement): workers beyond --workers may join the running ring, up to n in all; the ring re-forms with them at the next checkpoint', positiveInt('--max-workers'))
    .addOption(logFormatOption())
    .addOption(new Option('--config-json <json>', 'resolved run config (used by mtl train)').hideHelp());
  addRunOptions(cmd);
  cmd.action(async (flags: CoordinatorFlags) => {
    process.exitCode = await runCoordinator(flags);
  });
  return cmd;
}

export async function runCoordinator(flags: CoordinatorFlags): Promise<number> {
  const log = makeLogger('coordinator', flags.logFormat);
  let config: RunConfig;
  if (flags.configJson) {
    const parsed = runConfigSchema.safeParse(JSON.parse(flags.configJson));
    if (!parsed.success) throw new ConfigError(`invalid run configuration: ${describeIssues(parsed.error.issues)}`);
    config = parsed.data;
  } else {
    config = resolveRunConfig(flags, flags.resume ? resumeBase(flags.resume) : {});
  }
  const resume = flags.resume ? latestCheckpoint(flags.resume) : undefined;
  if (flags.resume && !resume) throw new ConfigError(`--resume ${flags.resume}: the run has no checkpoint to resume from (checkpoints/step-N)`);
  const secret = secretFrom(flags);
  const out = resolve(flags.resume ?? flags.out ?? `runs/${config.runId}`);
  if (flags.maxWorkers !== undefined && flags.maxWorkers < flags.workers) throw new ConfigError(`--max-workers ${flags.maxWorkers} is below --workers ${flags.workers}`);
  if (!!flags.tlsCert !== !!flags.tlsKey) throw new ConfigError('--tls-cert and --tls-key go together');
  const tls = flags.tlsCert && flags.tlsKey ? { cert: readPem(flags.tlsCert, '--tls-cert'), key: readPem(flags.tlsKey, '--tls-key') } : undefined;
  const coordinator = new Coordinator({ config, workers: flags.workers, host: flags.host, port: flags.port, secret, outDir: out, logger: log, ...(tls ? { tls } : {}), ...(resume ? { resume } : {}), maxRestarts: flags.maxRestarts, ...(flags.maxWorkers !== undefined ? { maxWorkers: flags.maxWorkers } : {}) });
  const port = await coordinator.listen();
  process.send?.({ type: 'listening', port });
  const stop = (why: string) => coordinator.abort(why);
  process.once('SIGINT', () => stop('interrupted (SIGINT)'));
  process.once('SIGTERM', () => stop('terminated (SIGTERM)'));
  exitWithParent(() => stop('the launcher went away'));
  // mtl train tells its coordinator when a worker process it launched exits.
  process.on('message', (m: { type?: string; name?: unknown; code?: unknown }) => {
    if (m?.type === 'worker-exited' && typeof m.name === 'string' && typeof m.code === 'number') coordinator.workerProcessExited(m.name, m.code);
  });
  const summary = await coordinator.run();
  // Give the shutdown orders a moment to reach the workers before the sockets close.
  await new Promise((r) => setTimeout(r, 200));
  await coordinator.close();
  // Whatever the run's outcome: a failed or interrupted run's report shows how far it got. The
  // report is read back from the files just written; failing to draw it never fails the run.
  if (flags.report) {
    try {
      const file = await writeRunReport(out);
      log.info({ file }, `report: ${file}`);
    } catch (err) {
      log.warn(`report.html not written: ${(err as Error).message}`);
    }
  }
  return summary.status === 'completed' ? 0 : summary.status === 'aborted' ? 130 : 1;
}
