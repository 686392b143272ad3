// Backend selection. The rest of the package takes tf from tfRef() so that exactly one
// tf core is used: @tensorflow/tfjs-node bundles (and registers) its own core, so when it
// is loaded its exported object is the one to use.
import { dirname } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';
import { loadNative, nativeStatus } from '@mtl/native';
import { registerFastWasmMatMul, wasmMatMulPath } from './ops/wasm-kernels';

export type TF = typeof tfTypes;
export type BackendName = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';

export class BackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendError';
  }
}

let current: TF | undefined;
let wasmPathsSet = false;

/** The tf namespace in use (the plain @tensorflow/tfjs one until selectBackend says otherwise). */
export function tfRef(): TF {
  if (!current) current = require('@tensorflow/tfjs') as TF;
  return current;
}

const PACKAGES: Record<Exclude<BackendName, 'auto'>, string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
};

function isMissing(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(pkg);
}

/** require() that turns failures into a BackendError naming the install command. */
function load(pkg: string): unknown {
  try {
    return require(pkg);
  } catch (err) {
    if (isMissing(err, pkg)) {
      throw new BackendError(`${pkg} is not installed; install it with \`npm install ${pkg}\``, { cause: err });
    }
    throw new BackendError(
      `${pkg} is installed but failed to load (${(err as Error)?.message ?? err}); reinstall it with \`npm install ${pkg}\``,
      { cause: err },
    );
  }
}

async function activate(tf: TF, backend: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
    await tf.ready();
  } catch (err) {
    throw new BackendError(`backend '${backend}' failed to initialise: ${(err as Error)?.message ?? err}`, { cause: err });
  }
  if (!ok || tf.getBackend() !== backend) throw new BackendError(`backend '${backend}' failed to initialise`);
}

async function tryOne(name: Exclude<BackendName, 'auto'>): Promise<{ backend: string; tf: TF }> {
  switch (name) {
    case 'node-gpu':
    case 'node': {
      const tf = load(PACKAGES[name]) as TF;
      await activate(tf, 'tensorflow');
      current = tf;
      return { backend: name, tf };
    }
    case 'wasm': {
      const wasm = load(PACKAGES.wasm) as { setWasmPaths(p: string): void };
      const tf = tfRef();
      // The .wasm binaries ship inside the package; point the loader at them so no network is needed.
      if (!wasmPathsSet) {
        const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
        wasm.setWasmPaths(dirname(wasmFile) + '/');
        wasmPathsSet = true;
      }
      // Transposed products (every backward pass) fall off the wasm fast path; replace the matMul
      // kernels by name (ops/wasm-kernels.ts) with the native GEMM where the optional addon is
      // built (@mtl/native; MTL_NATIVE=0 disables it), else with explicit transposes and the
      // fast wasm product. MTL_WASM_STOCK_MATMUL=1 keeps the stock kernels, for A/B measurements.
      if (process.env.MTL_WASM_STOCK_MATMUL !== '1') registerFastWasmMatMul(tf, loadNative());
      await activate(tf, 'wasm');
      return { backend: 'wasm', tf };
    }
    case 'cpu': {
      const tf = tfRef();
      await activate(tf, 'cpu');
      // The pure-JS backend prints an "install tfjs-node" banner on first use; the choice is already
      // logged and recorded, so mark it as used instead of letting it reach every process's output.
      const cpu = tf.backend() as unknown as { firstUse?: boolean };
      if (typeof cpu.firstUse === 'boolean') cpu.firstUse = false;
      return { backend: 'cpu', tf };
    }
    default:
      throw new BackendError(`unknown backend '${name as string}' (expected auto, node-gpu, node, wasm or cpu)`);
  }
}

/**
 * Select and initialise a compute backend. 'auto' takes the first that loads of
 * node-gpu, node, wasm, cpu. An explicit choice that cannot load throws BackendError.
 */
export async function selectBackend(name: BackendName): Promise<{ backend: string; tf: TF }> {
  if (name !== 'auto') return tryOne(name);
  const failures: string[] = [];
  for (const candidate of ['node-gpu', 'node', 'wasm', 'cpu'] as const) {
    try {
      return await tryOne(candidate);
    } catch (err) {
      failures.push(`${candidate}: ${(err as Error).message}`);
    }
  }
  throw new BackendError(`no backend could be loaded:\n  ${failures.join('\n  ')}`);
}

/**
 * How matrix products run on the active backend, for logs, run summaries and the benchmark:
 * e.g. "native sgemm (avx2+fma 6x16)", "wasm xnnpack, explicit transposes", "wasm stock kernels".
 */
export function matMulKernels(tf: TF = tfRef()): string {
  if (tf.getBackend() !== 'wasm') return `${tf.getBackend()} stock kernels`;
  const path = wasmMatMulPath();
  if (path === 'native') return `native sgemm (${nativeStatus().isa ?? 'unknown isa'})`;
  if (path === 'wasm') {
    const why = nativeStatus().reason;
    return `wasm xnnpack, explicit transposes${why && why !== 'loaded' ? ` (native addon: ${why})` : ''}`;
  }
  return 'wasm stock kernels';
}
