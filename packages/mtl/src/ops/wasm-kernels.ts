// Faster matrix-product kernels for the wasm backend, registered by kernel name so that every
// call site benefits (tf.matMul, tf.fused.matMul, the gradients tfjs-core writes for them, and
// tfjs-layers): the TensorFlow.js way to replace a kernel, instead of patching call sites.
//
// Why: tfjs-backend-wasm 4.x hands non-transposed products to XNNPACK (about 15-17 GFLOP/s on one
// core for 256x1024x1024) but runs products with transposeA or transposeB set through a slow
// path (about 1 GFLOP/s). Every backward pass of a dense layer uses exactly those (dy @ W^T and
// x^T @ dy). Materialising the transpose first is O(rows*cols) and, for the shapes of a training
// step, costs a few percent of the product it unlocks. See docs/performance.md for measurements.
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import type { TF } from '../backend';

/** The subset of BackendWasm the wrapper needs. */
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  /** A Float32Array view of the tensor's bytes in the wasm heap (valid until the heap grows). */
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/**
 * A native single-precision GEMM (the optional @mtl/native addon): row-major, C = op(A) @ op(B)
 * (+ bias over rows, then relu). It reads and writes the wasm heap through views, so a product
 * costs no copies.
 */
export interface NativeGemm {
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, bias?: Float32Array | null, relu?: boolean): void;
}

interface KernelArgs {
  inputs: NamedTensorInfoMap;
  backend: WasmBackendLike;
  attrs?: NamedAttrMap;
}

const KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
type MatMulKernel = (typeof KERNELS)[number];

/** Original configs, kept so the stock kernels can be restored (tests) and called (non-transposed case). */
const originals = new Map<MatMulKernel, KernelConfig>();

/** Counters of how many products took each path; read by tests and the benchmark. */
export const wasmMatMulStats = { direct: 0, transposed: 0, swapped: 0, native: 0 };

let nativeGemm: NativeGemm | null = null;

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 1] = rank - 2;
  perm[rank - 2] = rank - 1;
  return perm;
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * The product through the native GEMM, or null when this call is outside what it handles (then
 * the wasm path runs): float32 operands, batch dimensions equal or one side unbatched, an
 * optional bias of exactly n values, and no activation or relu.
 */
function nativeProduct(gemm: NativeGemm, args: KernelArgs): TensorInfo | null {
  const attrs = (args.attrs ?? {}) as NamedAttrMap & { transposeA?: boolean; transposeB?: boolean; activation?: string };
  const { a, b, bias, preluActivationWeights } = args.inputs as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo | null; preluActivationWeights?: TensorInfo | null };
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || preluActivationWeights) return null;
  const activation = attrs.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') return null;
  if (bias && (bias.dtype !== 'float32' || size(bias.shape) !== b.shape[attrs.transposeB ? b.shape.length - 2 : b.shape.length - 1])) return null;
  const tA = !!attrs.transposeA;
  const tB = !!attrs.transposeB;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = tA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = tA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = tB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = tB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) return null; // the stock kernel reports the shape error
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = size(outerA);
  const batchB = size(outerB);
  let outer: number[];
  if (batchA === batchB && outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i])) outer = outerA;
  else if (batchB === 1 && outerB.length <= outerA.length) outer = outerA;
  else if (batchA === 1 && outerA.length <= outerB.length) outer = outerB;
  else return null;
  const batch = Math.max(batchA, batchB);
  const { backend } = args;
  // Allocate first: makeOutput may grow the wasm heap, which detaches earlier views of it.
  const out = backend.makeOutput([...outer, m, n], 'float32');
  const A = backend.typedArrayFromHeap(a);
  const B = backend.typedArrayFromHeap(b);
  const C = backend.typedArrayFromHeap(out);
  const biasView = bias ? backend.typedArrayFromHeap(bias) : null;
  const relu = activation === 'relu';
  for (let i = 0; i < batch; i++) {
    const ai = batchA === 1 ? 0 : i;
    const bi = batchB === 1 ? 0 : i;
    gemm.sgemm(tA, tB, m, n, k, A.subarray(ai * m * k, (ai + 1) * m * k), B.subarray(bi * k * n, (bi + 1) * k * n), C.subarray(i * m * n, (i + 1) * m * n), biasView, relu);
  }
  wasmMatMulStats.native++;
  return out;
}

