import type { Aggregator } from './base';
import { CaGradAggregator } from './cagrad';
import { DwaAggregator } from './dwa';
import { EqualAggregator } from './equal';
import { GradNormAggregator } from './gradnorm';
import { MgdaAggregator } from './mgda';
import { PcGradAggregator } from './pcgrad';
import { UwAggregator } from './uw';
import type { OptimizerSpec } from '../optimizers';
import { StaticAggregator } from './static';

export type { Aggregator, AggregatorContext } from './base';
export { CaGradAggregator, DwaAggregator, EqualAggregator, GradNormAggregator, MgdaAggregator, PcGradAggregator, StaticAggregator, UwAggregator };

export type AggregatorSpec = { name: 'equal' } | { name: 'static'; weights: Record<string, number> } | { name: 'dwa'; temperature?: number } | { name: 'pcgrad'; seed?: number } | { name: 'mgda' } | { name: 'cagrad'; alpha?: number } | { name: 'uw'; tasks: string[]; optimizer: OptimizerSpec } | { name: 'gradnorm'; tasks: string[]; alpha?: number; lr?: number };

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
    case 'mgda':
      return new MgdaAggregator();
    case 'cagrad':
      return new CaGradAggregator(spec.alpha);
    case 'uw':
      return new UwAggregator(spec.tasks, spec.optimizer);
    case 'gradnorm':
      if (!Array.isArray(spec.tasks)) throw new Error("gradnorm aggregator needs 'tasks'");
      return new GradNormAggregator(spec.tasks, spec.alpha, spec.lr);
    default:
      throw new Error(`unknown aggregator '${(spec as { name: string }).name}' (expected equal, static, dwa, uw, pcgrad, mgda, cagrad or gradnorm)`);
  }
}
