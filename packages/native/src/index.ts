/**
 * Loader for the optional native addon (`dist/native/mtl_native.node`), built from
 * `src/native/*.cc` by `scripts/build-addon.js` with the system C++ compiler. Every caller
 * must treat `null` from {@link loadNative} as "use the JS / wasm kernels".
 *
 * Set `MTL_NATIVE=0` to disable the addon (both at build time and at load time), and
 * `MTL_SGEMM_ISA` (e.g. `avx2`, `avx512-6x64`, `generic`) to pin the GEMM path instead of the
 * fastest one the CPU supports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The kernels the addon provides. All arrays are float32, row-major, and never retained. */
export interface NativeKernels {
  /**
   * C[m,n] = op(A)[m,k] @ op(B)[k,n] (+ bias[n] broadcast over rows) (then relu).
   * A is stored [m,k] ([k,m] when transA); B is stored [k,n] ([n,k] when transB).
   * C is overwritten. Lengths must match exactly (a: m*k, b: k*n, c: m*n, bias: n); a
   * mismatch throws an Error naming the argument. C must not overlap A, B or bias.
   * Deterministic: the bits of C depend only on the inputs and the shapes.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    bias?: Float32Array | null,
    relu?: boolean,
  ): void;
  /**
   * In-place Adam step (torch semantics, L2 weight decay added to the gradient), bit-identical
   * to the float64 JS loop that rounds to float32 on store. `t` is the 1-based step count.
   */
  adamUpdate(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    t: number,
  ): void;
  /**
   * In-place SGD step with optional (Nesterov) momentum, bit-identical to the float64 JS loop.
   * `buf` is the momentum buffer; it may be null (and is ignored) when momentum is 0.
   */
  sgdUpdate(
    p: Float32Array,
    g: Float32Array,
    buf: Float32Array | null,
    lr: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
  /**
   * dst[i] += src[i], one IEEE float32 add per element (the same bits as the JS loop
   * `dst[i] += src[i]` on a Float32Array and as WebAssembly f32x4.add). Equal lengths, else an
   * Error; dst and src must not partly overlap (the same array is allowed). Views at any offset.
   */
  addInto(dst: Float32Array, src: Float32Array): void;
  /**
   * Sets a SOL_SOCKET option on a socket file descriptor (Linux; e.g. a net.Socket's
   * `_handle.fd`): 'rcvlowat' (SO_RCVLOWAT), 'rcvbuf' (SO_RCVBUF), 'sndbuf' (SO_SNDBUF), int
   * value. Returns 0 on success, an errno on failure, -1 where the OS is not supported.
   */
  setSockOpt(fd: number, name: SockOptName, value: number): number;
  /** Reads such an option back (-1 when it cannot be read or on other OSes). */
  getSockOpt(fd: number, name: SockOptName): number;
  /**
   * Linux only (absent elsewhere): pins every thread of this process to the given CPU ids
   * (threads started later inherit it). Returns 0 or the errno of the first thread that could not
   * be set (EINVAL: an id outside the machine's or the cgroup's CPUs).
   */
  setProcessAffinity?(cpus: number[]): number;
  /**
   * Linux only (absent elsewhere): runs one ring all-reduce of `buf` in place on a libuv
   * worker thread, over two connected non-blocking sockets, speaking the collective's
   * WebSocket frame format (see src/native/ring.h). The descriptors are duplicated for the
   * op's lifetime; `buf` must not be touched until `done` runs. Returns an id for
   * {@link NativeKernels.ringCancel}.
   */
  ringAllReduce?(spec: RingSpec, buf: Float32Array, done: (r: RingResult) => void): number;
  /** Asks a running ring op to stop; it then calls back with status 'cancelled'. False if it already ended. */
  ringCancel?(id: number): boolean;
  /** Which GEMM path was dispatched at load time, e.g. "avx2+fma 6x16" or "generic". */
  readonly isa: string;
  /** Which addInto path was dispatched at load time: "avx" or "generic". */
  readonly addIsa: string;
}

/** What {@link NativeKernels.ringAllReduce} needs to know besides the buffer. */
export interface RingSpec {
  /** Socket the left neighbour's frames arrive on, and socket frames leave on to the right (may be the same). */
  prevFd: number;
  nextFd: number;
  /** Frames from the left carry a mask key (the left is the WebSocket client of that link). */
  prevMasked: boolean;
  /** Frames sent carry a zero mask key (this rank is the WebSocket client of that link). */
  nextMasked: boolean;
  /** Ring size and this rank's position. */
  n: number;
  i: number;
  chunkElems: number;
  /** Frame header fields: op kind, group id, sequence number. */
  kind: number;
  group: number;
  seq: number;
  /** Largest WebSocket payload accepted; bytes of other traffic kept aside at most. */
  maxFrame: number;
  maxRest: number;
  /**
   * Which other frames may be kept aside for JS: groups within `worldMask` (bit r per world
   * rank) that contain every bit of `pairMask` (this rank and the left neighbour).
   */
  worldMask: number;
  pairMask: number;
  /**
   * Frames of this op that arrived from the left before it began (the 32-byte frame header, then
   * the payload, back to back), applied first as if just received; validated like any other.
   */
  pre?: Buffer | null;
}

export type RingStatus = 'ok' | 'cancelled' | 'prev-closed' | 'prev-error' | 'next-error' | 'defect' | 'handback' | 'rest-overflow' | 'internal';
const RING_STATUS: RingStatus[] = ['ok', 'cancelled', 'prev-closed', 'prev-error', 'next-error', 'defect', 'handback', 'rest-overflow', 'internal'];

export interface RingResult {
  status: RingStatus;
  message: string;
  /** Bytes read from the left that were not this op's frames, in stream order (for the JS endpoint to parse). */
  rest: Buffer | null;
  framesSent: number;
  payloadSent: number;
  framesReceived: number;
  payloadReceived: number;
}

interface RawRingResult extends Omit<RingResult, 'status'> {
  status: number;
}

/** Socket options settable through {@link NativeKernels.setSockOpt}. */
export type SockOptName = 'rcvlowat' | 'rcvbuf' | 'sndbuf';
const SOCK_OPT: Record<SockOptName, number> = { rcvlowat: 0, rcvbuf: 1, sndbuf: 2 };

export interface NativeStatus {
  loaded: boolean;
  /** Why the addon is (not) loaded: "loaded", "disabled by MTL_NATIVE=0", "not built: …", "load error: …". */
  reason: string;
  path?: string;
  isa?: string;
}

/** The raw binding exported by addon.cc. Bump ABI_VERSION in both places on any change. */
interface RawBinding {
  abiVersion: number;
  isa: string;
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    bias: Float32Array | null | undefined,
    relu: boolean | undefined,
  ): void;
  adamUpdate(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    stepSize: number,
    invSqrtBc2: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
  ): void;
  sgdUpdate(
    p: Float32Array,
    g: Float32Array,
    buf: Float32Array | null | undefined,
    lr: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
  addInto(dst: Float32Array, src: Float32Array): void;
  addIsa: string;
  setSockOpt(fd: number, which: number, value: number): number;
  getSockOpt(fd: number, which: number): number;
  setProcessAffinity(cpus: Int32Array): number;
  ringAllReduce?(
    prevFd: number,
    nextFd: number,
    prevMasked: boolean,
    nextMasked: boolean,
    n: number,
    i: number,
    chunkElems: number,
    kind: number,
    group: number,
    seq: number,
    maxFrame: number,
    maxRest: number,
    buf: Float32Array,
    cb: (r: RawRingResult) => void,
    worldMask: number,
    pairMask: number,
    pre: Buffer | null,
  ): number;
  ringCancel?(id: number): boolean;
  _setIsa(name: string): string;
  _setAddIsa(name: string): string;
  _setBlocking(mc: number, kc: number, nc: number): void;
}

const ABI_VERSION = 5;
const ADDON_FILE = path.join('native', 'mtl_native.node');

let cached: { kernels: NativeKernels | null; status: NativeStatus } | undefined;

/** Where the addon may live: next to the compiled dist/index.js, or dist/ when run from src/. */
function candidatePaths(): string[] {
  return [path.join(__dirname, ADDON_FILE), path.join(__dirname, '..', 'dist', ADDON_FILE)];
}

function wrap(raw: RawBinding, isa: string): NativeKernels {
  const ring = process.platform === 'linux' && typeof raw.ringAllReduce === 'function' && typeof raw.ringCancel === 'function';
  return {
    ...(ring
      ? {
          ringAllReduce: (s: RingSpec, buf: Float32Array, done: (r: RingResult) => void) =>
            raw.ringAllReduce!(s.prevFd, s.nextFd, s.prevMasked, s.nextMasked, s.n, s.i, s.chunkElems, s.kind, s.group, s.seq, s.maxFrame, s.maxRest, buf, (r) =>
              done({ ...r, status: RING_STATUS[r.status] ?? 'internal' }),
            s.worldMask, s.pairMask, s.pre ?? null),
          ringCancel: (id: number) => raw.ringCancel!(id),
        }
      : {}),
    isa,
    addIsa: raw.addIsa,
    addInto: raw.addInto,
    setSockOpt: (fd, name, value) => raw.setSockOpt(fd, SOCK_OPT[name], value),
    getSockOpt: (fd, name) => raw.getSockOpt(fd, SOCK_OPT[name]),
    ...(process.platform === 'linux' && typeof raw.setProcessAffinity === 'function'
      ? { setProcessAffinity: (cpus: number[]) => raw.setProcessAffinity(Int32Array.from(cpus)) }
      : {}),
    sgemm: (transA, transB, m, n, k, a, b, c, bias, relu) =>
      raw.sgemm(transA, transB, m, n, k, a, b, c, bias ?? null, relu ?? false),
    adamUpdate: (p, g, m, v, lr, beta1, beta2, eps, weightDecay, t) => {
      // The scalars use V8's Math.pow so the element loop matches the JS reference bit for bit.
      const stepSize = lr / (1 - Math.pow(beta1, t));
      const invSqrtBc2 = 1 / Math.sqrt(1 - Math.pow(beta2, t));
      raw.adamUpdate(p, g, m, v, stepSize, invSqrtBc2, beta1, beta2, eps, weightDecay);
    },
    sgdUpdate: (p, g, buf, lr, momentum, weightDecay, nesterov) =>
      raw.sgdUpdate(p, g, buf, lr, momentum, weightDecay, nesterov),
  };
}

function load(): { kernels: NativeKernels | null; status: NativeStatus } {
  if (process.env.MTL_NATIVE === '0') {
    return { kernels: null, status: { loaded: false, reason: 'disabled by MTL_NATIVE=0' } };
  }
  const candidates = candidatePaths();
  const file = candidates.find((p) => fs.existsSync(p));
  if (file === undefined) {
    return {
      kernels: null,
      status: {
        loaded: false,
        reason: `not built: ${ADDON_FILE} missing (build @mtl/native with a C++ compiler on PATH)`,
      },
    };
  }
  let raw: RawBinding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    raw = require(file) as RawBinding;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { kernels: null, status: { loaded: false, reason: `load error: ${msg}`, path: file } };
  }
  if (raw.abiVersion !== ABI_VERSION) {
    return {
      kernels: null,
      status: {
        loaded: false,
        reason: `load error: stale build (addon ABI ${String(raw.abiVersion)}, loader expects ${ABI_VERSION}); rebuild @mtl/native`,
        path: file,
      },
    };
  }
  let isa = raw.isa;
  const wanted = process.env.MTL_SGEMM_ISA;
  if (wanted !== undefined && wanted !== '' && wanted !== 'auto') {
    // A named path is a request, not a hint: an unknown or unsupported one fails loudly.
    try {
      isa = raw._setIsa(wanted);
    } catch (e) {
      throw new Error(`MTL_SGEMM_ISA=${wanted}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { kernels: wrap(raw, isa), status: { loaded: true, reason: 'loaded', path: file, isa } };
}

/** The native kernels, or null when disabled / not built / not loadable (see {@link nativeStatus}). Cached. */
export function loadNative(): NativeKernels | null {
  cached ??= load();
  return cached.kernels;
}

/**
 * Tuning and test hooks of the loaded addon (null when not loaded): switch the GEMM path
 * ("auto", "generic", "avx2", "avx2-6x16", "avx2-4x24", "avx2-8x8", "avx512", "avx512-6x64",
 * "avx512-14x32", "avx512-8x48"; returns the active name,
 * throws when unsupported), the cache blocking (0 selects the default) and the addInto path
 * ("auto", "generic", "avx"; returns the active name). Process-wide.
 */
export function nativeInternals(): {
  setIsa(name: string): string;
  setBlocking(mc: number, kc: number, nc: number): void;
  setAddIsa(name: string): string;
} | null {
  cached ??= load();
  const file = cached.status.path;
  if (!cached.status.loaded || file === undefined) return null;
  const raw = require(file) as RawBinding;
  return { setIsa: (name) => raw._setIsa(name), setBlocking: (mc, kc, nc) => raw._setBlocking(mc, kc, nc),
    setAddIsa: (name) => raw._setAddIsa(name),
  };
}

/** Whether the addon is loaded and why not. Triggers the (cached) load. */
export function nativeStatus(): NativeStatus {
  cached ??= load();
  return { ...cached.status };
}

export { allowedCpus, formatCpuList, parseCpuList, pinProcess, type PinResult } from './affinity';
