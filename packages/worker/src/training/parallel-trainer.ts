import type { ProcessGroup } from '@mtl/collective';
import { DistributedSampler, countLabels, deriveSeed, gatherBatch, type Batch, type Dataset } from '@mtl/data';
import { MtlModel, createOptimizer, flopsPerExample, paramChecksum, type Optimizer, type OptimizerSpec } from '@mtl/mtl';
import { modelSpecOf, type RunConfig, type TaskConfig } from '@mtl/protocol';
import { verifyReplicas } from './checksum';
import { evaluate } from './evaluate';
import { GradientBuckets, bucketMinElems } from './gradient-buckets';
import { InFlight } from './in-flight';
import { Trainer, type StepOutcome, type TrainerInfo } from './trainer';

/**
 * The parallel (task-parallel) variant. Each rank belongs to one task's group and trains only that task
 * on that task's own data. Per step:
 *   - the trunk gradient, sum_t w_t / N_t * (loss-sum gradient of t), is all-reduced over every rank;
 *   - the task's head gradient (and its loss sum) is all-reduced over the task's group only;
 *   - the trunk takes the run's optimizer, each head its task's optimizer.
 * Heads of other tasks are not trained here; they are broadcast from their groups whenever rank 0 needs
 * the complete model (checkpoints, the final model).
 */
export class ParallelTrainer extends Trainer {
  readonly model: MtlModel;
  readonly info: TrainerInfo;
  private readonly task: TaskConfig;
  private readonly sub: ProcessGroup;
  private readonly sampler: DistributedSampler;
  private readonly optimizer: Optimizer;
  private readonly params: Float32Array;
  private readonly grad: Float32Array;
  private readonly trunk: { offset: number; size: number };
  private readonly head: { offset: number; size: number };
  /** Head gradient followed by the task's loss sum: reduced over the group in one op. */
  private readonly headBuf: Float32Array;
  private readonly runStepsPerEpoch: number;
  private readonly bucketMin = bucketMinElems();
  private batch?: Batch;

  constructor(
    private readonly world: ProcessGroup,
    protected readonly config: RunConfig,
    private readonly placement: Record<string, number[]>,
    private readonly train: Dataset,
    private readonly val: Dataset,
    /** Steps per epoch of every task's own training set (every rank needs all of them to agree on the run's epoch). */
    taskStepsPerEpoch: Record<string, number>,
  ) {
    super();
    if (config.aggregator.name !== 'equal' && config.aggregator.name !== 'static') throw new Error(`aggregator ${config.aggregator.name} needs the distributed variant; the parallel variant weighs each task by its tasks[].weight`);
    const mine = config.tasks.filter((t) => placement[t.name]?.includes(world.rank));
    if (mine.length !== 1) throw new Error(`rank ${world.rank} belongs to ${mine.length} task groups; the parallel variant needs exactly one`);
    this.task = mine[0]!;
    this.sub = world.subgroup(placement[this.task.name]!);
    const spec = modelSpecOf(config, train.inputDim);
    this.model = MtlModel.create(spec, config.seed);
    this.params = this.model.getParams();
    this.grad = new Float32Array(this.model.numParams);
    this.trunk = this.model.trunkRange();
    this.head = this.model.headRange(this.task.name);
    this.optimizer = createOptimizer([
      { ...this.trunk, spec: config.optimizer },
      { ...this.head, spec: this.headSpec(this.task.name) },
    ]);
    this.sampler = new DistributedSampler({
      size: train.size,
      batchSize: this.task.batchSize ?? config.batchSize,
      seed: deriveSeed(config.seed, 'task', this.task.name),
      dropLast: config.dropLast,
    });
    this.headBuf = new Float32Array(this.head.size + 1);
    // One epoch of the run is one pass over the largest task's set; smaller sets are reshuffled and
    // restarted by their own samplers, and their own epochs are reported per task.
    this.runStepsPerEpoch = Math.max(...Object.values(taskStepsPerEpoch));
    this.info = {
      numParams: this.model.numParams,
      inputDim: train.inputDim,
      trainSize: train.size,
      valSize: val.size,
      stepsPerEpoch: this.runStepsPerEpoch,
      totalSteps: config.epochs !== undefined ? config.epochs * this.runStepsPerEpoch : config.steps,
      // Each example of the parallel variant trains the trunk and one head; per example that is the
      // trunk's FLOPs plus one head's, which the single-task spec of this rank counts.
      flopsPerExample: flopsPerExample({ ...spec, tasks: [{ name: this.task.name, type: this.task.type }] }),
      tasks: { [this.task.name]: { trainSize: train.size, valSize: val.size, stepsPerEpoch: this.sampler.stepsPerEpoch } },
    };
  }

  get taskName(): string {
    return this.task.name;
  }

  async synchronizeInitialState(): Promise<void> {
    await this.world.broadcast(this.params, 0);
    this.model.setParams(this.params);
  }

  /** A task's head optimizer: the run's, with the task's own overrides. */
  private headSpec(task: string): OptimizerSpec {
    const t = this.config.tasks.find((x) => x.name === task)!;
    return { ...this.config.optimizer, ...stripUndefined(t.optimizer ?? {}) };
  }

