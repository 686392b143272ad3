import type { ProcessGroup } from '@mtl/collective';
import { DistributedSampler, countLabels, gatherBatch, type Batch, type Dataset } from '@mtl/data';
import { MtlModel, createAggregator, createOptimizer, flopsPerExample, paramChecksum, type Aggregator, type Optimizer, type TaskSpec } from '@mtl/mtl';
import { modelSpecOf, type RunConfig } from '@mtl/protocol';
import { verifyReplicas } from './checksum';
import { evaluate } from './evaluate';
import { GradientBuckets, bucketMinElems } from './gradient-buckets';
import { InFlight } from './in-flight';
import { Trainer, type StepOutcome, type TrainerInfo } from './trainer';

/**
 * The distributed (data-parallel) variant: every rank computes every task's loss on its slice of the
 * global batch, one all-reduce adds gradient sums and loss sums, and every rank applies the same
 * deterministic update.
 */
export class DistributedTrainer extends Trainer {
  readonly model: MtlModel;
  readonly info: TrainerInfo;
  private readonly tasks: TaskSpec[];
  private readonly optimizer: Optimizer;
  private readonly aggregator: Aggregator;
  private readonly sampler: DistributedSampler;
  private readonly params: Float32Array;
  /** Gradient sums followed by one loss sum per task. */
  private readonly reduceBuf: Float32Array;
  private readonly countBuf: Float32Array;
  private readonly weights: Record<string, number> = {};
  private readonly bucketMin = bucketMinElems();
  private stackedBuf?: Float32Array;
  private batch?: Batch;

  constructor(
    private readonly group: ProcessGroup,
    protected readonly config: RunConfig,
    private readonly train: Dataset,
    private readonly val: Dataset,
  ) {
    super();
    this.tasks = config.tasks.map((t) => ({ name: t.name, type: t.type }));
    const spec = modelSpecOf(config, train.inputDim);
    this.model = MtlModel.create(spec, config.seed);
    this.params = this.model.getParams();
    this.optimizer = createOptimizer([{ offset: 0, size: this.model.numParams, spec: config.optimizer }]);
    const agg = config.aggregator;
    this.aggregator = createAggregator(
      agg.name === 'static'
        ? { name: 'static', weights: agg.weights ?? Object.fromEntries(config.tasks.map((t) => [t.name, t.weight])) }
        : agg.name === 'dwa'
          ? { name: 'dwa', temperature: agg.temperature }
          : agg.name === 'pcgrad'
            ? { name: 'pcgrad', seed: config.seed }
            : agg.name === 'mgda'
              ? { name: 'mgda' }
            : agg.name === 'cagrad'
              ? { name: 'cagrad', alpha: agg.alpha }
            : agg.name === 'gradnorm'
              ? { name: 'gradnorm', tasks: config.tasks.map((t) => t.name), alpha: agg.alpha, lr: agg.lr }
            : agg.name === 'imtl'
              ? { name: 'imtl' }
            : agg.name === 'aligned'
              ? { name: 'aligned' }
            : agg.name === 'gradvac'
              ? { name: 'gradvac', tasks: config.tasks.map((t) => t.name), beta: agg.beta, seed: config.seed }
            : agg.name === 'rlw'
              ? { name: 'rlw', seed: config.seed }
            : agg.name === 'gls'
              ? { name: 'gls' }
            : agg.name === 'nash'
              ? { name: 'nash' }
            : agg.name === 'fairgrad'
              ? { name: 'fairgrad', alpha: agg.alpha }
            : agg.name === 'uw'
              ? { name: 'uw', tasks: config.tasks.map((t) => t.name), optimizer: config.optimizer }
              : { name: 'equal' },
    );
    // Gradient surgery needs each task's global gradient: T stacked gradients and the loss sums.
    if (this.aggregator.kind === 'stacked') this.stackedBuf = new Float32Array(this.tasks.length * this.model.numParams + this.tasks.length);
    this.sampler = new DistributedSampler({ size: train.size, batchSize: config.batchSize, seed: config.seed, dropLast: config.dropLast });
    this.reduceBuf = new Float32Array(this.model.numParams + this.tasks.length);
    this.countBuf = new Float32Array(this.tasks.length);
    const spe = this.sampler.stepsPerEpoch;
    this.info = {
      numParams: this.model.numParams,
      inputDim: train.inputDim,
      trainSize: train.size,
      valSize: val.size,
      stepsPerEpoch: spe,
      totalSteps: config.epochs !== undefined ? config.epochs * spe : config.steps,
      flopsPerExample: flopsPerExample(spec),
      tasks: Object.fromEntries(this.tasks.map((t) => [t.name, { trainSize: train.size, valSize: val.size, stepsPerEpoch: spe }])),
    };
  }

