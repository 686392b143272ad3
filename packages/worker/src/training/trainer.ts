import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RunConfig } from '@mtl/protocol';


export interface TrainerHooks {
  onStep(report: StepReport): void;
  /** Called on the ranks that speak for the metrics they pass (rank 0, or each group's first rank). */
  onEval(step: number, epoch: number, metrics: Record<string, Record<string, number>>): void;
  /** Rank 0 only: the complete parameters and optimizer state, for a checkpoint or the final model. */
  onParams(step: number, reason: 'checkpoint' | 'final', params: Float32Array, optimizer: { stepCount: number; buffers: Float32Array[] }, checksum: string, aggregator?: number[]): void;
}

export interface TrainerInfo {
  numParams: number;
  inputDim: number;
  trainSize: number;
  valSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  flopsPerExample: number;
  tasks: Record<string, { trainSize: number; valSize: number; stepsPerEpoch: number }>;
}

/** What one variant's step produced; the shared loop adds step, epoch and bytes. */
export interface StepOutcome {
  losses: Record<string, number>;
  counts: Record<string, number>;
  samples: number;
  computeMs: number;
  commMs: number;
  updateMs: number;
  /** The weight each task's gradient got this step, where the aggregator learns or computes them (not equal or static weights). */
  taskWeights?: Record<string, number>;
}

/** One step as reported to the coordinator. */
export interface StepReport extends StepOutcome {
  step: number;
  epoch: number;
  bytesSent: number;
}

/**
 * The loop both variants share: step, check replicas every `checksumEvery`, validate on schedule,
 * hand out checkpoints and the final parameters. Variants supply the step and the collectives.
 */
export abstract class Trainer {
  abstract readonly info: TrainerInfo;
  protected abstract readonly config: RunConfig;

  abstract synchronizeInitialState(): Promise<void>;
  /** Load a checkpoint's parameters and optimizer state (before synchronizeInitialState). */
  abstract restore(params: Float32Array, optimizer: { stepCount: number; buffers: Float32Array[] }, stepLosses?: Array<Record<string, number>>, aggregator?: number[]): void;
  protected abstract trainStep(step: number): Promise<StepOutcome>;
  /** Cross-rank checksum comparison; returns this rank's checksum of what it compared. */
  protected abstract verify(step: number): Promise<string>;
  /** Metrics this rank reports, or undefined when another rank speaks for them. */
  protected abstract evaluate(): Promise<Record<string, Record<string, number>> | undefined>;
  /** Make rank 0 hold the complete, current parameters (collective: every rank calls it). */
  protected abstract completeParams(step: number): Promise<{ params: Float32Array; optimizer: { stepCount: number; buffers: Float32Array[] }; checksum: string; aggregator?: number[] } | undefined>;
  protected abstract epochOf(step: number): { epoch: number; epochEnd: boolean };
  protected abstract bytesSent(): number;
  abstract dispose(): void;

  async run(hooks: TrainerHooks, startStep = 0): Promise<string> {
    const { totalSteps } = this.info;
    if (startStep > 0 && startStep >= totalSteps) throw new Error(`the checkpoint is at step ${startStep} and the run has ${totalSteps} steps; pass --steps (or --epochs) beyond it to continue`);
    let checksum = '';
    const report = async (step: number, epoch: number) => {
      const metrics = await this.evaluate();
      if (metrics) hooks.onEval(step, epoch, metrics);
    };
    const handOut = async (step: number, reason: 'checkpoint' | 'final') => {
      const full = await this.completeParams(step);
      if (full) hooks.onParams(step, reason, full.params, full.optimizer, full.checksum, full.aggregator);
    };
    if (totalSteps === 0) {
      checksum = await this.verify(0);
      await report(0, 0);
      await handOut(0, 'final');
      return checksum;
    }
    for (let step = startStep; step < totalSteps; step++) {
      const { epoch, epochEnd } = this.epochOf(step);
      const before = this.bytesSent();
      const outcome = await this.trainStep(step);
      const done = step + 1;
      const last = done === totalSteps;
      if (done % this.config.checksumEvery === 0 || last) checksum = await this.verify(done);
      hooks.onStep({ step, epoch, ...outcome, bytesSent: this.bytesSent() - before });
      const evalDue = this.config.evalEvery > 0 ? done % this.config.evalEvery === 0 : epochEnd;
      if (evalDue || last) await report(done, epoch);
      if (last) await handOut(done, 'final');
      else if (this.config.checkpointEvery > 0 && done % this.config.checkpointEvery === 0) await handOut(done, 'checkpoint');
      // The ring may resolve without real I/O (W = 1); let heartbeats and control messages through.
      await yieldToEventLoop();
    }
    return checksum;
  }
}
