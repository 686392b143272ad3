import type { TaskSpec } from '../types';
import { outputDim } from '../types';
import type { TaskLoss } from './base';
import { binaryCrossEntropyLoss } from './binary_cross_entropy';
import { mseLoss } from './mse';
import { softmaxCrossEntropyLoss } from './softmax_cross_entropy';

export type { TaskLoss } from './base';
export { mseLoss, binaryCrossEntropyLoss, softmaxCrossEntropyLoss };

/** The loss of a task, chosen by its type. */
export function lossFor(task: TaskSpec): TaskLoss {
  if (task.type === 'regression') return mseLoss;
  if (task.type === 'binary') return binaryCrossEntropyLoss;
  return softmaxCrossEntropyLoss(outputDim(task.type));
}
