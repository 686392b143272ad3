import { z } from 'zod';

/**
 * The resolved run specification: what the coordinator writes to config.json and sends to every
 * worker in its assignment. Defaults live here so a run file, the flags and the wire agree.
 */

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

export const taskTypeSchema = z
  .string()
  .regex(/^(regression|binary|multiclass:([2-9]|[1-9][0-9]+))$/, 'must be regression, binary or multiclass:K with K >= 2') as unknown as z.ZodType<
  'regression' | 'binary' | `multiclass:${number}`
>;

/** Per-task data of the parallel variant: a synthetic set of its own size and seed, or a file. */
export const taskDataSchema = z.union([
  z.strictObject({ numExamples: z.number().int().positive().optional(), seed: z.number().int().nonnegative().optional() }),
  z.strictObject({ source: z.enum(['csv', 'jsonl']), path: z.string().min(1), featureColumns: z.array(z.string()).optional(), labelColumn: z.string().optional(), featuresField: z.string().optional() }),
]);

export const headOptimizerSchema = z.strictObject({
  name: z.enum(['sgd', 'adam']).optional(),
  lr: z.number().positive().optional(),
  momentum: z.number().min(0).lt(1).optional(),
  nesterov: z.boolean().optional(),
  beta1: z.number().min(0).lt(1).optional(),
  beta2: z.number().min(0).lt(1).optional(),
  eps: z.number().positive().optional(),
  weightDecay: z.number().nonnegative().optional(),
});

export const taskSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and use letters, digits or _ (at most 64)'),
  type: taskTypeSchema,
  /** Loss weight: used by the static aggregator, and always in the parallel variant. */
  weight: z.number().nonnegative().default(1),
  /** Parallel variant: this task's global batch per step (default: the run's batchSize). */
  batchSize: z.number().int().positive().optional(),
  /** Parallel variant: this task's head optimizer, overriding fields of the run's optimizer. */
  optimizer: headOptimizerSchema.optional(),
  /** Parallel variant: this task's own dataset. */
  data: taskDataSchema.optional(),
});

export const syntheticDataSchema = z.strictObject({
  source: z.literal('synthetic'),
  numExamples: positiveInt.default(8192),
  inputDim: positiveInt.default(16),
  correlation: z.number().min(-1).max(1).default(0.5),
  noise: z.number().nonnegative().default(0.1),
  numSinusoids: nonNegativeInt.default(5),
  missingRate: z.number().min(0).max(0.99).default(0),
  valFraction: z.number().gt(0).lt(1).default(0.2),
});

export const fileDataSchema = z.strictObject({
  source: z.enum(['csv', 'jsonl']),
  /** Path as seen by every worker (each host reads its own copy). */
  path: z.string().min(1),
  valFraction: z.number().gt(0).lt(1).default(0.2),
  featureColumns: z.array(z.string()).optional(),
  labelColumns: z.record(z.string(), z.string()).optional(),
  featuresField: z.string().optional(),
});

export const dataSchema = z.discriminatedUnion('source', [syntheticDataSchema, fileDataSchema]);

export const modelSchema = z.strictObject({
  trunk: z.array(positiveInt).min(1).default([64, 64]),
  head: z.array(positiveInt).default([]),
  activation: z.enum(['relu', 'tanh', 'sigmoid', 'elu', 'gelu', 'linear']).default('relu'),
  /**
   * hps: one shared trunk (hard parameter sharing); mmoe: `experts` trunks mixed by a softmax gate per task (Ma et al., KDD 2018);
   * cgc: shared and per-task experts mixed by a gate per task; ple: `levels` stacked CGC layers with shared gates between them (Tang et al., RecSys 2020);
   * dselect-k: `experts` trunks, per task a DSelect-k gate selecting `k` of them (Hazimeh et al., NeurIPS 2021);
   * cross-stitch: a column of the trunk widths per task, mixed by a cross-stitch unit after each hidden layer (Misra et al., CVPR 2016).
   */
  architecture: z.enum(['hps', 'mmoe', 'cgc', 'ple', 'dselect-k', 'cross-stitch']).default('hps'),
  /** mmoe, dselect-k: number of experts (dselect-k: a power of two); cgc, ple: number of shared experts (per level). Each a stack of the trunk widths. */
  experts: positiveInt.max(64).default(4),
  /** dselect-k: experts each task's gate selects (its selectors), at most `experts`. */
  k: positiveInt.max(64).default(2),
  /** dselect-k: width gamma of the smooth-step function that turns each selector's logits into bits. */
  gamma: z.number().positive().default(1),
  /** cgc, ple: number of experts of each task (per level), each a stack of the trunk widths. */
  taskExperts: positiveInt.max(64).default(1),
  /** ple: number of extraction levels (the last one is a CGC layer). */
  levels: positiveInt.max(16).default(2),
});

export const optimizerSchema = z.strictObject({
  name: z.enum(['sgd', 'adam']).default('adam'),
  lr: z.number().positive().default(0.003),
  momentum: z.number().min(0).lt(1).default(0.9),
  nesterov: z.boolean().default(false),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().nonnegative().default(0),
});

