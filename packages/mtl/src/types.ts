// Shapes shared with the rest of the system. Defined locally (this package imports no
// other @mtl package); structurally identical to @mtl/data's types.

export type TaskType = 'regression' | 'binary' | `multiclass:${number}`;

export interface TaskSpec {
  name: string;
  type: TaskType;
}

export interface Batch {
  n: number;
  inputDim: number;
  /** n*inputDim, row-major. */
  x: Float32Array;
  labels: Record<string, Float32Array>;
  /** 1 = labelled, 0 = missing; used as a per-example multiplier. */
  mask: Record<string, Float32Array>;
}

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'gelu' | 'linear';

export interface ModelSpec {
  inputDim: number;
  /** Hidden widths of the shared trunk, e.g. [64, 64]. */
  trunk: number[];
  activation: Activation;
  tasks: TaskSpec[];
  /** Hidden widths inside each head (default []). */
  head?: number[];
  /**
   * 'hps' (default): one shared trunk; 'mmoe': `experts` trunks mixed by a softmax gate per task;
   * 'cgc': shared and task-specific experts mixed by a gate per task; 'ple': `levels` stacked CGC layers;
   * 'dselect-k': `experts` trunks, per task a DSelect-k gate choosing `k` of them; 'cross-stitch': a
   * column of the `trunk` widths per task, mixed by a cross-stitch unit after each hidden layer.
   */
  architecture?: 'hps' | 'mmoe' | 'cgc' | 'ple' | 'dselect-k' | 'cross-stitch';
  /**
   * mmoe, dselect-k: number of experts (dselect-k: a power of two); cgc, ple: number of shared experts
   * (per level). Each a stack of the `trunk` widths (default 4).
   */
  experts?: number;
  /** dselect-k: experts each task's gate selects, its number of selectors (default 2, at most `experts`). */
  k?: number;
  /** dselect-k: width gamma of the smooth-step function; a selector's bit is exactly 0 or 1 beyond +-gamma/2 (default 1). */
  gamma?: number;
  /** cgc, ple: experts of each task (per level), each a stack of the `trunk` widths (default 1). */
  taskExperts?: number;
  /** ple: number of extraction levels; the last is a CGC layer (default 2). */
  levels?: number;
}

export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** 'trunk' or the owning task's name. */
  owner: 'trunk' | string;
}

/** Output width of a task's head: K for multiclass:K, else 1. */
export function outputDim(type: TaskType): number {
  if (type === 'regression' || type === 'binary') return 1;
  const m = /^multiclass:(\d+)$/.exec(type);
  if (!m) throw new Error(`unknown task type '${type}'`);
  const k = Number(m[1]);
  if (!(k >= 2)) throw new Error(`task type '${type}' needs at least 2 classes`);
  return k;
}

export function numClasses(type: TaskType): number {
  return outputDim(type);
}
