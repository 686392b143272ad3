// Optimizers over flat Float32Arrays in plain JS: the same inputs give the same bits on
// every rank, with no dependence on a tf backend. PyTorch semantics (weight decay is the
// L2 term added to the gradient, as in torch.optim.SGD / torch.optim.Adam).

export interface OptimizerSpec {
  name: 'sgd' | 'adam';
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** A contiguous slice of the flat parameter vector with its own hyper-parameters. */
export interface ParamGroup {
  offset: number;
  size: number;
  spec: OptimizerSpec;
}

export interface OptimizerState {
  stepCount: number;
  buffers: Float32Array[];
}

export interface Optimizer {
  step(params: Float32Array, grad: Float32Array): void;
  /**
   * Apply the coming step (stepCount + 1) to params[offset, offset + size) only, e.g. to one
   * gradient bucket as soon as its all-reduce completes; finishStep() then closes the step. Every
   * element must be covered exactly once per step. Element-wise updates make this bit-identical to
   * step() over the whole vector.
   */
  stepRange(params: Float32Array, grad: Float32Array, offset: number, size: number): void;
  finishStep(): void;
  readonly stepCount: number;
  state(): OptimizerState;
  loadState(s: OptimizerState): void;
  /** Change the learning rate (for schedules): of every group, or of group `group` only. */
  setLr(lr: number, group?: number): void;
}

/** One optimizer algorithm applied to one group (one file per algorithm). */
export interface GroupOptimizer {
  lr: number;
  /** State tensors, each `size` long; owned by the group optimizer, exposed for checkpoints. */
  readonly buffers: Float32Array[];
  /**
   * Update p in place from g; `t` is the 1-based step number. p and g are a slice of the group
   * starting at element `start` of the group (0: the whole group), so state buffers are indexed from there.
   */
  update(p: Float32Array, g: Float32Array, t: number, start?: number): void;
}

export function checkHyper(name: string, value: number, ok: (v: number) => boolean, expect: string): number {
  if (!Number.isFinite(value) || !ok(value)) throw new Error(`optimizer ${name} must be ${expect}, got ${value}`);
  return value;
}