  /** Every replica starts from rank 0's parameters, as DDP does, so no initialiser can drift. */
  async synchronizeInitialState(): Promise<void> {
    await this.group.broadcast(this.params, 0);
    this.model.setParams(this.params);
  }

  restore(params: Float32Array, optimizer: { stepCount: number; buffers: Float32Array[] }, stepLosses?: Array<Record<string, number>>, aggregator?: number[]): void {
    if (params.length !== this.params.length) throw new Error(`checkpoint holds ${params.length} parameters, the model has ${this.params.length}`);
    if (this.aggregator.loadState) {
      // A checkpoint of step 0 has no state yet: the aggregator starts afresh, as at step 0.
      if (aggregator) this.aggregator.loadState(aggregator);
      else if (optimizer.stepCount > 0) throw new Error(`aggregator ${this.aggregator.name} keeps state in its checkpoints, and this checkpoint (after ${optimizer.stepCount} steps) has none`);
    }
    this.params.set(params);
    this.optimizer.loadState(optimizer);
    this.model.setParams(this.params);
    // A stateful aggregator sees again what it saw before the checkpoint, in the same order.
    if (this.aggregator.observe) {
      if (!stepLosses || stepLosses.length !== optimizer.stepCount) throw new Error(`aggregator ${this.aggregator.name} needs the losses of the ${optimizer.stepCount} steps before the checkpoint; got ${stepLosses?.length ?? 0}`);
      stepLosses.forEach((losses, s) => this.aggregator.observe!(losses, this.epochOf(s).epochEnd));
    }
  }

  protected async trainStep(step: number): Promise<StepOutcome> {
    if (this.stackedBuf) return this.stackedStep(step, this.stackedBuf);
    const T = this.tasks.length;
    const P = this.model.numParams;
    const grad = this.reduceBuf.subarray(0, P);
    const t0 = performance.now();
    const batch = this.prepareBatch(step);
    const aggWeights = this.aggregator.weights!({ tasks: this.tasks, step });
    for (let k = 0; k < T; k++) {
      const name = this.tasks[k]!.name;
      const n = this.countBuf[k]!;
      this.weights[name] = n > 0 ? aggWeights[name]! / n : 0;
    }
    // Gradient buckets, as DDP does: each layer's gradient is all-reduced as soon as the backward
    // pass has produced it, while the layers below are still being differentiated; and each
    // bucket's parameters are updated as soon as its sum is in, while later buckets are still on
    // the wire (the update is element-wise, so this is bit-identical to one update at the end).
    // Layers smaller than the bucket minimum join the next one; the loss sums (after the gradient
    // in reduceBuf) ride with the first bucket.
    const inFlight = new InFlight();
    let updateMs = 0;
    // Parameter ranges updated but not yet written into the model's variables. Those written
    // while the last buckets are still on the wire (below) cost no step time at W >= 2.
    const updated: Array<[number, number]> = [];
    const start = (offset: number, size: number) => {
      let op = this.group.allReduce(this.reduceBuf.subarray(offset, offset + size));
      const end = Math.min(offset + size, P);
      if (offset < end) {
        op = op.then(() => {
          const u = performance.now();
          this.optimizer.stepRange(this.params, grad, offset, end - offset);
          updated.push([offset, end - offset]);
          updateMs += performance.now() - u;
        });
      }
      inFlight.add(op);
    };
    const assignUpdated = () => {
      for (const [offset, size] of updated.splice(0)) this.model.setParamsRange(this.params, offset, size);
    };
    const putLossSums = (sums: Record<string, number>) => {
      for (let k = 0; k < T; k++) this.reduceBuf[P + k] = sums[this.tasks[k]!.name] ?? 0;
    };
    if (process.env.MTL_GRAD_BUCKETS === '0') {
      // One all-reduce of the whole gradient and the loss sums after the backward pass (for A/B runs).
      putLossSums(this.model.lossAndGrad(batch, this.weights, grad).lossSums);
      start(0, P + T);
    } else {
      const buckets = new GradientBuckets(this.bucketMin, start);
      let lossesIn = false;
      const { lossSums } = await this.model.lossAndGradStaged(
        batch,
        this.weights,
        grad,
        (offset, size) => buckets.ready(offset, size),
        (sums) => {
          putLossSums(sums);
          buckets.ready(P, T);
          lossesIn = true;
        },
      );
      buckets.flush();
      if (!lossesIn) {
        putLossSums(lossSums);
        start(P, T);
      }
    }
    const t3 = performance.now();
    const updateBeforeWait = updateMs;
    // The backward pass is over, so the variables of buckets already updated can be written now,
    // while the rest are still being reduced (the backward pass reads the variables until its end).
    const a = performance.now();
    assignUpdated();
    updateMs += performance.now() - a;
    await inFlight.done();
    const t4 = performance.now();
    const updateInWait = updateMs - updateBeforeWait;
    this.optimizer.finishStep();
    assignUpdated();
    const t5 = performance.now();
    const { losses, counts } = this.meanLosses(this.reduceBuf.subarray(P, P + T));
    this.aggregator.observe?.(losses, this.epochOf(step).epochEnd);
    return {
      losses,
      counts,
      samples: batch.n,
      computeMs: t3 - t0 - updateBeforeWait,
      commMs: t4 - t3 - updateInWait,
      updateMs: updateMs + (t5 - t4),
      ...(this.aggregator.name !== 'equal' && this.aggregator.name !== 'static' ? { taskWeights: aggWeights } : {}),
    };
  }

