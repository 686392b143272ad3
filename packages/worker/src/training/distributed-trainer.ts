import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ProcessGroup } from '@mtl/collective';
import { DistributedSampler, gatherBatch, type Batch, type Dataset } from '@mtl/data';
import {
  MtlModel,
  createAggregator,
  createOptimizer,
  flopsPerExample,
  paramChecksum,
  type Aggregator,
  type Optimizer,
  type TaskSpec,
} from '@mtl/mtl';
import type { RunConfig } from '@mtl/protocol';
import { verifyReplicas } from './checksum';
import { evaluate } from './evaluate';

export interface StepReport {
  step: number;
  epoch: number;
  losses: Record<string, number>;
  counts: Record<string, number>;
  samples: number;
  computeMs: number;
  commMs: number;
  updateMs: number;
  bytesSent: number;
}

export interface TrainerHooks {
  onStep(report: StepReport): void;
  onEval(step: number, epoch: number, metrics: Record<string, Record<string, number>>): void;
  /** Rank 0 only: parameters and optimizer state for a checkpoint or the final model. */
  onParams(step: number, reason: 'checkpoint' | 'final', params: Float32Array, optimizer: { stepCount: number; buffers: Float32Array[] }, checksum: string): void;
  /** Numbers of live tensors, for the leak check in every report. */
  tensorCount(): number;
}

export interface TrainerInfo {
  numParams: number;
  inputDim: number;
  trainSize: number;
  valSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  flopsPerExample: number;
}

/**
 * The distributed (data-parallel) variant: every rank computes every task's loss on its slice of the
 * global batch, one all-reduce adds gradient sums, loss sums and nothing else, and every rank applies
 * the same deterministic update.
 */
export class DistributedTrainer {
  readonly model: MtlModel;
  private readonly tasks: TaskSpec[];
  private readonly optimizer: Optimizer;
  private readonly aggregator: Aggregator;
  private readonly sampler: DistributedSampler;
  private readonly params: Float32Array;
  /** Gradient sums followed by one loss sum per task: a single buffer, a single all-reduce. */
  private readonly reduceBuf: Float32Array;
  private readonly countBuf: Float32Array;
  private batch?: Batch;
  readonly info: TrainerInfo;

  constructor(
    private readonly group: ProcessGroup,
    private readonly config: RunConfig,
    private readonly train: Dataset,
    private readonly val: Dataset,
  ) {
    this.tasks = config.tasks.map((t) => ({ name: t.name, type: t.type }));
    const spec = {
      inputDim: train.inputDim,
      trunk: config.model.trunk,
      head: config.model.head,
      activation: config.model.activation,
      tasks: this.tasks,
    };
    this.model = MtlModel.create(spec, config.seed);
    this.params = this.model.getParams();
    this.optimizer = createOptimizer([{ offset: 0, size: this.model.numParams, spec: config.optimizer }]);
    const agg = config.aggregator;
    this.aggregator = createAggregator(
      agg.name === 'static' ? { name: 'static', weights: agg.weights ?? Object.fromEntries(config.tasks.map((t) => [t.name, t.weight])) } : { name: 'equal' },
    );
    if (this.aggregator.kind !== 'linear') throw new Error(`aggregator ${this.aggregator.name} is not supported by the distributed trainer yet`);
    this.sampler = new DistributedSampler({ size: train.size, batchSize: config.batchSize, seed: config.seed, dropLast: config.dropLast });
    if (this.sampler.stepsPerEpoch === 0) {
      throw new Error(`training set of ${train.size} examples is smaller than one global batch of ${config.batchSize} with dropLast; lower --batch-size or use more data`);
    }
    this.reduceBuf = new Float32Array(this.model.numParams + this.tasks.length);
    this.countBuf = new Float32Array(this.tasks.length);
    this.info = {
      numParams: this.model.numParams,
      inputDim: train.inputDim,
      trainSize: train.size,
      valSize: val.size,
      stepsPerEpoch: this.sampler.stepsPerEpoch,
      totalSteps: config.epochs !== undefined ? config.epochs * this.sampler.stepsPerEpoch : config.steps,
      flopsPerExample: flopsPerExample(spec),
    };
  }

  /** Make every replica start from rank 0's parameters, as DDP does, so no initialiser can drift. */
  async synchronizeInitialState(): Promise<void> {
    await this.group.broadcast(this.params, 0);
    this.model.setParams(this.params);
  }

