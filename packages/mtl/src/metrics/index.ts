import type { TaskSpec } from '../types';
import { outputDim } from '../types';
import type { TaskMetric } from './base';
import { binaryMetric } from './binary';
import { multiclassMetric } from './multiclass';
import { regressionMetric } from './regression';

export type { TaskMetric } from './base';
export { AUC_BINS } from './binary';

export function metricsFor(task: TaskSpec): TaskMetric {
  if (task.type === 'regression') return regressionMetric;
  if (task.type === 'binary') return binaryMetric;
  return multiclassMetric(outputDim(task.type));
}

/** The metric that decides "better" for a task (early stopping, time to target). */
export function primaryMetric(task: TaskSpec): { name: string; higherIsBetter: boolean } {
  if (task.type === 'regression') return { name: 'mse', higherIsBetter: false };
  if (task.type === 'binary') return { name: 'auc', higherIsBetter: true };
  outputDim(task.type);
  return { name: 'accuracy', higherIsBetter: true };
}
