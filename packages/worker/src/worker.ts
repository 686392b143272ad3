import { hostname } from 'node:os';
import { PeerListener, ProcessGroup } from '@mtl/collective';
import { bytesToFloat32, float32ToBytes, type Logger } from '@mtl/protocol';
import { matMulKernels, selectBackend, type BackendName } from '@mtl/mtl';
import { formatCpuList, pinProcess } from '@mtl/native';
import { ControlClient } from './control-client';
import { createTrainer } from './training/create-trainer';
import type { Trainer } from './training/trainer';

export interface WorkerOptions {
  /** ws://host:port of the coordinator. */
  coordinator: string;
  secret: string;
  logger: Logger;
  name?: string;
  /** Address this worker's peers dial (what the coordinator hands out); defaults to the host name. */
  advertiseHost?: string;
  /** Interface the data-plane listener binds. */
  bindHost?: string;
  /** Data-plane port (0 = any free port). */
  dataPort?: number;
  rankHint?: number;
  /** Override the run's backend on this host (e.g. a GPU box in a CPU cluster). */
  backend?: BackendName;
  /** CA certificate for a wss:// coordinator, and for peers when the data plane uses TLS. */
  tlsCa?: string | Buffer;
  /** Serve the data plane over TLS with this certificate (then every worker of the run must). */
  peerTls?: { cert: string | Buffer; key: string | Buffer };
  /** Pin every thread of this process to these CPUs (Linux, native addon); see pinProcess. */
  cpuAffinity?: number[];
  /**
   * How peer links are carried: 'auto' (default) over a Unix socket to peers
   * of the same host and network namespace and TCP to the rest; 'tcp' always TCP.
   */
  dataTransport?: 'auto' | 'tcp';
}

export type WorkerExit = { status: 'completed' | 'failed' | 'aborted'; error?: string };