  /**
   * A step of a stacked aggregator (gradient surgery, DESIGN.md "Aggregators"): one backward pass
   * per task, one all-reduce of the T gradients and loss sums (T times the bytes of a linear
   * step), each task's sum divided by its global labelled count, and the same deterministic
   * combination on every rank.
   */
  private async stackedStep(step: number, buf: Float32Array): Promise<StepOutcome> {
    const T = this.tasks.length;
    const P = this.model.numParams;
    const stacked = buf.subarray(0, T * P);
    const t0 = performance.now();
    const batch = this.prepareBatch(step);
    const { lossSums } = this.model.perTaskGrads(batch, stacked);
    for (let k = 0; k < T; k++) buf[T * P + k] = lossSums[this.tasks[k]!.name] ?? 0;
    const t1 = performance.now();
    await this.group.allReduce(buf);
    const t2 = performance.now();
    for (let k = 0; k < T; k++) {
      const n = this.countBuf[k]!;
      const g = stacked.subarray(k * P, (k + 1) * P);
      if (n > 0) for (let i = 0; i < P; i++) g[i] = g[i]! / n;
      else g.fill(0);
    }
    const grad = this.reduceBuf.subarray(0, P);
    const { losses, counts } = this.meanLosses(buf.subarray(T * P, T * P + T));
    this.aggregator.combine!(stacked, T, this.model.trunkRange(), grad, { tasks: this.tasks, step, losses });
    this.optimizer.step(this.params, grad);
    this.model.setParams(this.params);
    const t3 = performance.now();
    const used = this.aggregator.lastWeights;
    const taskWeights = used && used.length === T ? Object.fromEntries(this.tasks.map((t, k) => [t.name, used[k]!])) : undefined;
    return { losses, counts, samples: batch.n, computeMs: t1 - t0, commMs: t2 - t1, updateMs: t3 - t2, ...(taskWeights ? { taskWeights } : {}) };
  }

  /**
   * This rank's share of the step's global batch; and the global labelled count per task into
   * countBuf, which the per-task means need: every rank counts the global batch itself (same data,
   * same sampler), so the step needs no collective for it.
   */
  private prepareBatch(step: number): Batch {
    const globalCounts = countLabels(this.train, this.sampler.globalBatch(step));
    for (let k = 0; k < this.tasks.length; k++) this.countBuf[k] = globalCounts[this.tasks[k]!.name]!;
    return (this.batch = gatherBatch(this.train, this.sampler.rankBatch(step, this.group.rank, this.group.world), this.batch));
  }

  /** Per-task mean losses from the all-reduced loss sums (in task order) and the global counts. */
  private meanLosses(sums: Float32Array): { losses: Record<string, number>; counts: Record<string, number> } {
    const losses: Record<string, number> = {};
    const counts: Record<string, number> = {};
    this.tasks.forEach((t, k) => {
      const n = this.countBuf[k]!;
      counts[t.name] = n;
      losses[t.name] = n > 0 ? sums[k]! / n : 0;
    });
    return { losses, counts };
  }

  protected verify(step: number): Promise<string> {
    return verifyReplicas(this.group, this.params, step);
  }

  protected async evaluate() {
    const metrics = await evaluate(this.group, this.model, this.val, this.tasks);
    return this.group.rank === 0 ? metrics : undefined;
  }

  protected async completeParams() {
    if (this.group.rank !== 0) return undefined;
    return { params: this.params, optimizer: this.optimizer.state(), checksum: paramChecksum(this.params), ...(this.aggregator.state ? { aggregator: this.aggregator.state() } : {}) };
  }

  protected epochOf(step: number) {
    const { epoch, stepInEpoch } = this.sampler.position(step);
    return { epoch, epochEnd: stepInEpoch === this.sampler.stepsPerEpoch - 1 };
  }

  protected bytesSent(): number {
    return this.group.stats.bytesSent;
  }

  dispose(): void {
    this.model.dispose();
  }
}
