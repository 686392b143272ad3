import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { hostname } from 'node:os';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import {
  bytesToFloat32,
  controlFrameBytes,
  decodeMessage,
  encodeMessage,
  newNonce,
  verifyProof,
  type ControlMessage,
  type Logger,
  type MessageOf,
  type RunConfig,
} from '@mtl/protocol';
import { RunDirectory, latestCheckpoint, type Checkpoint } from './run-directory';
import { WorkerLink, assignRanks } from './worker-link';
import { ThroughputMeter, formatCount, formatMetric, metricTable } from './progress';
import { saveModel, type ModelArtifactSpec } from './model-writer';
import { describePlacement, placeTasks, type Placement } from './placement';

export interface CoordinatorOptions {
  config: RunConfig;
  /** World size to wait for before training starts. */
  workers: number;
  host?: string;
  port?: number;
  secret: string;
  outDir: string;
  logger: Logger;
  /**
   * Largest control frame either way (default MTL_CONTROL_FRAME_BYTES, else 64 MiB): larger frames
   * are refused, larger messages (checkpoints, the final model, resume assignments) go in fragments.
   */
  maxFrameBytes?: number;
  /** Largest frame accepted before a connection has authenticated. */
  maxHandshakeBytes?: number;
  handshakeTimeoutMs?: number;
  /** Milliseconds to wait for all workers to be ready after assignment. */
  readyTimeoutMs?: number;
  /** Progress line interval. */
  progressIntervalMs?: number;
  /** Continue a run from this checkpoint (its directory is the run directory). */
  resume?: Checkpoint;
  /**
   * Elastic training (distributed variant): when a worker is lost (its connection closes or its
   * heartbeats stop), re-form the ring from the workers left and continue from the newest
   * checkpoint, at most this many times (as torchrun's --max-restarts). 0 (default): the run fails.
   */
  maxRestarts?: number;
  /**
   * Elastic growth (distributed variant): workers beyond `workers` may join a running ring, up to
   * this many in all (as torchrun's --nnodes MIN:MAX); the ring re-forms with them at the next
   * checkpoint and continues from it. Default: `workers` (no growth).
   */
  maxWorkers?: number;
  /** Serve wss:// (and https status) with this certificate. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export type RunStatus = 'completed' | 'failed' | 'aborted';

/**
 * Aggregators whose state is a function of the losses seen so far: a resumed or re-formed run replays
 * them. Any other aggregator state (GradNorm, GradVac: Aggregator.state()) travels in the `params`
 * messages to checkpoints/step-N/aggregator.json and back in `assign.resume`.
 */
const STATEFUL_AGGREGATORS: ReadonlySet<string> = new Set(['dwa', 'uw']);

export interface RunSummary {
  runId: string;
  status: RunStatus;
  error?: string;
  variant: string;
  world: number;
  backend: string;
  /** How matrix products ran on rank 0 (native GEMM, wasm XNNPACK, ...). */
  kernels?: string;
  /** How many times the ring was re-formed after losing a worker. */
  restarts?: number;
  /** The global step the run reached (counting steps before a resume). */
  steps: number;
  resumedFrom?: number;
  stepsPlanned: number;
  epochs: number;
  /** Epochs of each task's own training set (they differ in the parallel variant). */
  taskEpochs: Record<string, number>;
  placement?: Placement;
  stepsPerEpoch: number;
  trainSize: number;
  valSize: number;
  numParams: number;
  wallTimeSec: number;
  /** When the first step was driven (ISO 8601); metrics' `time` counts seconds from here. */
  trainStartedAt?: string;
  trainTimeSec: number;
  samples: number;
  samplesPerSec: number;
  flopsPerExample: number;
  gflopsPerWorker: number;
  meanStepMs: { compute: number; comm: number; update: number; total: number };
  bytesSentPerStep: number;
  bytesSentTotal: number;
  finalTrainLoss: Record<string, number>;
  finalMetrics: Record<string, Record<string, number>>;
  checksum?: string;
  /** Per rank; `checksum` is what the rank verified last (parallel: trunk hash then its head's hash). */
  workers: Array<{ rank: number; name: string; host: string; pid: number; checksum?: string }>;
}

type StepReport = MessageOf<'step'>;

const HANDSHAKE_LIMIT = 64 * 1024;

/**
 * Admits workers, assigns ranks and the run, then watches: the ring steps on its own, the coordinator
 * records what the workers report, writes the artifacts and stops everyone when anything fails.
 */
export class Coordinator {
  private readonly log: Logger;
  private readonly dir: RunDirectory;
  private http?: HttpServer;
  private wss?: WebSocketServer;
  private readonly links: WorkerLink[] = [];
  /** Workers admitted to a running ring, waiting for the re-form that takes them in. */
  private joiners: WorkerLink[] = [];
  /** Joiners in the ring being formed: if it does not form, they are sent away and it forms without them. */
  private readonly newcomers = new Set<WorkerLink>();
  /** The checkpoint the ring grows at, once every step before it is recorded. */
  private growAt?: number;
  private phase: 'admitting' | 'forming' | 'training' | 'reforming' | 'finished' = 'admitting';
  private restarts = 0;
  /** Rings formed before the current one (the handshake of each ring's peers carries it). */
  private generation = 0;
  private reformTimer?: NodeJS.Timeout;
  private reformReason = '';
  /** Workers that stopped for the re-form (reported failed after the abort, or before it). */
  private readonly stopped = new Set<WorkerLink>();
  /** Where the next ring starts: the resumed checkpoint, then the newest one at each re-form. */
  private resumeFrom?: Checkpoint;
  private nextId = 0;
  private ready = new Map<number, MessageOf<'ready'>>();
  private readonly pendingSteps = new Map<number, StepReport[]>();
  /** Ranks of the ring whose steps are being recorded (a step some of them never reported is marked so). */
  private ringWorld = 0;
  /** The run's length as the ring's rank 0 stated it (kept while a ring is re-formed). */
  private totalSteps = 0;
  private nextStepToWrite = 0;
  private readonly meter = new ThroughputMeter();
  private lastProgress = 0;
  private startedAt = Date.now();
  private trainStartedAt = 0;
  private samples = 0;
  private bytesTotal = 0;
  private stepsRecorded = 0;
  private timing = { compute: 0, comm: 0, update: 0 };
  private lastLoss: Record<string, number> = {};
  private lastEval: Record<string, Record<string, number>> = {};
  private lastEpoch = 0;
  private finalChecksum?: string;
  private readonly writes: Promise<unknown>[] = [];
  private failure?: { reason: string; status: RunStatus; decisive: boolean };
  private failTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private readyTimer?: NodeJS.Timeout;
  private finish!: (s: RunSummary) => void;
  private readonly finished: Promise<RunSummary>;
  private summary?: RunSummary;
  /** Parallel variant: the task groups of the current ring (placed again when a re-form changes its size). */
  private placement?: Placement;
  private readonly taskInfo: Record<string, { trainSize: number; valSize: number; stepsPerEpoch: number }> = {};
  /** Resuming a run with a stateful aggregator: the losses of the steps before the checkpoint. */
  private stepLosses?: Array<Record<string, number>>;

