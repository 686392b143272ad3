import type { ProcessGroup } from '@mtl/collective';
import { stepsPerEpoch } from '@mtl/data';
import type { RunConfig } from '@mtl/protocol';
import { datasetsFor, taskDatasetFor } from '../datasets';
import { DistributedTrainer } from './distributed-trainer';
import { ParallelTrainer } from './parallel-trainer';
import type { Trainer } from './trainer';

/** Build this rank's trainer for the run's variant (collective: every rank calls it). */
export async function createTrainer(group: ProcessGroup, run: RunConfig, placement?: Record<string, number[]>): Promise<Trainer> {
  if (run.variant === 'distributed') {
    const { train, val } = datasetsFor(run);
    return new DistributedTrainer(group, run, train, val);
  }
  if (!placement) throw new Error('a parallel run needs a placement from the coordinator');
  const task = run.tasks.find((t) => placement[t.name]?.includes(group.rank));
  if (!task) throw new Error(`placement gives rank ${group.rank} no task`);
  const { train, val } = taskDatasetFor(run, task.name);
  // Every rank needs every task's epoch length; each knows its own, an all-gather tells the rest.
  const T = run.tasks.length;
  const mine = new Float32Array(T);
  mine[run.tasks.indexOf(task)] = stepsPerEpoch(train.size, task.batchSize ?? run.batchSize, run.dropLast);
  const all = await group.allGather(mine);
  const perTask: Record<string, number> = {};
  run.tasks.forEach((t, k) => {
    let m = 0;
    for (let r = 0; r < group.world; r++) m = Math.max(m, all[r * T + k]!);
    perTask[t.name] = m;
  });
  return new ParallelTrainer(group, run, placement, train, val, perTask);
}