/** Join a coordinator, train the assigned rank to the end, and report how it ended. */
export async function runWorker(opts: WorkerOptions): Promise<WorkerExit> {
  const log = opts.logger;
  // Before anything else starts threads of its own, though later threads inherit the mask anyway.
  let cpus: string | undefined;
  if (opts.cpuAffinity) {
    const pin = pinProcess(opts.cpuAffinity, '--cpu-affinity');
    if (pin.pinned) {
      cpus = formatCpuList(pin.cpus);
      log.info({ cpus }, `pinned to CPU ${cpus}`);
    } else log.warn(`not pinned to CPU ${formatCpuList(opts.cpuAffinity)}: ${pin.reason}`);
  }
  const listener = await PeerListener.listen({
    host: opts.bindHost ?? '0.0.0.0',
    port: opts.dataPort ?? 0,
    secret: opts.secret,
    ...(opts.peerTls ? { tls: { ...opts.peerTls, ...(opts.tlsCa ? { ca: opts.tlsCa } : {}) } } : {}),
    local: opts.dataTransport !== 'tcp',
  });
  const name = opts.name ?? `${hostname()}-${process.pid}`;
  const control = new ControlClient({
    url: opts.coordinator,
    secret: opts.secret,
    name,
    advertiseHost: opts.advertiseHost ?? hostname(),
    dataPort: listener.port,
    ...(listener.local ? { local: listener.local } : {}),
    ...(opts.tlsCa ? { tlsCa: opts.tlsCa } : {}),
    ...(opts.rankHint !== undefined ? { rankHint: opts.rankHint } : {}),
  });
  let group: ProcessGroup | undefined;
  let trainer: Trainer | undefined;
  let rank: number | undefined;
  control.on('abort', (reason: string) => group?.abort(new Error(`run aborted by the coordinator: ${reason}`)));
  control.on('lost', (err: Error) => group?.abort(err));
  try {
    const welcome = await control.connect();
    log.info({ coordinator: opts.coordinator, dataPort: listener.port }, `joined as ${welcome.workerId} (${welcome.joined}/${welcome.expected}); waiting for the ring to form`);
    const first = await control.next('assign', 'shutdown');
    if (first.type === 'shutdown') {
      // Joined a running ring (mtl coordinator --max-workers) that ended before taking it in.
      log.info(`the run ended (${first.status}) before this worker entered the ring`);
      return { status: first.status };
    }
    let assign = first;
    for (;;) {
      try {
        rank = assign.rank;
        const run = assign.run;
        const { backend, tf } = await selectBackend(opts.backend ?? run.backend);
        log.info({ rank, world: assign.world, backend, kernels: matMulKernels(tf), runId: run.runId, generation: assign.generation ?? 0 }, `assigned rank ${rank} of ${assign.world}`);
        group = await ProcessGroup.connect({
          rank,
          world: assign.world,
          peers: assign.peers,
          listener,
          secret: opts.secret,
          // A re-formed ring is a new generation: its peers prove it in the handshake, so a link
          // from the ring before cannot end up in this one.
          runId: assign.generation ? `${run.runId}~${assign.generation}` : run.runId,
          ...(opts.peerTls ? { tls: opts.tlsCa ? { ca: opts.tlsCa } : {} } : {}),
          localLinks: opts.dataTransport !== 'tcp',
        });
        const links = group.linkTransports;
        group.on('peer-lost', (peer: number, reason: string) => log.error({ peer }, `lost peer rank ${peer}: ${reason}`));
        trainer = await createTrainer(group, run, assign.placement);
        if (assign.resume) {
          trainer.restore(
            bytesToFloat32(assign.resume.params),
            { stepCount: assign.resume.optimizer.stepCount, buffers: assign.resume.optimizer.buffers.map(bytesToFloat32) },
            assign.resume.stepLosses,
            assign.resume.aggregator,
          );
          log.info({ rank }, `restored the checkpoint of step ${assign.startStep}`);
        }
        await trainer.synchronizeInitialState();
        const info = trainer.info;
        log.info({ rank, links }, `ring formed: ${links.unix} peer link(s) over a Unix socket, ${links.tcp} over TCP`);
        control.send({ type: 'ready', rank, backend, kernels: matMulKernels(tf), ...(cpus ? { cpus } : {}), links, tensors: tf.memory().numTensors, ...info });
        await control.next('start');
        const r = rank;
        const checksum = await trainer.run({
          onStep: (s) => control.send({ type: 'step', rank: r, ...s, tensors: tf.memory().numTensors }),
          onEval: (step, epoch, metrics) => control.send({ type: 'eval', step, epoch, metrics }),
          onParams: (step, reason, params, optimizer, sum, aggregator) =>
            control.send({
              type: 'params',
              step,
              reason,
              params: float32ToBytes(params),
              checksum: sum,
              optimizer: { stepCount: optimizer.stepCount, buffers: optimizer.buffers.map(float32ToBytes) },
              ...(aggregator ? { aggregator } : {}),
            }),
        }, assign.startStep);
        control.send({ type: 'done', rank, step: info.totalSteps, checksum });
        const shutdown = await control.waitShutdown(30_000);
        const st = group.stats;
        log.info(
          { rank, collectiveOps: st.ops, nativeRingOps: st.nativeOps, bytesSent: st.bytesSent },
          `finished (${shutdown?.status ?? 'coordinator gone'}); ${st.ops} collective ops, ${st.nativeOps} on the native ring`,
        );
        return { status: shutdown?.status === 'failed' ? 'failed' : 'completed' };
      } catch (err) {
        const message = (err as Error).message;
        const aborted = /aborted by the coordinator/.test(message);
        if (aborted) log.warn({ rank }, message);
        else log.error({ rank, err }, `worker failed: ${message}`);
        trainer?.dispose();
        trainer = undefined;
        await group?.close().catch(() => undefined);
        group = undefined;
        control.send({ type: 'failed', ...(rank !== undefined ? { rank } : {}), error: message });
        // The coordinator decides: the run ends (shutdown), or it re-forms the ring without a lost
        // worker and this one trains on under a new assignment (mtl coordinator --max-restarts).
        const verdict = await control.next('assign', 'shutdown').catch(() => undefined);
        if (verdict?.type === 'assign') {
          log.warn({ rank: verdict.rank, world: verdict.world }, `the ring is re-formed: rank ${verdict.rank} of ${verdict.world}, from step ${verdict.startStep}`);
          assign = verdict;
          continue;
        }
        return { status: aborted ? 'aborted' : 'failed', error: message };
      }
    }
  } catch (err) {
    // Before the first assignment: refused, the coordinator gone, or the run aborted while forming.
    const message = (err as Error).message;
    const aborted = /aborted by the coordinator/.test(message);
    if (aborted) log.warn({ rank }, message);
    else log.error({ rank, err }, `worker failed: ${message}`);
    control.send({ type: 'failed', ...(rank !== undefined ? { rank } : {}), error: message });
    return { status: aborted ? 'aborted' : 'failed', error: message };
  } finally {
    trainer?.dispose();
    await group?.close().catch(() => undefined);
    control.close();
    await listener.close().catch(() => undefined);
  }
}
