import type { Aggregator } from './base';
import { DwaAggregator } from './dwa';
import { EqualAggregator } from './equal';
import { PcGradAggregator } from './pcgrad';
import { StaticAggregator } from './static';

export type { Aggregator, AggregatorContext } from './base';
export { DwaAggregator, EqualAggregator, PcGradAggregator, StaticAggregator };

export type AggregatorSpec = { name: 'equal' } | { name: 'static'; weights: Record<string, number> } | { name: 'dwa'; temperature?: number } | { name: 'pcgrad'; seed?: number };

export function createAggregator(spec: AggregatorSpec): Aggregator {
  switch (spec.name) {
    case 'equal':
      return new EqualAggregator();
    case 'static':
      if (!spec.weights || typeof spec.weights !== 'object') throw new Error("static aggregator needs 'weights'");
      return new StaticAggregator(spec.weights);
    case 'dwa':
      return new DwaAggregator(spec.temperature);
    case 'pcgrad':
      return new PcGradAggregator(spec.seed);
    default:
      throw new Error(`unknown aggregator '${(spec as { name: string }).name}' (expected equal, static, dwa or pcgrad)`);
  }
}