  async run(hooks: TrainerHooks, startStep = 0): Promise<string> {
    const { totalSteps, stepsPerEpoch } = this.info;
    const T = this.tasks.length;
    const P = this.model.numParams;
    const grad = this.reduceBuf.subarray(0, P);
    const weights: Record<string, number> = {};
    let checksum = '';
    const ctx = { tasks: this.tasks, step: startStep };

    if (totalSteps === 0) {
      checksum = await verifyReplicas(this.group, this.params, 0);
      hooks.onEval(0, 0, await evaluate(this.group, this.model, this.val, this.tasks));
      if (this.group.rank === 0) hooks.onParams(0, 'final', this.params, this.optimizer.state(), checksum);
      return checksum;
    }

    for (let step = startStep; step < totalSteps; step++) {
      const { epoch, stepInEpoch } = this.sampler.position(step);
      const bytesBefore = this.group.stats.bytesSent;
      const t0 = performance.now();
      const batch = (this.batch = gatherBatch(this.train, this.sampler.rankBatch(step, this.group.rank, this.group.world), this.batch));
      for (let k = 0; k < T; k++) {
        const mask = batch.mask[this.tasks[k]!.name]!;
        let c = 0;
        for (let i = 0; i < batch.n; i++) c += mask[i]!;
        this.countBuf[k] = c;
      }
      const t1 = performance.now();
      // Labelled-example counts first: the per-task mean needs the global count before the weighted sum.
      await this.group.allReduce(this.countBuf);
      const t2 = performance.now();
      ctx.step = step;
      const aggWeights = this.aggregator.weights!(ctx);
      for (let k = 0; k < T; k++) {
        const name = this.tasks[k]!.name;
        const n = this.countBuf[k]!;
        weights[name] = n > 0 ? aggWeights[name]! / n : 0;
      }
      let lossSums: Record<string, number>;
      if (batch.n > 0) {
        lossSums = this.model.lossAndGrad(batch, weights, grad).lossSums;
      } else {
        grad.fill(0);
        lossSums = Object.fromEntries(this.tasks.map((t) => [t.name, 0]));
      }
      for (let k = 0; k < T; k++) this.reduceBuf[P + k] = lossSums[this.tasks[k]!.name]!;
      const t3 = performance.now();
      await this.group.allReduce(this.reduceBuf);
      const t4 = performance.now();
      this.optimizer.step(this.params, grad);
      this.model.setParams(this.params);
      const t5 = performance.now();

      const losses: Record<string, number> = {};
      const counts: Record<string, number> = {};
      for (let k = 0; k < T; k++) {
        const name = this.tasks[k]!.name;
        counts[name] = this.countBuf[k]!;
        losses[name] = this.countBuf[k]! > 0 ? this.reduceBuf[P + k]! / this.countBuf[k]! : 0;
      }
      const done = step + 1;
      const last = done === totalSteps;
      if (done % this.config.checksumEvery === 0 || last) checksum = await verifyReplicas(this.group, this.params, done);
      hooks.onStep({
        step,
        epoch,
        losses,
        counts,
        samples: batch.n,
        computeMs: t1 - t0 + (t3 - t2),
        commMs: t2 - t1 + (t4 - t3),
        updateMs: t5 - t4,
        bytesSent: this.group.stats.bytesSent - bytesBefore,
      });
      const epochEnd = stepInEpoch === stepsPerEpoch - 1;
      const evalDue = this.config.evalEvery > 0 ? done % this.config.evalEvery === 0 : epochEnd;
      if (evalDue || last) hooks.onEval(done, epoch, await evaluate(this.group, this.model, this.val, this.tasks));
      if (this.group.rank === 0) {
        // The last step always ran the cross-rank check, so `checksum` is current there.
        if (last) hooks.onParams(done, 'final', this.params, this.optimizer.state(), checksum);
        else if (this.config.checkpointEvery > 0 && done % this.config.checkpointEvery === 0) {
          hooks.onParams(done, 'checkpoint', this.params, this.optimizer.state(), paramChecksum(this.params));
        }
      }
      // The ring may resolve without real I/O (W = 1); let heartbeats and control messages through.
      await yieldToEventLoop();
    }
    return checksum;
  }

  dispose(): void {
    this.model.dispose();
  }
}
