// Static weighting: fixed user-given loss weights, one per task.
import type { Aggregator, AggregatorContext } from './base';

export class StaticAggregator implements Aggregator {
  readonly name = 'static';
  readonly kind = 'linear' as const;
  private readonly given: Record<string, number>;

  constructor(weights: Record<string, number>) {
    for (const [task, w] of Object.entries(weights)) {
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new Error(`static weight of task '${task}' must be a finite number, got ${w}`);
    }
    this.given = { ...weights };
  }

  weights(ctx: AggregatorContext): Record<string, number> {
    const w: Record<string, number> = {};
    for (const t of ctx.tasks) {
      if (!Object.prototype.hasOwnProperty.call(this.given, t.name)) {
        throw new Error(`static aggregator has no weight for task '${t.name}'`);
      }
      w[t.name] = this.given[t.name];
    }
    return w;
  }
}
