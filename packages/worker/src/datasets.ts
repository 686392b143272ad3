import { deriveSeed, loadCsv, loadJsonl, syntheticMmoe, syntheticPerTask, trainValSplit, DataError, type Dataset } from '@mtl/data';
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

/**
 * Parallel variant: one task's own dataset. Synthetic tasks share one family of label functions (drawn
 * from the run seed over all tasks, so tasks stay related as in the distributed variant) and each
 * draws its own rows, of its own size, from its own seed.
 */
export function taskDatasetFor(config: RunConfig, taskName: string): { train: Dataset; val: Dataset } {
  const task = config.tasks.find((t) => t.name === taskName);
  if (!task) throw new DataError(`run has no task named ${taskName}`);
  const d = config.data;
  const valFraction = d.valFraction;
  const own = task.data;
  let full: Dataset;
  if (own && 'source' in own) {
    const spec = [{ name: task.name, type: task.type }];
    full =
      own.source === 'csv'
        ? loadCsv(own.path, { tasks: spec, labelColumns: { [task.name]: own.labelColumn ?? task.name }, ...(own.featureColumns ? { featureColumns: own.featureColumns } : {}) })
        : loadJsonl(own.path, { tasks: spec, ...(own.featuresField ? { featuresField: own.featuresField } : {}) });
  } else {
    if (d.source !== 'synthetic') throw new DataError(`task ${task.name} has no data of its own (tasks[].data) and the run's data is a ${d.source} file; the parallel variant needs one dataset per task`);
    const all = syntheticPerTask({
      tasks: config.tasks.map((t) => {
        const td = t.data && !('source' in t.data) ? t.data : undefined;
        return {
          name: t.name,
          type: t.type,
          numExamples: td?.numExamples ?? d.numExamples,
          seed: td?.seed ?? deriveSeed(config.seed, 'task-data', t.name),
        };
      }),
      inputDim: d.inputDim,
      correlation: d.correlation,
      noise: d.noise,
      numSinusoids: d.numSinusoids,
      seed: deriveSeed(config.seed, 'data'),
    });
    full = all[task.name]!;
  }
  return trainValSplit(full, valFraction, deriveSeed(config.seed, 'split', task.name));
}
