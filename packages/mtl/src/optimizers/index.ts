// createOptimizer: one group optimizer per parameter group (each may be a different
// algorithm with its own hyper-parameters), stepped together with one shared step count.
// Parameters outside every group are left untouched.
import { Adam } from './adam';
import type { GroupOptimizer, Optimizer, OptimizerSpec, OptimizerState, ParamGroup } from './base';
import { Sgd } from './sgd';

export type { Optimizer, OptimizerSpec, OptimizerState, ParamGroup } from './base';

function makeGroup(spec: OptimizerSpec, size: number): GroupOptimizer {
  switch (spec.name) {
    case 'sgd':
      return new Sgd(spec, size);
    case 'adam':
      return new Adam(spec, size);
    default:
      throw new Error(`unknown optimizer '${(spec as { name: string }).name}' (expected sgd or adam)`);
  }
}

class GroupedOptimizer implements Optimizer {
  private steps = 0;
  private readonly opts: GroupOptimizer[];
  private readonly end: number;

  constructor(private readonly groups: ParamGroup[]) {
    if (!groups.length) throw new Error('createOptimizer: at least one parameter group is required');
    const sorted = [...groups].sort((a, b) => a.offset - b.offset);
    for (let i = 0; i < sorted.length; i++) {
      const g = sorted[i];
      if (!Number.isInteger(g.offset) || !Number.isInteger(g.size) || g.offset < 0 || g.size < 0) {
        throw new Error(`parameter group has invalid range offset=${g.offset} size=${g.size}`);
      }
      if (i > 0 && g.offset < sorted[i - 1].offset + sorted[i - 1].size) {
        throw new Error(`parameter groups overlap at offset ${g.offset}`);
      }
    }
    this.end = Math.max(...groups.map((g) => g.offset + g.size));
    this.opts = groups.map((g) => makeGroup(g.spec, g.size));
  }

  get stepCount(): number {
    return this.steps;
  }

  step(params: Float32Array, grad: Float32Array): void {
    this.stepRange(params, grad, 0, this.end);
    this.finishStep();
  }

  stepRange(params: Float32Array, grad: Float32Array, offset: number, size: number): void {
    if (params.length < this.end || grad.length < this.end) {
      throw new Error(`optimizer step: params/grad have ${params.length}/${grad.length} values, groups need ${this.end}`);
    }
    const t = this.steps + 1;
    const end = offset + size;
    this.groups.forEach((g, i) => {
      const lo = Math.max(offset, g.offset);
      const hi = Math.min(end, g.offset + g.size);
      if (hi > lo) this.opts[i].update(params.subarray(lo, hi), grad.subarray(lo, hi), t, lo - g.offset);
    });
  }

  finishStep(): void {
    this.steps++;
  }

  setLr(lr: number, group?: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`learning rate must be >= 0, got ${lr}`);
    if (group === undefined) for (const o of this.opts) o.lr = lr;
    else {
      const o = this.opts[group];
      if (!o) throw new Error(`no parameter group ${group}`);
      o.lr = lr;
    }
  }

  /** Copies of every group's buffers, in group order (SGD with momentum: [buf]; Adam: [m, v]). */
  state(): OptimizerState {
    return { stepCount: this.steps, buffers: this.opts.flatMap((o) => o.buffers.map((b) => b.slice())) };
  }

  loadState(s: OptimizerState): void {
    const mine = this.opts.flatMap((o) => o.buffers);
    if (s.buffers.length !== mine.length) {
      throw new Error(`optimizer state has ${s.buffers.length} buffers, expected ${mine.length}`);
    }
    mine.forEach((b, i) => {
      if (s.buffers[i].length !== b.length) {
        throw new Error(`optimizer state buffer ${i} has length ${s.buffers[i].length}, expected ${b.length}`);
      }
    });
    if (!Number.isInteger(s.stepCount) || s.stepCount < 0) throw new Error(`invalid optimizer stepCount ${s.stepCount}`);
    mine.forEach((b, i) => b.set(s.buffers[i]));
    this.steps = s.stepCount;
  }
}

export function createOptimizer(groups: ParamGroup[]): Optimizer {
  return new GroupedOptimizer(groups);
}
