// SGD with optional momentum / Nesterov / L2 weight decay, following torch.optim.SGD
// (dampening 0):
//   g = grad + wd * p
//   buf = momentum * buf + g          (buf starts at 0, so the first step gives buf = g as in torch)
//   d = nesterov ? g + momentum * buf : buf      (d = g when momentum = 0)
//   p = p - lr * d
import { loadNative } from '@mtl/native';
import { checkHyper, type GroupOptimizer, type OptimizerSpec } from './base';

export class Sgd implements GroupOptimizer {
  lr: number;
  readonly buffers: Float32Array[];
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;

  constructor(spec: OptimizerSpec, size: number) {
    this.lr = checkHyper('lr', spec.lr, (v) => v >= 0, '>= 0');
    this.momentum = checkHyper('momentum', spec.momentum ?? 0, (v) => v >= 0, '>= 0');
    this.weightDecay = checkHyper('weightDecay', spec.weightDecay ?? 0, (v) => v >= 0, '>= 0');
    this.nesterov = spec.nesterov ?? false;
    if (this.nesterov && this.momentum === 0) throw new Error('Nesterov momentum requires momentum > 0');
    this.buffers = this.momentum > 0 ? [new Float32Array(size)] : [];
  }

  update(p: Float32Array, g: Float32Array, _t?: number, start = 0): void {
    const { lr, momentum: mu, weightDecay: wd, nesterov } = this;
    // Same bits as the loops below (float64 in the same order), several times faster.
    const native = loadNative();
    const buf = mu > 0 ? this.buffers[0]!.subarray(start, start + p.length) : null;
    if (native) return native.sgdUpdate(p, g, buf, lr, mu, wd, nesterov);
    if (mu === 0) {
      for (let i = 0; i < p.length; i++) p[i] = p[i] - lr * (g[i] + wd * p[i]);
      return;
    }
    const mb = buf!;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + wd * p[i];
      const b = (mb[i] = mu * mb[i] + gi);
      p[i] = p[i] - lr * (nesterov ? gi + mu * b : b);
    }
  }
}
