export { runWorker, type WorkerOptions, type WorkerExit } from './worker';
export { ControlClient } from './control-client';
export { datasetsFor } from './datasets';
export { DistributedTrainer, type StepReport, type TrainerHooks, type TrainerInfo } from './training/distributed-trainer';
export { verifyReplicas, ReplicaDivergenceError } from './training/checksum';
export { evaluate } from './training/evaluate';
export { allReduceFloat64 } from './training/reduce64';
