import { z } from 'zod';
import { runConfigSchema } from './run-config';

/**
 * Control-plane messages (coordinator <-> worker). Every message carries the protocol version `v`
 * and a `type`; decoding validates against these schemas before any field is used.
 */

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected binary bytes');
const finite = z.number().finite();
const rank = z.number().int().nonnegative();
const perTask = z.record(z.string(), finite);

/** A worker's Unix socket for peers of its host: the host key (kernel and network namespace) and the abstract socket's name. */
const localEndpoint = z.strictObject({ hostKey: z.string().min(1).max(256), socket: z.string().min(1).max(107) });
const peer = z.strictObject({ rank, host: z.string().min(1), port: z.number().int().min(1).max(65535), local: localEndpoint.optional() });

export const messageSchemas = {
  /** coordinator -> worker, first message on every connection. */
  challenge: z.object({ nonce: bytes, coordinator: z.string() }),
  /** worker -> coordinator: proof of the shared secret and what the worker offers. */
  hello: z.object({
    proof: bytes,
    name: z.string().min(1).max(128),
    host: z.string().min(1),
    dataPort: z.number().int().min(1).max(65535),
    /** Absent: the worker takes peer links over TCP only. */
    local: localEndpoint.optional(),
    pid: z.number().int(),
    rankHint: rank.optional(),
  }),
  /** coordinator -> worker: refused (bad proof, version, run full). */
  reject: z.object({ reason: z.string() }),
  /** coordinator -> worker: admitted, waiting for the rest of the world. */
  welcome: z.object({ workerId: z.string(), joined: z.number().int(), expected: z.number().int() }),
  /** coordinator -> worker: rank, peers and the run to train. */
  assign: z.object({
    rank,
    world: z.number().int().positive(),
    peers: z.array(peer),
    run: runConfigSchema,
    startStep: z.number().int().nonnegative(),
    /** How many times the ring was re-formed before this assignment (0: the first ring); part of the peer handshake, so a peer of an older ring cannot join. */
    generation: z.number().int().nonnegative().optional(),
    /** Parallel variant: task -> ranks of its group. */
    placement: z.record(z.string(), z.array(rank)).optional(),
    /** Resuming: the checkpoint's parameters and optimizer state; training continues at startStep. */
    resume: z
      .object({
        params: bytes,
        optimizer: z.object({ stepCount: z.number().int().nonnegative(), buffers: z.array(bytes) }),
        /** Stateful aggregators (DWA): the global per-task losses of every step before startStep, from metrics.jsonl, in step order. */
        stepLosses: z.array(z.record(z.string(), z.number())).optional(),
        /** The aggregator's own state at the checkpoint, where it keeps one (GradNorm's weights, GradVac's cosine targets). */
        aggregator: z.array(finite).optional(),
      })
      .optional(),
  }),
  /** worker -> coordinator: ring formed, parameters broadcast, ready to step. */
  ready: z.object({
    rank,
    backend: z.string(),
    /** How matrix products run (e.g. the native GEMM or wasm XNNPACK); informational. */
    kernels: z.string().optional(),
    /** The CPUs the worker is pinned to, in the kernel's list notation ("0", "2-3"); absent: not pinned. */
    cpus: z.string().max(256).optional(),
    /** How this rank's links to its peers are carried: TCP, or a Unix socket to peers of its host. */
    links: z.object({ tcp: z.number().int().nonnegative(), unix: z.number().int().nonnegative() }).optional(),
    numParams: z.number().int().nonnegative(),
    tensors: z.number().int(),
    inputDim: z.number().int().positive(),
    trainSize: z.number().int().nonnegative(),
    valSize: z.number().int().nonnegative(),
    stepsPerEpoch: z.number().int().nonnegative(),
    totalSteps: z.number().int().nonnegative(),
    flopsPerExample: z.number().nonnegative(),
    /** Per task this rank trains: its data sizes and steps per epoch of that task. */
    tasks: z.record(z.string(), z.object({ trainSize: z.number().int(), valSize: z.number().int(), stepsPerEpoch: z.number().int() })),
  }),
  /** coordinator -> worker: everyone is ready. */
  start: z.object({ t: finite }),
  /** worker -> coordinator: one finished step (rank 0's losses are the global means). */
  step: z.object({
    rank,
    step: z.number().int().nonnegative(),
    epoch: z.number().int().nonnegative(),
    /** Global mean loss of each task this rank can state (all tasks in distributed, its own in parallel). */
    losses: perTask,
    counts: perTask,
    samples: z.number().int().nonnegative(),
    computeMs: finite,
    commMs: finite,
    updateMs: finite,
    bytesSent: finite,
    tensors: z.number().int(),
    /** The weight each task's gradient got (aggregators that learn or compute them: all but equal and static). */
    taskWeights: perTask.optional(),
  }),
  /** worker (rank 0) -> coordinator: validation metrics over the whole validation set. */
  eval: z.object({ step: z.number().int().nonnegative(), epoch: z.number().int().nonnegative(), metrics: z.record(z.string(), perTask) }),
  /** worker (rank 0) -> coordinator: parameters (and optimizer state) for a checkpoint or the final model. */
  params: z.object({
    step: z.number().int().nonnegative(),
    reason: z.enum(['checkpoint', 'final']),
    params: bytes,
    checksum: z.string(),
    optimizer: z.object({ stepCount: z.number().int().nonnegative(), buffers: z.array(bytes) }),
    /** The aggregator's own state, where it keeps one (GradNorm's weights, GradVac's cosine targets), kept with the checkpoint. */
    aggregator: z.array(finite).optional(),
  }),
  /** worker -> coordinator: finished all steps. */
  done: z.object({ rank, step: z.number().int().nonnegative(), checksum: z.string() }),
  /** worker -> coordinator: this worker failed. */
  failed: z.object({ rank: rank.optional(), error: z.string() }),
  /** either direction: liveness. */
  heartbeat: z.object({ t: finite }),
  /**
   * either direction: one part of a message larger than a control frame (fragments.ts): the
   * encoded message's bytes [index * part, ...), parts of one message consecutive on the connection.
   */
  fragment: z.object({
    id: z.number().int().nonnegative(),
    index: z.number().int().nonnegative(),
    count: z.number().int().min(2),
    total: z.number().int().positive(),
    data: bytes,
  }),
  /** coordinator -> worker: stop now, the run failed or was cancelled. */
  abort: z.object({
    reason: z.string(),
    /** The run goes on: the ring is re-formed without a lost worker; stop, report, and wait for a new assignment. */
    reform: z.boolean().optional(),
  }),
  /** coordinator -> worker: the run is over, exit. */
  shutdown: z.object({ status: z.enum(['completed', 'failed', 'aborted']) }),
} as const;

export type MessageType = keyof typeof messageSchemas;
export type ControlMessage = { [T in MessageType]: { type: T } & z.infer<(typeof messageSchemas)[T]> }[MessageType];
/** The message(s) of the given type(s); distributes over unions so `MessageOf<'a' | 'b'>` narrows on `type`. */
export type MessageOf<T extends MessageType> = Extract<ControlMessage, { type: T }>;
export type PeerInfo = z.infer<typeof peer>;