function wrap(original: KernelConfig, transpose: KernelConfig, canSwap: boolean): KernelFunc {
  const inner = original.kernelFunc as unknown as (args: KernelArgs) => TensorInfo;
  const transposeFn = transpose.kernelFunc as unknown as (args: KernelArgs) => TensorInfo;
  return ((args: KernelArgs): TensorInfo => {
    if (nativeGemm) {
      const out = nativeProduct(nativeGemm, args);
      if (out) return out;
    }
    const attrs = (args.attrs ?? {}) as NamedAttrMap & { transposeA?: boolean; transposeB?: boolean };
    if (!attrs.transposeA && !attrs.transposeB) {
      wasmMatMulStats.direct++;
      return inner(args);
    }
    wasmMatMulStats.transposed++;
    const { backend } = args;
    const plain = { ...attrs, transposeA: false, transposeB: false };
    const temps: TensorInfo[] = [];
    const t = (x: TensorInfo): TensorInfo => {
      const y = transposeFn({ inputs: { x }, backend, attrs: { perm: swapLastTwo(x.shape.length) } });
      temps.push(y);
      return y;
    };
    try {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const tA = !!attrs.transposeA;
      const tB = !!attrs.transposeB;
      // op(a) is [m,k], op(b) is [k,n]. Either transpose the operands that need it (direct), or
      // compute the transposed product op(b)^T @ op(a)^T, whose operands need a transpose exactly
      // where the direct ones do not, and transpose the [n,m] result (swapped). Pick the one that
      // moves fewer elements, counting that XNNPACK repacks the right-hand operand on every call
      // (k*n direct, m*k swapped). For dy @ W^T with a large square W the swapped form moves about
      // 40% of what the direct one does. Only BatchMatMul can swap: a fused bias and activation
      // apply along the un-swapped output.
      const ra = a.shape.length;
      const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
      const k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
      const n = tB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
      const directCost = (tA ? m * k : 0) + (tB ? k * n : 0) + k * n;
      const swappedCost = (tB ? 0 : k * n) + (tA ? 0 : m * k) + m * n + m * k;
      if (canSwap && swappedCost < directCost) {
        wasmMatMulStats.swapped++;
        const outT = inner({ inputs: { a: tB ? b : t(b), b: tA ? a : t(a) }, backend, attrs: plain });
        temps.push(outT);
        return transposeFn({ inputs: { x: outT }, backend, attrs: { perm: swapLastTwo(outT.shape.length) } });
      }
      const inputs: NamedTensorInfoMap = { ...args.inputs };
      if (tA) inputs.a = t(a);
      if (tB) inputs.b = t(b);
      return inner({ inputs, backend, attrs: plain });
    } finally {
      for (const x of temps) backend.disposeData(x.dataId);
    }
  }) as unknown as KernelFunc;
}

/**
 * Replace the wasm backend's BatchMatMul and _FusedMatMul kernels with versions that run the
 * product through `gemm` (the native addon) where given and able, and otherwise transpose
 * explicitly and then run the fast non-transposed wasm product. Idempotent. Returns false (and changes
 * nothing) when the wasm kernels are not registered (package not loaded).
 */
export function registerFastWasmMatMul(tf: TF, gemm: NativeGemm | null = null): boolean {
  nativeGemm = gemm;
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose) return false;
  for (const name of KERNELS) {
    if (originals.has(name)) continue;
    const original = tf.getKernel(name, 'wasm');
    if (!original) return false;
    originals.set(name, original);
    tf.unregisterKernel(name, 'wasm');
    // setupFunc is the original's: when the backend initialises after this call it binds the
    // wasm export that the original kernelFunc (called by the wrapper) uses.
    tf.registerKernel({ kernelName: name, backendName: 'wasm', setupFunc: original.setupFunc, kernelFunc: wrap(original, transpose, name === 'BatchMatMul') });
  }
  return true;
}

/** Put the stock kernels back (for A/B measurements and tests). */
export function unregisterFastWasmMatMul(tf: TF): void {
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  originals.clear();
  nativeGemm = null;
}

/** Which product path the registered kernels take: 'native', 'wasm' (explicit transposes) or 'stock'. */
export function wasmMatMulPath(): 'native' | 'wasm' | 'stock' {
  if (originals.size !== KERNELS.length) return 'stock';
  return nativeGemm ? 'native' : 'wasm';
}

export function fastWasmMatMulRegistered(): boolean {
  return originals.size === KERNELS.length;
}
