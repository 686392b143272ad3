// Adam following torch.optim.Adam (L2 weight decay added to the gradient, not AdamW):
//   g = grad + wd * p
//   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g^2
//   p = p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
import { loadNative } from '@mtl/native';
import { checkHyper, type GroupOptimizer, type OptimizerSpec } from './base';

export class Adam implements GroupOptimizer {
  lr: number;
  readonly buffers: Float32Array[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(spec: OptimizerSpec, size: number) {
    this.lr = checkHyper('lr', spec.lr, (v) => v >= 0, '>= 0');
    this.beta1 = checkHyper('beta1', spec.beta1 ?? 0.9, (v) => v >= 0 && v < 1, 'in [0, 1)');
    this.beta2 = checkHyper('beta2', spec.beta2 ?? 0.999, (v) => v >= 0 && v < 1, 'in [0, 1)');
    this.eps = checkHyper('eps', spec.eps ?? 1e-8, (v) => v >= 0, '>= 0');
    this.weightDecay = checkHyper('weightDecay', spec.weightDecay ?? 0, (v) => v >= 0, '>= 0');
    this.buffers = [new Float32Array(size), new Float32Array(size)];
  }

  update(p: Float32Array, g: Float32Array, t: number, start = 0): void {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const m = this.buffers[0]!.subarray(start, start + p.length);
    const v = this.buffers[1]!.subarray(start, start + p.length);
    // The native kernel gives the same bits as the loop below (float64 in the same order), so
    // replicas with and without the addon stay identical; it is several times faster.
    const native = loadNative();
    if (native) return native.adamUpdate(p, g, m, v, this.lr, b1, b2, eps, wd, t);
    const stepSize = this.lr / (1 - Math.pow(b1, t));
    // PyTorch divides sqrt(v) by sqrt(1 - b2^t); multiplying by its inverse saves a division per
    // element (measured: the update of 1.58 M parameters 20.6 -> 17.3 ms) at a last-bit difference.
    const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(b2, t));
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    const n = p.length;
    for (let i = 0; i < n; i++) {
      const pi = p[i]!;
      const gi = g[i]! + wd * pi;
      const mi = b1 * m[i]! + c1 * gi;
      const vi = b2 * v[i]! + c2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
    }
  }
}