  private readonly frameBytes: number;

  constructor(private readonly opts: CoordinatorOptions) {
    this.frameBytes = opts.maxFrameBytes ?? controlFrameBytes();
    this.log = opts.logger;
    // A parallel run that cannot be placed fails here, before anyone is admitted.
    if (opts.config.variant === 'parallel') this.placement = placeTasks(opts.config.tasks.map((t) => t.name), opts.workers, opts.config.placement);
    this.dir = new RunDirectory(opts.outDir);
    this.finished = new Promise((resolve) => (this.finish = resolve));
    this.resumeFrom = opts.resume;
    // An aggregator's saved state means something only to the aggregator that wrote it (GradNorm's
    // weights and GradVac's cosine targets can even have the same length).
    const saved = opts.resume?.aggregator ? opts.resume.aggregatorName : undefined;
    if (saved && saved !== opts.config.aggregator.name) {
      throw new Error(`checkpoint ${opts.resume!.dir} holds the state of aggregator ${saved}, and this run's aggregator is ${opts.config.aggregator.name}: resume with --aggregator ${saved}`);
    }
    if (opts.resume) {
      this.nextStepToWrite = opts.resume.step;
      const dropped = this.dir.truncateMetricsFrom(opts.resume.step).lines;
      if (STATEFUL_AGGREGATORS.has(opts.config.aggregator.name)) this.stepLosses = this.dir.stepLossesBefore(opts.resume.step);
      this.log.info({ checkpoint: opts.resume.dir, droppedMetricLines: dropped }, `resuming at step ${opts.resume.step}`);
    }
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`--workers must be a positive integer (got ${opts.workers})`);
  }

  get config(): RunConfig {
    return this.opts.config;
  }

  /** Start serving; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    this.dir.writeJson('config.json', { run: this.opts.config, world: this.opts.workers, status: 'admitting', ...(this.placement ? { placement: this.placement } : {}) });
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => this.serveStatus(req.url ?? '/', res);
    const http: HttpServer = this.opts.tls ? createTlsServer({ cert: this.opts.tls.cert, key: this.opts.tls.key }, handler) : createServer(handler);
    this.http = http;
    this.wss = new WebSocketServer({
      server: http,
      maxPayload: this.frameBytes,
      perMessageDeflate: false,
    });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
    this.wss.on('error', (err) => this.log.error({ err }, 'control server error'));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.opts.port ?? 7070, this.opts.host ?? '0.0.0.0', () => resolve());
    });
    const port = (http.address() as { port: number }).port;
    this.log.info({ port, host: this.opts.host ?? '0.0.0.0', tls: !!this.opts.tls, out: this.dir.path, runId: this.config.runId }, `coordinator listening, waiting for ${this.opts.workers} worker(s)`);
    this.heartbeatTimer = setInterval(() => this.checkHeartbeats(), 1000);
    this.heartbeatTimer.unref();
    return port;
  }

  /** Resolves when the run completed or failed; it never rejects because of a worker. */
  run(): Promise<RunSummary> {
    return this.finished;
  }

  /** Stop the run from outside (Ctrl-C): workers are told, artifacts are kept. */
  abort(reason: string): void {
    this.fail(reason, 'aborted', true);
  }

