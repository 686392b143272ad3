// Shared data types of the package. Plain typed arrays so datasets move cheaply
// between the data package, the worker and TensorFlow.js without conversion.

export type TaskType = 'regression' | 'binary' | `multiclass:${number}`;

export interface TaskSpec {
  name: string;
  type: TaskType;
}

export interface Dataset {
  name: string;
  size: number;
  inputDim: number;
  /** Row-major, size * inputDim. */
  features: Float32Array;
  tasks: TaskSpec[];
  /** Per task, length size: regression value, binary 0/1, multiclass class index as float. */
  labels: Record<string, Float32Array>;
  /** Per task, 1 = label present. Absent (or a task missing from it) means all present. */
  mask?: Record<string, Uint8Array>;
}

export interface Batch {
  n: number;
  inputDim: number;
  x: Float32Array;
  labels: Record<string, Float32Array>;
  /** 1/0 per example, always present for every task. */
  mask: Record<string, Float32Array>;
}

/** Bad data or bad options for a data source; the message names where (file:line, column/field). */
export class DataError extends Error {
  override readonly name = 'DataError';
}
