import { deriveSeed, loadCsv, loadJsonl, syntheticMmoe, trainValSplit, type Dataset } from '@mtl/data';
import type { RunConfig } from '@mtl/protocol';

/**
 * Build the training and validation sets a run names. Every worker builds them the same way (synthetic
 * data from the seed, files from each host's copy), and the sampler decides which rows it touches.
 */
export function datasetsFor(config: RunConfig): { train: Dataset; val: Dataset } {
  const tasks = config.tasks.map((t) => ({ name: t.name, type: t.type }));
  const d = config.data;
  let full: Dataset;
  if (d.source === 'synthetic') {
    full = syntheticMmoe({
      tasks,
      numExamples: d.numExamples,
      inputDim: d.inputDim,
      correlation: d.correlation,
      noise: d.noise,
      numSinusoids: d.numSinusoids,
      missingRate: d.missingRate,
      seed: deriveSeed(config.seed, 'data'),
    });
  } else if (d.source === 'csv') {
    full = loadCsv(d.path, { tasks, ...(d.labelColumns ? { labelColumns: d.labelColumns } : {}), ...(d.featureColumns ? { featureColumns: d.featureColumns } : {}) });
  } else {
    full = loadJsonl(d.path, { tasks, ...(d.featuresField ? { featuresField: d.featuresField } : {}) });
  }
  return trainValSplit(full, d.valFraction, deriveSeed(config.seed, 'split'));
}