export const aggregatorSchema = z.discriminatedUnion('name', [
  z.strictObject({ name: z.literal('equal') }),
  z.strictObject({ name: z.literal('static'), weights: z.record(z.string(), z.number().nonnegative()).optional() }),
  /** Dynamic Weight Average (distributed variant): weights from the ratio of the last two epochs' mean losses. */
  z.strictObject({ name: z.literal('dwa'), temperature: z.number().positive().default(2) }),
  /** PCGrad gradient surgery (distributed variant): T per-task gradients all-reduced, conflicts projected away on the trunk. */
  z.strictObject({ name: z.literal('pcgrad') }),
  /** Uncertainty weighting (distributed variant): a learned log-scale per task, trained by the run's optimizer. */
  z.strictObject({ name: z.literal('uw') }),
  /** MGDA-UB min-norm weights (distributed variant): T per-task gradients all-reduced, the shared gradient of least norm in their hull. */
  z.strictObject({ name: z.literal('mgda') }),
  /** CAGrad (distributed variant): the mean gradient moved towards the worst-off task, within a ball of radius alpha |mean|. */
  z.strictObject({ name: z.literal('cagrad'), alpha: z.number().nonnegative().default(0.5) }),
  /** GradNorm (distributed variant): T per-task gradients all-reduced; task weights that balance their norms, learned at rate lr with asymmetry alpha. */
  z.strictObject({ name: z.literal('gradnorm'), alpha: z.number().nonnegative().default(1.5), lr: z.number().positive().default(0.025) }),
  /** Random loss weighting, RLW (distributed variant): T softmax of T normal draws per step, seeded by (seed, step). */
  z.strictObject({ name: z.literal('rlw') }),
  /** IMTL-G (distributed variant): T per-task gradients all-reduced; the trunk combination with equal projections on every task's unit gradient. */
  z.strictObject({ name: z.literal('imtl') }),
  /** Aligned-MTL (distributed variant): T per-task gradients all-reduced; their components aligned to equal norm and orthogonal (Gram eigendecomposition). */
  z.strictObject({ name: z.literal('aligned') }),
  /** GradVac (distributed variant): T per-task gradients all-reduced; pairwise cosines raised to targets tracked with rate beta (kept in checkpoints). */
  z.strictObject({ name: z.literal('gradvac'), beta: z.number().gt(0).max(1).default(0.5) }),
  /** Geometric loss strategy, GLS (distributed variant): T per-task gradients and losses all-reduced; the gradient of T (prod_t L_t)^(1/T), trunk and heads. */
  z.strictObject({ name: z.literal('gls') }),
  /** Nash-MTL (distributed variant): T per-task gradients all-reduced; the Nash bargaining weights, (G G^T) alpha = 1/alpha. */
  z.strictObject({ name: z.literal('nash') }),
  /** FairGrad (distributed variant): T per-task gradients all-reduced; alpha-fair weights, (G G^T) w = w^(-1/alpha) (alpha = 1: Nash-MTL; in [0.01, 10]). */
  z.strictObject({ name: z.literal('fairgrad'), alpha: z.number().min(0.01).max(10).default(1) }),
]);

export const backendSchema = z.enum(['auto', 'node-gpu', 'node', 'wasm', 'cpu']);

export const runConfigSchema = z.strictObject({
  runId: z.string().min(1).max(128),
  /** distributed: one multi-task dataset over all workers; parallel: each task its own data and worker group. */
  variant: z.enum(['distributed', 'parallel']).default('distributed'),
  /** Parallel variant: task -> ranks of its group (disjoint, every rank in exactly one). Default round-robin. */
  placement: z.record(z.string(), z.array(z.number().int().nonnegative()).min(1)).optional(),
  seed: nonNegativeInt.max(2 ** 32 - 1).default(42),
  /** Global optimisation steps. Either steps or epochs decides the length; epochs is converted by the coordinator. */
  steps: nonNegativeInt.default(300),
  /** When set, the run lasts this many epochs of the training set and `steps` is ignored. */
  epochs: positiveInt.optional(),
  /** Examples per step across all workers. The batch composition never depends on the world size. */
  batchSize: positiveInt.default(256),
  dropLast: z.boolean().default(true),
  backend: backendSchema.default('auto'),
  tasks: z.array(taskSchema).min(1).default([
    { name: 'task_a', type: 'regression', weight: 1 },
    { name: 'task_b', type: 'binary', weight: 1 },
  ]),
  data: dataSchema.prefault({ source: 'synthetic' }),
  model: modelSchema.prefault({}),
  optimizer: optimizerSchema.prefault({}),
  aggregator: aggregatorSchema.default({ name: 'equal' }),
  /** Compare a parameter checksum across ranks every K steps (and at the end). */
  checksumEvery: positiveInt.default(25),
  /** Evaluate on the validation set every K steps (0 = at each epoch end and at the end). */
  evalEvery: nonNegativeInt.default(0),
  /** Write a checkpoint every K steps (0 = only at the end). */
  checkpointEvery: nonNegativeInt.default(0),
  /** Seconds without a heartbeat before a worker counts as dead. */
  heartbeatTimeout: z.number().positive().default(15),
});

export type RunConfig = z.infer<typeof runConfigSchema>;
export type RunConfigInput = z.input<typeof runConfigSchema>;
export type TaskConfig = z.infer<typeof taskSchema>;

/** The model a run trains (structurally @mtl/mtl's ModelSpec): the same layout on every rank. */
export function modelSpecOf(config: RunConfig, inputDim: number) {
  return {
    inputDim,
    trunk: config.model.trunk,
    head: config.model.head,
    activation: config.model.activation,
    architecture: config.model.architecture,
    experts: config.model.experts,
    taskExperts: config.model.taskExperts,
    levels: config.model.levels,
    k: config.model.k,
    gamma: config.model.gamma,
    tasks: config.tasks.map((t) => ({ name: t.name, type: t.type })),
  };
}
