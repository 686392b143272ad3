// @mtl/data: dataset sources, splitting, sharding and batching. No TensorFlow.js here.
export type { TaskType, TaskSpec, Dataset, Batch } from './types';
export { DataError } from './types';
export { Rng, deriveSeed } from './rng';
export type { SyntheticOptions } from './synthetic';
export { syntheticMmoe, syntheticPerTask } from './synthetic';
export { trainValSplit, subset } from './split';
export {
  epochPermutation,
  stepsPerEpoch,
  globalBatchIndices,
  rankSlice,
  rankRange,
  DistributedSampler,
} from './sampler';
export { countLabels, gatherBatch } from './batch';
export { loadCsv } from './csv';
export { loadJsonl } from './jsonl';
