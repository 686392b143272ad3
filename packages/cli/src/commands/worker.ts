import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { runWorker } from '@mtl/worker';
import { parseCpuList } from '@mtl/native';
import type { BackendName } from '@mtl/mtl';
import type { LogFormat } from '@mtl/protocol';
import { nonNegativeInt } from '../run-options';
import { dataTransportOption, exitWithParent, logFormatOption, makeLogger, readPem, secretFrom } from '../common';

interface WorkerFlags {
  coordinator: string;
  advertise?: string;
  bind: string;
  dataPort: number;
  name?: string;
  rankHint?: number;
  backend?: BackendName;
  secretFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  logFormat: LogFormat;
  cpuAffinity?: number[];
  dataTransport: 'auto' | 'tcp';
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run one worker: joins a coordinator, trains its rank, all-reduces with its peers')
    .requiredOption('--coordinator <url>', 'coordinator address, e.g. ws://10.0.0.1:7070')
    .option('--advertise <host>', 'address peers use to reach this worker (default: host name)')
    .option('--bind <addr>', 'interface for the data-plane listener', '0.0.0.0')
    .option('--data-port <n>', 'data-plane port (0 = any free port)', nonNegativeInt('--data-port'), 0)
    .option('--name <name>', 'worker name shown in logs (default: host-pid)')
    .option('--rank-hint <n>', 'preferred rank (honoured when free)', nonNegativeInt('--rank-hint'))
    .addOption(new Option('--backend <name>', 'override the run backend on this host').choices(['auto', 'node-gpu', 'node', 'wasm', 'cpu']))
    .option('--secret-file <file>', 'file holding the shared secret (else $MTL_SECRET)')
    .option('--tls-ca <file>', 'CA certificate (PEM) to trust for a wss:// coordinator and TLS peers')
    .option('--tls-cert <file>', 'serve the data plane over TLS with this certificate (PEM); every worker of the run must')
    .option('--tls-key <file>', 'private key (PEM) of --tls-cert')
    .option('--cpu-affinity <cpus>', 'pin this worker (every thread) to these CPUs, e.g. 0 or 0-3 (Linux, with the native addon)', (v: string) => parseCpuList(v, '--cpu-affinity'))
    .addOption(dataTransportOption())
    .addOption(logFormatOption())
    .action(async (flags: WorkerFlags) => {
      process.exitCode = await startWorker(flags);
    });
}

async function startWorker(flags: WorkerFlags): Promise<number> {
  if (!!flags.tlsCert !== !!flags.tlsKey) throw new Error('--tls-cert and --tls-key go together');
  if (!/^wss?:\/\//.test(flags.coordinator)) throw new Error(`--coordinator must be a ws:// or wss:// URL, got '${flags.coordinator}'`);
  const log = makeLogger(flags.name ?? 'worker', flags.logFormat);
  const secret = secretFrom(flags);
  exitWithParent(() => process.exit(1));
  const result = await runWorker({
    coordinator: flags.coordinator,
    secret,
    logger: log,
    name: flags.name ?? `${hostname()}-${process.pid}`,
    ...(flags.advertise ? { advertiseHost: flags.advertise } : {}),
    bindHost: flags.bind,
    dataPort: flags.dataPort,
    ...(flags.rankHint !== undefined ? { rankHint: flags.rankHint } : {}),
    ...(flags.backend ? { backend: flags.backend } : {}),
    ...(flags.cpuAffinity ? { cpuAffinity: flags.cpuAffinity } : {}),
    dataTransport: flags.dataTransport,
    ...(flags.tlsCa ? { tlsCa: readPem(flags.tlsCa, '--tls-ca') } : {}),
    ...(flags.tlsCert && flags.tlsKey ? { peerTls: { cert: readPem(flags.tlsCert, '--tls-cert'), key: readPem(flags.tlsKey, '--tls-key') } } : {}),
  });
  return result.status === 'completed' ? 0 : 1;
}