  /**
   * A worker process the caller launched (`mtl train`) has exited with `code`. Before the first
   * ring forms, the coordinator would keep its place open for another worker, which on a local
   * cluster never comes: the run fails naming it. Later its closed socket says all there is.
   */
  workerProcessExited(name: string, code: number): void {
    if (this.phase !== 'admitting' || code === 0) return;
    this.fail(`${name} exited with code ${code} before the ring formed (its log above says why)`, 'failed', true);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.readyTimer);
    clearTimeout(this.failTimer);
    for (const l of this.links) l.ws.terminate();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.dir.close();
  }

  // ---- admission ------------------------------------------------------------------------------

  private onConnection(ws: WebSocket, remote: string): void {
    const nonce = newNonce();
    let link: WorkerLink | undefined;
    const timer = setTimeout(() => {
      this.log.warn({ remote }, 'connection did not authenticate in time; closing');
      ws.close(4408, 'handshake timeout');
    }, this.opts.handshakeTimeoutMs ?? 10_000);

    const reject = (reason: string, code = 4001) => {
      this.log.warn({ remote }, `refused connection: ${reason}`);
      clearTimeout(timer);
      try {
        ws.send(encodeMessage({ type: 'reject', reason }));
      } catch {
        /* socket already gone */
      }
      ws.close(code, reason.slice(0, 120));
    };

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const buf = toBuffer(data);
      if (!link) {
        if (!isBinary) return reject('control frames must be binary msgpack', 4003);
        if (buf.length > (this.opts.maxHandshakeBytes ?? HANDSHAKE_LIMIT)) return reject(`handshake frame of ${buf.length} bytes exceeds the ${HANDSHAKE_LIMIT}-byte limit`, 4009);
        let msg: ControlMessage;
        try {
          msg = decodeMessage(buf);
        } catch (err) {
          return reject((err as Error).message, 4002);
        }
        if (msg.type !== 'hello') return reject(`expected hello, got ${msg.type}`, 4002);
        if (!verifyProof(this.opts.secret, nonce, 'worker', msg.proof)) return reject('authentication failed: the worker does not hold this run\'s shared secret');
        if (this.phase !== 'admitting') {
          const full = this.growthRefusal();
          if (full) return reject(full, 4004);
        }
        clearTimeout(timer);
        link = new WorkerLink(`w${this.nextId++}`, ws, msg.name, msg.host, msg.dataPort, msg.pid, msg.rankHint, remote, msg.local);
        link.frameBytes = this.frameBytes;
        if (this.phase === 'admitting') this.admit(link);
        else this.admitJoiner(link);
        return;
      }
      if (!isBinary) return this.protocolFault(link, 'sent a text frame on the control plane');
      let msg: ControlMessage | undefined;
      try {
        msg = link.inbound.push(decodeMessage(buf));
      } catch (err) {
        return this.protocolFault(link, (err as Error).message);
      }
      // A fragment is a sign of life too: a large checkpoint may take longer than the heartbeat timeout.
      link.lastSeen = Date.now();
      if (!msg) return;
      try {
        this.onMessage(link, msg);
      } catch (err) {
        this.log.error({ err, worker: link.describe() }, `failed to handle ${msg.type}`);
        this.fail(`coordinator could not handle ${msg.type} from ${link.describe()}: ${(err as Error).message}`, 'failed');
      }
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (link) this.onDisconnect(link, code, reason.toString());
    });
    ws.on('error', (err) => this.log.warn({ remote, err }, 'control socket error'));
    ws.send(encodeMessage({ type: 'challenge', nonce, coordinator: hostname() }));
  }

  private admit(link: WorkerLink): void {
    this.links.push(link);
    this.log.info({ worker: link.name, host: link.host, remote: link.remote }, `worker joined (${this.links.length}/${this.opts.workers})`);
    link.send({ type: 'welcome', workerId: link.id, joined: this.links.length, expected: this.opts.workers });
    if (this.links.length === this.opts.workers) this.formRing();
  }

  private formRing(): void {
    this.phase = 'forming';
    assignRanks(this.links);
    this.links.sort((a, b) => a.rank - b.rank);
    const peers = this.links.map((l) => ({ rank: l.rank, host: l.host, port: l.dataPort, ...(l.local ? { local: l.local } : {}) }));
    for (const l of this.links) {
      const resume = this.resumeFrom;
      l.send({
        type: 'assign',
        rank: l.rank,
        world: this.links.length,
        peers,
        run: this.config,
        startStep: resume?.step ?? 0,
        ...(this.generation > 0 ? { generation: this.generation } : {}),
        ...(this.placement ? { placement: this.placement } : {}),
        ...(resume ? { resume: { params: resume.params, optimizer: resume.optimizer, ...(this.stepLosses ? { stepLosses: this.stepLosses } : {}), ...(resume.aggregator ? { aggregator: resume.aggregator } : {}) } } : {}),
      });
    }
    if (this.placement) this.log.info(`placement (task=[ranks]): ${describePlacement(this.placement)}`);
    this.log.info({ ranks: this.links.map((l) => `${l.rank}:${l.name}@${l.host}:${l.dataPort}`).join(' ') }, 'ranks assigned; workers are forming the ring');
    this.readyTimer = setTimeout(() => {
      const missing = this.links.filter((l) => !this.ready.has(l.rank)).map((l) => l.describe());
      if (this.newcomers.size) return this.sendNewcomersAway(`not ready within ${(this.opts.readyTimeoutMs ?? 180_000) / 1000}s: ${missing.join(', ')}`);
      this.fail(`workers not ready within ${(this.opts.readyTimeoutMs ?? 180_000) / 1000}s: ${missing.join(', ')}`, 'failed');
    }, this.opts.readyTimeoutMs ?? 180_000);
  }

  // ---- messages ---------------------------------------------------------------------------------

  private onMessage(link: WorkerLink, msg: ControlMessage): void {
    switch (msg.type) {
      case 'heartbeat':
        return;
      case 'ready':
        return this.onReady(link, msg);
      case 'step':
        return this.onStep(msg);
      case 'eval':
        return this.onEval(msg);
      case 'params':
        return this.onParams(msg);
      case 'done':
        link.done = true;
        link.checksum = msg.checksum;
        if (link.rank === 0) this.finalChecksum = msg.checksum;
        if (this.links.every((l) => l.done)) void this.complete();
        return;
      case 'failed':
        // One sent away (a joiner the ring did not form with) reports its end; it is not the run's.
        if (!this.links.includes(link)) return;
        if (this.phase === 'reforming') {
          this.stopped.add(link);
          return this.continueIfStopped();
        }
        if (this.phase === 'forming' && this.newcomers.size) {
          // The ring formed without them before: they are the likely cause, and not worth the run.
          link.failed = true;
          return this.sendNewcomersAway(`${link.describe()} failed while the ring formed: ${msg.error}`);
        }
        // Wait briefly: when a peer died, its own disconnect is the better explanation than a neighbour's collective error.
        link.failed = true;
        return this.fail(`${link.describe()} failed: ${msg.error}`, 'failed', false);
      default:
        return this.protocolFault(link, `unexpected ${msg.type} message from a worker`);
    }
  }

  private onReady(link: WorkerLink, msg: MessageOf<'ready'>): void {
    if (this.phase !== 'forming') return;
    this.ready.set(link.rank, msg);
    Object.assign(this.taskInfo, msg.tasks);
    if (this.ready.size < this.links.length) return;
    clearTimeout(this.readyTimer);
    const r0 = this.ready.get(0)!;
    this.dir.writeJson('config.json', {
      run: this.config,
      world: this.links.length,
      backend: r0.backend,
      ...(r0.kernels ? { kernels: r0.kernels } : {}),
      numParams: r0.numParams,
      inputDim: r0.inputDim,
      trainSize: r0.trainSize,
      valSize: r0.valSize,
      stepsPerEpoch: r0.stepsPerEpoch,
      totalSteps: r0.totalSteps,
      tasks: this.taskInfo,
      ...(this.placement ? { placement: this.placement } : {}),
      workers: this.links.map((l) => {
        const r = this.ready.get(l.rank);
        return { rank: l.rank, name: l.name, host: l.host, dataPort: l.dataPort, pid: l.pid, ...(r?.cpus ? { cpus: r.cpus } : {}), ...(r?.links ? { links: r.links } : {}) };
      }),
    });
    this.phase = 'training';
    this.ringWorld = this.links.length;
    this.totalSteps = r0.totalSteps;
    this.newcomers.clear();
    // A re-formed ring keeps the run's clock, so metrics' `time` goes on from where it was.
    if (!this.trainStartedAt) this.trainStartedAt = Date.now();
    const trainSize = this.placement ? Object.values(this.taskInfo).reduce((a, t) => a + t.trainSize, 0) : r0.trainSize;
    this.log.info(
      { variant: this.config.variant, backend: r0.backend, kernels: r0.kernels, params: r0.numParams, train: trainSize, val: r0.valSize, stepsPerEpoch: r0.stepsPerEpoch },
      `ring of ${this.links.length} ready; training ${r0.totalSteps} steps of ${this.config.batchSize} examples`,
    );
    for (const l of this.links) l.send({ type: 'start', t: Date.now() });
  }

  private onStep(msg: StepReport): void {
    if ((this.phase !== 'training' && this.phase !== 'reforming') || msg.step < this.nextStepToWrite) return;
    const list = this.pendingSteps.get(msg.step) ?? [];
    list.push(msg);
    this.pendingSteps.set(msg.step, list);
    // While a ring is re-formed its reports are kept, not written: once the checkpoint it goes on
    // from is known, the steps before it are recorded and the rest are done again.
    if (this.phase !== 'training') return;
    // Steps complete in order on every rank, so write each once all ranks reported it.
    for (;;) {
      const reports = this.pendingSteps.get(this.nextStepToWrite);
      if (!reports || reports.length < this.links.length) break;
      this.pendingSteps.delete(this.nextStepToWrite);
      this.recordStep(reports);
      this.nextStepToWrite++;
    }
    this.growWhenRecorded();
  }

  /**
   * Grow at the checkpoint once every rank's report of every step before it is in: rank 0 hands the
   * checkpoint over right after its own report of the step before, and the others' may still be on
   * the way; re-forming then would lose that step's line.
   */
  private growWhenRecorded(): void {
    if (this.growAt === undefined || this.phase !== 'training' || this.nextStepToWrite < this.growAt) return;
    if (!this.joiners.length) return void (this.growAt = undefined);
    this.growAt = undefined;
    this.grow();
  }

  /** The ranks of the ring whose report of a step is not among `reports`. */
  private ranksMissingFrom(reports: StepReport[]): number[] {
    const reported = new Set(reports.map((r) => r.rank));
    return Array.from({ length: this.ringWorld }, (_, r) => r).filter((r) => !reported.has(r));
  }

  private recordStep(reports: StepReport[]): void {
    const r0 = reports.find((r) => r.rank === 0) ?? reports[0]!;
    const missingRanks = reports.length < this.ringWorld ? this.ranksMissingFrom(reports) : [];
    // Each rank states the losses it knows (all tasks in distributed, its own task in parallel); lowest rank wins.
    const losses: Record<string, number> = {};
    for (const r of [...reports].sort((a, b) => a.rank - b.rank)) for (const [t, v] of Object.entries(r.losses)) if (!(t in losses)) losses[t] = v;
    const max = (k: 'computeMs' | 'commMs' | 'updateMs') => Math.max(...reports.map((r) => r[k]));
    const samples = reports.reduce((a, r) => a + r.samples, 0);
    const bytes = reports.reduce((a, r) => a + r.bytesSent, 0);
    const now = Date.now();
    this.samples += samples;
    this.bytesTotal += bytes;
    this.stepsRecorded++;
    this.timing.compute += max('computeMs');
    this.timing.comm += max('commMs');
    this.timing.update += max('updateMs');
    this.lastLoss = losses;
    this.lastEpoch = r0.epoch;
    this.meter.add(samples, now);
    this.dir.appendMetrics({
      type: 'train',
      step: r0.step,
      epoch: r0.epoch,
      time: (now - this.trainStartedAt) / 1000,
      losses,
      samples,
      computeMs: max('computeMs'),
      commMs: max('commMs'),
      updateMs: max('updateMs'),
      bytesSent: bytes,
      tensors: r0.tensors,
      ...(r0.taskWeights ? { taskWeights: r0.taskWeights } : {}),
      // A worker lost between its peers' reports of a step before the checkpoint: the line has the
      // others' (losses are global; samples, bytes and times are theirs only).
      ...(missingRanks.length ? { missingRanks } : {}),
    });
    const total = this.totalSteps;
    const last = r0.step + 1 >= total;
    if (last || now - this.lastProgress >= (this.opts.progressIntervalMs ?? 1000)) {
      this.lastProgress = now;
      const lossText = Object.entries(losses).map(([t, v]) => `${t}=${formatMetric(v)}`).join(' ');
      const elapsed = (now - this.trainStartedAt) / 1000;
      const rate = this.meter.rate() || this.samples / Math.max(elapsed, 1e-3);
      const eta = rate > 0 ? ((total - r0.step - 1) * this.config.batchSize) / rate : 0;
      this.log.info(
        `step ${r0.step + 1}/${total} epoch ${r0.epoch} | loss ${lossText} | ${formatCount(rate)} samples/s | comm ${max('commMs').toFixed(1)} ms | eta ${Math.ceil(eta)}s`,
      );
    }
  }

  private onEval(msg: MessageOf<'eval'>): void {
    // In the parallel variant each group reports its own task; merge into the latest view.
    this.lastEval = { ...this.lastEval, ...msg.metrics };
    this.dir.appendMetrics({ type: 'eval', step: msg.step, epoch: msg.epoch, time: (Date.now() - this.trainStartedAt) / 1000, metrics: msg.metrics });
    const text = Object.entries(msg.metrics)
      .map(([t, m]) => `${t}: ${Object.entries(m).map(([k, v]) => `${k}=${formatMetric(v)}`).join(' ')}`)
      .join(' | ');
    this.log.info(`validation after step ${msg.step} (epoch ${msg.epoch}): ${text}`);
  }

  private onParams(msg: MessageOf<'params'>): void {
    const r0 = this.ready.get(0);
    if (!r0) throw new Error('parameters arrived before the ring was ready');
    const params = bytesToFloat32(msg.params);
    if (params.length !== r0.numParams) throw new Error(`parameter buffer holds ${params.length} values, the model has ${r0.numParams}`);
    const spec: ModelArtifactSpec = { config: this.config, inputDim: r0.inputDim };
    const name = `checkpoints/step-${msg.step}`;
    const files: Record<string, Uint8Array | string> = {
      'params.bin': msg.params,
      'state.json': JSON.stringify({ step: msg.step, checksum: msg.checksum, runId: this.config.runId, optimizerStepCount: msg.optimizer.stepCount, optimizerBuffers: msg.optimizer.buffers.length }, null, 2),
    };
    msg.optimizer.buffers.forEach((b, i) => (files[`optimizer-${i}.bin`] = b));
    // JSON keeps every double exactly, so a resumed aggregator continues bit for bit.
    if (msg.aggregator) files['aggregator.json'] = JSON.stringify({ aggregator: this.config.aggregator.name, state: msg.aggregator });
    this.dir.writeDirectory(name, files);
    if (msg.reason === 'final') {
      const write = saveModel(spec, params, this.dir.file('model')).then(
        () => this.log.info({ dir: this.dir.file('model') }, 'model saved (TensorFlow.js layers format)'),
        (err: Error) => this.log.error({ err }, 'saving the model failed'),
      );
      this.writes.push(write);
    } else {
      this.log.info({ step: msg.step }, `checkpoint written to ${name}`);
      if (this.joiners.length && this.phase === 'training') {
        this.growAt = msg.step;
        this.growWhenRecorded();
      }
    }
  }

  // ---- faults ----------------------------------------------------------------------------------

  private protocolFault(link: WorkerLink, what: string): void {
    this.log.error({ worker: link.describe() }, `protocol error: ${what}`);
    link.ws.close(4002, 'protocol error');
    // The close handler decides whether this costs the run.
  }

  private onDisconnect(link: WorkerLink, code: number, reason: string): void {
    link.closed = true;
    if (this.joiners.includes(link)) {
      this.joiners.splice(this.joiners.indexOf(link), 1);
      this.log.warn({ worker: link.name }, `${link.describe()} left before it entered the ring`);
      return;
    }
    if (this.phase === 'admitting') {
      const i = this.links.indexOf(link);
      if (i >= 0) this.links.splice(i, 1);
      this.log.warn({ worker: link.name }, `worker left before the ring formed (${this.links.length}/${this.opts.workers} joined)`);
      return;
    }
    if (this.phase === 'finished' || !this.links.includes(link)) return;
    if (this.phase === 'forming' && this.newcomers.has(link)) return this.sendNewcomersAway(`${link.describe()} disconnected while the ring formed`);
    // A worker that reported its own failure is not lost (unless a re-form may recover from it).
    if ((link.done || link.failed) && !this.mayReform()) return;
    const why = reason ? `${code} ${reason}` : `code ${code}`;
    this.lost(link, `${link.describe()} disconnected at step ${this.nextStepToWrite} (${why})`);
  }

  private checkHeartbeats(): void {
    if (this.phase !== 'training' && this.phase !== 'forming' && this.phase !== 'reforming') return;
    const limit = this.config.heartbeatTimeout * 1000;
    const now = Date.now();
    for (const l of this.links) {
      if (!l.done && !l.closed && now - l.lastSeen > limit) {
        this.lost(l, `${l.describe()} missed heartbeats for ${this.config.heartbeatTimeout}s at step ${this.nextStepToWrite}`);
        l.ws.terminate();
        return;
      }
    }
  }

  // ---- elastic: re-forming the ring without a lost worker, or with new ones -------------------------

  /** Why a worker cannot join the run now, or undefined when it can (as a joiner of a running ring). */
  private growthRefusal(): string | undefined {
    const max = this.opts.maxWorkers ?? this.opts.workers;
    const running = `run ${this.config.runId} has already formed its ring of ${this.links.length}`;
    if (max <= this.opts.workers) return `${running}; not admitting (a coordinator started with --max-workers lets workers join a running ring)`;
    if (!this.elastic()) return `${running}; a parallel ring placed by --placement does not grow (the placement names its ranks)`;
    if (!['forming', 'training', 'reforming'].includes(this.phase)) return `${running}; not admitting while the run is ${this.phase}`;
    if (this.links.length + this.joiners.length >= max) return `${running}${this.joiners.length ? ` and ${this.joiners.length} waiting to join` : ''}; --max-workers is ${max}`;
    return undefined;
  }

  /**
   * A worker joined a running ring: it waits for the next checkpoint, where the ring re-forms with
   * it (so no step is done twice); without checkpoints the ring re-forms at once, from the start.
   */
  private admitJoiner(link: WorkerLink): void {
    this.joiners.push(link);
    const max = this.opts.maxWorkers ?? this.opts.workers;
    const world = this.links.length + this.joiners.length;
    link.send({ type: 'welcome', workerId: link.id, joined: world, expected: max });
    const when = this.phase === 'reforming' ? 'the ring being re-formed takes it in' : this.config.checkpointEvery > 0 ? 'the ring takes it in at the next checkpoint' : 'the ring re-forms with it now (no --checkpoint-every: from the start)';
    this.log.info({ worker: link.name, host: link.host, remote: link.remote }, `${link.describe()} joined the running ring (${world} of at most ${max}); ${when}`);
    if (this.phase === 'training' && this.config.checkpointEvery <= 0) this.grow();
  }

  /** Re-form the ring with the workers waiting to join: every worker stops, and all continue from the newest checkpoint. */
  private grow(): void {
    // Not while a failure is being decided (its re-form, if any, takes the joiners in).
    if (this.failure) return;
    const names = this.joiners.map((l) => l.describe()).join(', ');
    this.log.info(`${names} joined; re-forming the ring with ${this.links.length + this.joiners.length} worker(s)`);
    this.reformWithout(`${names} joined`, `${names} joined; the ring is re-formed with it`);
  }

  /**
   * The ring that took in new workers did not form: send them away with the reason and form it
   * again without them, from the same checkpoint, so a joiner that cannot take part (a wrong
   * --advertise address, a firewall) does not cost the run. Not a restart after a loss.
   */
  private sendNewcomersAway(reason: string): void {
    const gone = [...this.newcomers];
    this.newcomers.clear();
    const names = gone.map((l) => l.describe()).join(', ');
    for (const l of gone) {
      this.links.splice(this.links.indexOf(l), 1);
      l.send({ type: 'abort', reason: `the ring did not form with this worker (${reason}); it goes on without it` });
      l.send({ type: 'shutdown', status: 'failed' });
    }
    this.log.warn(`the ring did not form with ${names} (${reason}); re-forming it without them`);
    this.reformWithout(`the ring did not form with ${names}`, `the ring did not form with ${names}; it is re-formed without them`);
  }

  /** Stop every worker of this.links and form the next ring (with any joiners) from the newest checkpoint. */
  private reformWithout(reason: string, abortReason: string): void {
    this.growAt = undefined;
    this.generation++;
    clearTimeout(this.readyTimer);
    clearTimeout(this.failTimer);
    this.failure = undefined;
    this.reformReason = reason;
    this.phase = 'reforming';
    this.ready.clear();
    this.stopped.clear();
    for (const l of this.links) {
      // One that already reported a failure has stopped.
      if (l.failed) this.stopped.add(l);
      l.failed = false;
      l.done = false;
      l.send({ type: 'abort', reason: abortReason, reform: true });
    }
    this.reformTimer = setTimeout(() => {
      const waiting = this.links.filter((l) => !this.stopped.has(l)).map((l) => l.describe());
      this.fail(`re-forming the ring after "${this.reformReason}": ${waiting.join(', ')} did not stop within 60 s`, 'failed', true);
    }, 60_000);
    this.continueIfStopped();
  }

  private mayReform(): boolean {
    return this.elastic() && this.restarts < (this.opts.maxRestarts ?? 0) && ['forming', 'training', 'reforming'].includes(this.phase);
  }

  /**
   * Whether the ring may change size: always in the distributed variant; in the parallel one when
   * its groups are placed round-robin (they are placed again for the new size, and a parallel
   * checkpoint holds every head and its optimizer state), not when --placement names the ranks.
   */
  private elastic(): boolean {
    return this.config.variant === 'distributed' || !this.config.placement;
  }

  /** A worker is gone: re-form without it while restarts remain, else fail the run naming it. */
  private lost(link: WorkerLink, reason: string): void {
    const survivors = this.links.filter((l) => l !== link && !l.closed);
    if (this.phase === 'reforming' && survivors.length > 0) {
      // Lost while the ring was being re-formed: the same re-form goes on without it.
      this.links.splice(this.links.indexOf(link), 1);
      this.stopped.delete(link);
      this.log.warn(`${reason}; the ring is re-formed with ${survivors.length} worker(s)`);
      return this.continueIfStopped();
    }
    if (!this.mayReform() || survivors.length === 0) return this.fail(reason, 'failed', true);
    this.restarts++;
    this.links.splice(this.links.indexOf(link), 1);
    this.log.warn(`${reason}; re-forming the ring with the ${survivors.length} worker(s) left (restart ${this.restarts} of ${this.opts.maxRestarts})`);
    this.reformWithout(reason, `${reason}; the ring is re-formed without it`);
  }

  /** Once every worker left has stopped: the next ring, from the newest checkpoint (or the start). */
  private continueIfStopped(): void {
    if (this.phase !== 'reforming' || this.links.some((l) => !this.stopped.has(l))) return;
    clearTimeout(this.reformTimer);
    let ckpt: Checkpoint | undefined;
    try {
      ckpt = latestCheckpoint(this.dir.path);
    } catch (err) {
      return this.fail(`re-forming the ring: ${(err as Error).message}`, 'failed', true);
    }
    const step = ckpt?.step ?? 0;
    // Workers that joined the running ring enter it now (whatever re-form this is).
    this.growAt = undefined;
    for (const l of this.joiners) if (!l.closed) {
      this.links.push(l);
      this.newcomers.add(l);
    }
    this.joiners = [];
    if (this.config.variant === 'parallel') {
      // The task groups for the ring's new size, round-robin as at the start.
      try {
        this.placement = placeTasks(this.config.tasks.map((t) => t.name), this.links.length);
      } catch (err) {
        return this.fail(`re-forming the ring with ${this.links.length} worker(s): ${(err as Error).message}`, 'failed', true);
      }
    }
    // Every rank's reports of the steps before the checkpoint are in by now (each worker's messages
    // arrive in order, and rank 0's checkpoint follows its own reports); steps one rank never
    // reported, because it was lost after its peers had moved on, are recorded from the rest.
    for (let s = this.nextStepToWrite; s < step && this.pendingSteps.has(s); s++) {
      this.recordStep(this.pendingSteps.get(s)!);
      this.nextStepToWrite = s + 1;
    }
    this.pendingSteps.clear();
    const dropped = this.dir.truncateMetricsFrom(step);
    // Steps after the checkpoint were recorded once and will be done again: count them once.
    this.samples -= dropped.samples;
    this.stepsRecorded -= dropped.trainSteps;
    this.nextStepToWrite = step;
    this.resumeFrom = ckpt;
    this.stepLosses = STATEFUL_AGGREGATORS.has(this.config.aggregator.name) && step > 0 ? this.dir.stepLossesBefore(step) : undefined;
    this.dir.appendMetrics({
      type: 'restart',
      step,
      time: this.trainStartedAt ? (Date.now() - this.trainStartedAt) / 1000 : 0,
      world: this.links.length,
      generation: this.generation,
      reason: this.reformReason,
    });
    this.log.info(`continuing from ${ckpt ? `the checkpoint of step ${step}` : 'the start (no checkpoint yet; --checkpoint-every keeps more of a run)'} with ${this.links.length} worker(s)`);
    this.formRing();
  }

  /**
   * Fail the run once. A direct cause (a disconnect, a missed heartbeat, Ctrl-C) is decisive; a worker's
   * own failure report waits a moment, because when a peer died its disconnect is the better explanation
   * than a neighbour's collective error.
   */
  private fail(reason: string, status: RunStatus, decisive = true): void {
    if (this.phase === 'finished') return;
    if (this.failure && (this.failure.decisive || !decisive)) return;
    this.failure = { reason, status, decisive };
    clearTimeout(this.failTimer);
    // Elastic: a neighbour's collective error usually means a worker is gone; give the heartbeats
    // time to say which, so the ring can be re-formed without it.
    const wait = decisive ? 0 : this.mayReform() ? (this.config.heartbeatTimeout + 2) * 1000 : 500;
    this.failTimer = setTimeout(() => void this.stopWithFailure(), wait);
  }

  private async stopWithFailure(): Promise<void> {
    if (this.phase === 'finished' || !this.failure) return;
    clearTimeout(this.reformTimer);
    const { reason, status } = this.failure;
    this.phase = 'finished';
    this.log.error(`run ${status}: ${reason}`);
    for (const l of this.links) {
      l.send({ type: 'abort', reason });
      l.send({ type: 'shutdown', status });
    }
    for (const l of this.joiners) l.send({ type: 'shutdown', status });
    await this.writeSummary(status, reason);
  }

  // ---- completion ------------------------------------------------------------------------------

  private async complete(): Promise<void> {
    if (this.phase === 'finished') return;
    this.phase = 'finished';
    await Promise.all(this.writes);
    const summary = await this.writeSummary('completed');
    for (const l of [...this.links, ...this.joiners]) l.send({ type: 'shutdown', status: 'completed' });
    const table = metricTable(summary.finalMetrics, summary.finalTrainLoss);
    process.stdout.write(`\nrun ${summary.runId} completed: ${summary.steps} steps, ${formatCount(summary.samplesPerSec)} samples/s, ${summary.wallTimeSec.toFixed(1)} s wall, world ${summary.world}, backend ${summary.backend}\n${table}\nartifacts: ${this.dir.path}\n`);
  }

  private async writeSummary(status: RunStatus, error?: string): Promise<RunSummary> {
    await Promise.all(this.writes);
    const r0 = this.ready.get(0);
    const trainTime = this.trainStartedAt ? (Date.now() - this.trainStartedAt) / 1000 : 0;
    const steps = this.stepsRecorded;
    const samplesPerSec = trainTime > 0 ? this.samples / trainTime : 0;
    const flops = r0?.flopsPerExample ?? 0;
    const summary: RunSummary = {
      runId: this.config.runId,
      status,
      ...(error ? { error } : {}),
      variant: this.config.variant,
      world: this.links.length,
      backend: r0?.backend ?? 'unknown',
      ...(r0?.kernels ? { kernels: r0.kernels } : {}),
      steps: this.nextStepToWrite,
      ...(this.opts.resume ? { resumedFrom: this.opts.resume.step } : {}),
      ...(this.restarts ? { restarts: this.restarts } : {}),
      stepsPlanned: r0?.totalSteps ?? 0,
      epochs: r0 && r0.stepsPerEpoch > 0 ? this.nextStepToWrite / r0.stepsPerEpoch : 0,
      taskEpochs: Object.fromEntries(Object.entries(this.taskInfo).map(([t, i]) => [t, i.stepsPerEpoch > 0 ? this.nextStepToWrite / i.stepsPerEpoch : 0])),
      ...(this.placement ? { placement: this.placement } : {}),
      stepsPerEpoch: r0?.stepsPerEpoch ?? 0,
      trainSize: this.placement ? Object.values(this.taskInfo).reduce((a, t) => a + t.trainSize, 0) : (r0?.trainSize ?? 0),
      valSize: this.placement ? Object.values(this.taskInfo).reduce((a, t) => a + t.valSize, 0) : (r0?.valSize ?? 0),
      numParams: r0?.numParams ?? 0,
      wallTimeSec: (Date.now() - this.startedAt) / 1000,
      ...(this.trainStartedAt ? { trainStartedAt: new Date(this.trainStartedAt).toISOString() } : {}),
      trainTimeSec: trainTime,
      samples: this.samples,
      samplesPerSec,
      flopsPerExample: flops,
      gflopsPerWorker: this.links.length ? (samplesPerSec * flops) / this.links.length / 1e9 : 0,
      meanStepMs: {
        compute: steps ? this.timing.compute / steps : 0,
        comm: steps ? this.timing.comm / steps : 0,
        update: steps ? this.timing.update / steps : 0,
        total: steps ? (trainTime * 1000) / steps : 0,
      },
      bytesSentPerStep: steps ? this.bytesTotal / steps : 0,
      bytesSentTotal: this.bytesTotal,
      finalTrainLoss: this.lastLoss,
      finalMetrics: this.lastEval,
      ...(this.finalChecksum ? { checksum: this.finalChecksum } : {}),
      workers: this.links.map((l) => ({ rank: l.rank, name: l.name, host: l.host, pid: l.pid, ...(l.checksum ? { checksum: l.checksum } : {}) })),
    };
    this.dir.writeJson('summary.json', summary);
    this.dir.close();
    this.summary = summary;
    this.finish(summary);
    return summary;
  }

  private serveStatus(url: string, res: import('node:http').ServerResponse): void {
    if (url === '/status' || url === '/') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          runId: this.config.runId,
          phase: this.phase,
          joined: this.links.length,
          expected: this.opts.workers,
          maxWorkers: this.opts.maxWorkers ?? this.opts.workers,
          /** Workers admitted to the running ring that enter it at the next checkpoint. */
          waitingToJoin: this.joiners.map((l) => l.describe()),
          restarts: this.restarts,
          step: this.nextStepToWrite,
          epoch: this.lastEpoch,
          samplesPerSec: this.meter.rate(),
          loss: this.lastLoss,
          validation: this.lastEval,
          summary: this.summary ?? null,
        }),
      );
      return;
    }
    res.statusCode = 404;
    res.end('not found\n');
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data as ArrayBuffer);
}
