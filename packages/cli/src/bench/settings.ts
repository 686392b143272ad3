// Quick (CI-sized) and full settings of the benchmark suite.
const MiB = 1 << 20;

export interface BenchSettings {
  mode: 'quick' | 'full';
  backend: string;
  python: boolean;
  allReduce: { worlds: number[]; sizesBytes: number[]; iterations: number; warmup: number };
  pointToPoint: { bytes: number; iterations: number };
  gloo: { iterations: number; warmup: number };
  /** each scaling round's runs: W=1, two W=1 at once (twice the steps), W=2 */
  train: { steps: number; warmup: number };
  /** rounds of W=1 / W=1 pair / W=2 for the scaling figure (the median round is judged) */
  scalingRounds: number;
  memorySteps: number;
  /**
   * The memory run lasts at least this long (steps = max(memorySteps, this / the W=2 step time of
   * the scaling rounds)): a worker's RSS ramps for its first ~100 s (V8's heap grows to its first
   * major GC) whatever the step time, so a verdict needs several of those periods, not a step count.
   */
  memoryMinSeconds: number;
  plain: { steps: number; warmup: number; gradSteps: number };
  /** also run the plain loop with the stock wasm matMul kernels (the before of the kernel change) */
  stockCompare: boolean;
  ddp: { worlds: number[]; steps: number; warmup: number };
  gemm: { reps: number };
  timeoutMs: number;
}

export function settingsFor(quick: boolean, overrides: { backend?: string; python?: boolean; memorySteps?: number; trainSteps?: number }): BenchSettings {
  const base: BenchSettings = quick
    ? {
        mode: 'quick',
        backend: 'wasm',
        python: true,
        allReduce: { worlds: [2], sizesBytes: [1 * MiB], iterations: 3, warmup: 1 },
        pointToPoint: { bytes: 4 * MiB, iterations: 3 },
        gloo: { iterations: 3, warmup: 1 },
        train: { steps: 6, warmup: 2 },
        scalingRounds: 1,
        memorySteps: 6,
        memoryMinSeconds: 0,
        plain: { steps: 4, warmup: 2, gradSteps: 2 },
        stockCompare: false,
        ddp: { worlds: [2], steps: 2, warmup: 1 },
        gemm: { reps: 5 },
        timeoutMs: 120_000,
      }
    : {
        mode: 'full',
        backend: 'wasm',
        python: true,
        allReduce: { worlds: [2, 4], sizesBytes: [1, 4, 16, 64].map((m) => m * MiB), iterations: 10, warmup: 2 },
        pointToPoint: { bytes: 16 * MiB, iterations: 20 },
        gloo: { iterations: 8, warmup: 2 },
        // The rounds measure the steady state. A W=2 step keeps shortening for ~1,000 steps
        // (29.5-29.8 ms over steps 90-450, 28.2 over 1,000-1,400; W=1 24.9 -> 24.4-24.6), while V8
        // is still compiling the step's functions (TurboFan: 470 ms of compiles in steps 0-250,
        // 130-160 ms in each later 250 up to step 1,000, about 50 after), on the rank's own core
        // when workers are pinned. The plain loop, the overhead's anchor, warms up as long.
        train: { steps: 1400, warmup: 1000 },
        scalingRounds: 3,
        // A worker's RSS ramps until V8's first major GC (about 100 s here, whether a step takes 30 ms
        // or 100 ms) and is flat after; a leak verdict needs several such periods (training.ts,
        // WorkerMemory), hence a floor in steps and one in seconds.
        memorySteps: 3000,
        memoryMinSeconds: 300,
        plain: { steps: 200, warmup: 1000, gradSteps: 10 },
        stockCompare: true,
        ddp: { worlds: [1, 2], steps: 20, warmup: 3 },
        gemm: { reps: 20 },
        timeoutMs: 1_800_000,
      };
  if (overrides.backend) base.backend = overrides.backend;
  if (overrides.python === false) base.python = false;
  // An explicit step count is taken as it is.
  if (overrides.memorySteps) {
    base.memorySteps = overrides.memorySteps;
    base.memoryMinSeconds = 0;
  }
  if (overrides.trainSteps) {
    base.train.steps = overrides.trainSteps;
    // At least half of a shorter run is measured.
    base.train.warmup = Math.min(base.train.warmup, Math.floor(overrides.trainSteps / 2));
  }
  return base;
}