  /**
   * A checkpoint's optimizer state holds the whole model's: the trunk's buffers, then every task's
   * head buffers in task order (each head's optimizer may differ, so may its buffer count).
   */
  restore(params: Float32Array, optimizer: { stepCount: number; buffers: Float32Array[] }): void {
    if (params.length !== this.params.length) throw new Error(`checkpoint holds ${params.length} parameters, the model has ${this.params.length}`);
    const nTrunk = bufferCount(this.config.optimizer);
    let pos = nTrunk;
    let mine: Float32Array[] = [];
    for (const t of this.config.tasks) {
      const n = bufferCount(this.headSpec(t.name));
      if (t.name === this.task.name) mine = optimizer.buffers.slice(pos, pos + n);
      pos += n;
    }
    if (optimizer.buffers.length !== pos) {
      throw new Error(`checkpoint holds ${optimizer.buffers.length} optimizer buffers; this parallel run keeps ${pos} (the trunk's ${nTrunk}, then each head's)`);
    }
    this.params.set(params);
    this.optimizer.loadState({ stepCount: optimizer.stepCount, buffers: [...optimizer.buffers.slice(0, nTrunk), ...mine] });
    this.model.setParams(this.params);
  }

  protected async trainStep(step: number): Promise<StepOutcome> {
    const name = this.task.name;
    const t0 = performance.now();
    const batch = (this.batch = gatherBatch(this.train, this.sampler.rankBatch(step, this.sub.rank, this.sub.world), this.batch));
    // The task's labelled count over its group's whole batch, which its weight in the trunk divides
    // by: every rank of the group holds the task's data and the sampler, so each counts it itself
    // (no collective, as in the distributed variant).
    const n = countLabels(this.train, this.sampler.globalBatch(step))[name]!;
    const weights = { [name]: n > 0 ? this.task.weight / n : 0 };
    // Gradient buckets as in the distributed variant: this task's head goes to its group's ring as
    // soon as the heads are differentiated, each trunk layer to the world ring as soon as it exists.
    const inFlight = new InFlight();
    const start = (op: Promise<void>) => inFlight.add(op);
    const headGrad = this.grad.subarray(this.head.offset, this.head.offset + this.head.size);
    const trunkEnd = this.trunk.offset + this.trunk.size;
    // Trunk layers smaller than the bucket minimum join the next one (every world rank reports
    // the same trunk ranges, so every rank forms the same buckets).
    const trunkBuckets = new GradientBuckets(this.bucketMin, (offset, size) => start(this.world.allReduce(this.grad.subarray(offset, offset + size))));
    // The loss sums come before the first range, so the head's op carries the loss sum too.
    const headBuf = this.headBuf;
    const lossAt = this.head.size;
    headBuf[lossAt] = 0;
    await this.model.lossAndGradStaged(
      batch,
      weights,
      this.grad,
      (offset, size) => {
        if (offset < trunkEnd) trunkBuckets.ready(offset, Math.min(offset + size, trunkEnd) - offset);
        if (offset + size > trunkEnd) {
          headBuf.set(headGrad);
          start(this.sub.allReduce(headBuf));
        }
      },
      (sums) => {
        headBuf[lossAt] = sums[name] ?? 0;
      },
    );
    trunkBuckets.flush();
    const t3 = performance.now();
    await inFlight.done();
    headGrad.set(headBuf.subarray(0, lossAt));
    const t4 = performance.now();
    this.optimizer.step(this.params, this.grad);
    this.model.setParams(this.params);
    const t5 = performance.now();
    return {
      losses: { [name]: n > 0 ? headBuf[lossAt]! / n : 0 },
      counts: { [name]: n },
      samples: batch.n,
      computeMs: t3 - t0,
      commMs: t4 - t3,
      updateMs: t5 - t4,
    };
  }

  /** The trunk must agree on every rank, this task's head within its group. */
  protected async verify(step: number): Promise<string> {
    const trunk = await verifyReplicas(this.world, this.params.subarray(this.trunk.offset, this.trunk.offset + this.trunk.size), step);
    const head = await verifyReplicas(this.sub, this.params.subarray(this.head.offset, this.head.offset + this.head.size), step);
    return `${trunk.slice(0, 32)}${head.slice(0, 32)}`;
  }

  protected async evaluate() {
    const metrics = await evaluate(this.sub, this.model, this.val, [{ name: this.task.name, type: this.task.type }]);
    return this.sub.rank === 0 ? metrics : undefined;
  }

  /**
   * Each group's first rank broadcasts its head and the head's optimizer buffers to everyone, so
   * rank 0 holds the whole model and the whole optimizer state (a checkpoint any placement resumes).
   */
  protected async completeParams() {
    const own = this.optimizer.state();
    const nTrunk = bufferCount(this.config.optimizer);
    const heads: Float32Array[] = [];
    for (const t of this.config.tasks) {
      const range = this.model.headRange(t.name);
      const root = this.placement[t.name]![0]!;
      await this.world.broadcast(this.params.subarray(range.offset, range.offset + range.size), root);
      const n = bufferCount(this.headSpec(t.name));
      for (let b = 0; b < n; b++) {
        const buf = t.name === this.task.name ? own.buffers[nTrunk + b]!.slice() : new Float32Array(range.size);
        await this.world.broadcast(buf, root);
        heads.push(buf);
      }
    }
    this.model.setParams(this.params);
    if (this.world.rank !== 0) return undefined;
    return { params: this.params, optimizer: { stepCount: own.stepCount, buffers: [...own.buffers.slice(0, nTrunk), ...heads] }, checksum: paramChecksum(this.params) };
  }

  protected epochOf(step: number) {
    return { epoch: Math.floor(step / this.runStepsPerEpoch), epochEnd: (step + 1) % this.runStepsPerEpoch === 0 };
  }

  protected bytesSent(): number {
    return this.world.stats.bytesSent;
  }

  dispose(): void {
    this.model.dispose();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** How many state buffers one parameter group keeps under this optimizer (SGD: 0 or 1, Adam: 2). */
function bufferCount(spec: OptimizerSpec): number {
  return createOptimizer([{ offset: 0, size: 1, spec }]).state().buffers.length;
}
