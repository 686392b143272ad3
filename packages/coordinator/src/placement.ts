/** Where the parallel variant trains each task: disjoint groups of ranks, every rank in exactly one. */

export class PlacementError extends Error {
  override name = 'PlacementError';
}

export type Placement = Record<string, number[]>;

/**
 * Default: round-robin (rank r trains task r mod T), so groups differ in size by at most one.
 * An explicit map is checked for unknown tasks, tasks left without a group, ranks out of range, and
 * ranks in two groups or in none.
 */
export function placeTasks(tasks: string[], world: number, explicit?: Placement): Placement {
  if (world < tasks.length) {
    throw new PlacementError(`the parallel variant needs at least one worker per task: ${tasks.length} tasks (${tasks.join(', ')}) but ${world} worker(s)`);
  }
  if (!explicit) {
    const placement: Placement = Object.fromEntries(tasks.map((t) => [t, [] as number[]]));
    for (let r = 0; r < world; r++) placement[tasks[r % tasks.length]!]!.push(r);
    return placement;
  }
  const owner = new Map<number, string>();
  for (const [task, ranks] of Object.entries(explicit)) {
    if (!tasks.includes(task)) throw new PlacementError(`placement names task ${task}, which is not one of the run's tasks (${tasks.join(', ')})`);
    if (ranks.length === 0) throw new PlacementError(`placement gives task ${task} an empty group`);
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= world) throw new PlacementError(`placement.${task}: rank ${r} is outside the world of ${world} (ranks 0..${world - 1})`);
      const prev = owner.get(r);
      if (prev !== undefined) throw new PlacementError(`placement: rank ${r} is in the groups of both ${prev} and ${task}; groups must be disjoint`);
      owner.set(r, task);
    }
  }
  for (const t of tasks) if (!explicit[t]) throw new PlacementError(`placement leaves task ${t} without a group`);
  for (let r = 0; r < world; r++) if (!owner.has(r)) throw new PlacementError(`placement leaves rank ${r} in no task's group; every worker must train one task`);
  return Object.fromEntries(tasks.map((t) => [t, [...explicit[t]!].sort((a, b) => a - b)]));
}

export function describePlacement(p: Placement): string {
  return Object.entries(p)
    .map(([t, ranks]) => `${t}=[${ranks.join(',')}]`)
    .join(' ');
}
