import type { Aggregator } from './base';
import { EqualAggregator } from './equal';
import { StaticAggregator } from './static';

export type { Aggregator, AggregatorContext } from './base';
export { EqualAggregator, StaticAggregator };

export type AggregatorSpec = { name: 'equal' } | { name: 'static'; weights: Record<string, number> };

export function createAggregator(spec: AggregatorSpec): Aggregator {
  switch (spec.name) {
    case 'equal':
      return new EqualAggregator();
    case 'static':
      if (!spec.weights || typeof spec.weights !== 'object') throw new Error("static aggregator needs 'weights'");
      return new StaticAggregator(spec.weights);
    default:
      throw new Error(`unknown aggregator '${(spec as { name: string }).name}' (expected equal or static)`);
  }
}
