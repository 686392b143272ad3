// Equal weighting: every task's (mean) gradient counts once.
import type { Aggregator, AggregatorContext } from './base';

export class EqualAggregator implements Aggregator {
  readonly name = 'equal';
  readonly kind = 'linear' as const;

  weights(ctx: AggregatorContext): Record<string, number> {
    const w: Record<string, number> = {};
    for (const t of ctx.tasks) w[t.name] = 1;
    return w;
  }
}
