import type { Aggregator } from './base';
import { AlignedMtlAggregator } from './aligned';
import { CaGradAggregator } from './cagrad';
import { DwaAggregator } from './dwa';
import { EqualAggregator } from './equal';
import { FairGradAggregator } from './fairgrad';
import { GlsAggregator } from './gls';
import { GradNormAggregator } from './gradnorm';
import { GradVacAggregator } from './gradvac';
import { ImtlAggregator } from './imtl';
import { MgdaAggregator } from './mgda';
import { NashMtlAggregator } from './nash';
import { PcGradAggregator } from './pcgrad';
import { RlwAggregator } from './rlw';
import { UwAggregator } from './uw';
import type { OptimizerSpec } from '../optimizers';
import { StaticAggregator } from './static';

export type { Aggregator, AggregatorContext } from './base';
export { AlignedMtlAggregator, CaGradAggregator, DwaAggregator, EqualAggregator, FairGradAggregator, GlsAggregator, GradNormAggregator, GradVacAggregator, ImtlAggregator, MgdaAggregator, NashMtlAggregator, PcGradAggregator, RlwAggregator, StaticAggregator, UwAggregator };

export type AggregatorSpec = { name: 'equal' } | { name: 'static'; weights: Record<string, number> } | { name: 'dwa'; temperature?: number } | { name: 'pcgrad'; seed?: number } | { name: 'mgda' } | { name: 'cagrad'; alpha?: number } | { name: 'uw'; tasks: string[]; optimizer: OptimizerSpec } | { name: 'gradnorm'; tasks: string[]; alpha?: number; lr?: number }
  | { name: 'imtl' }
  | { name: 'aligned' }
  | { name: 'rlw'; seed?: number }
  | { name: 'gradvac'; tasks: string[]; beta?: number; seed?: number }
  | { name: 'gls' }
  | { name: 'nash' }
  | { name: 'fairgrad'; alpha?: number };

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
    case 'imtl':
      return new ImtlAggregator();
    case 'aligned':
      return new AlignedMtlAggregator();
    case 'rlw':
      return new RlwAggregator(spec.seed);
    case 'gradvac':
      if (!Array.isArray(spec.tasks)) throw new Error("gradvac aggregator needs 'tasks'");
      return new GradVacAggregator(spec.tasks, spec.beta, spec.seed);
    case 'gls':
      return new GlsAggregator();
    case 'nash':
      return new NashMtlAggregator();
    case 'fairgrad':
      return new FairGradAggregator(spec.alpha);
    default:
      throw new Error(`unknown aggregator '${(spec as { name: string }).name}' (expected equal, static, dwa, uw, rlw, pcgrad, mgda, cagrad, gradnorm, imtl, aligned, gradvac, gls, nash or fairgrad)`);
  }
}
