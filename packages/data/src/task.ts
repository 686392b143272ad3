import { DataError, type TaskSpec } from './types';

// Number of classes for a task: 0 for regression, 2 for binary, K for multiclass:K.
// Validated once here so the sources and the generator agree on what a task type means.
export function numClasses(task: TaskSpec): number {
  if (task.type === 'regression') return 0;
  if (task.type === 'binary') return 2;
  const m = /^multiclass:(\d+)$/.exec(task.type);
  if (m) {
    const k = Number(m[1]);
    if (k >= 2) return k;
  }
  throw new DataError(`task "${task.name}": invalid type "${String(task.type)}" (expected regression, binary or multiclass:K with K >= 2)`);
}

export function validateTasks(tasks: TaskSpec[]): void {
  if (!Array.isArray(tasks) || tasks.length === 0) throw new DataError('at least one task is required');
  const seen = new Set<string>();
  for (const t of tasks) {
    if (typeof t.name !== 'string' || t.name === '') throw new DataError('task name must be a non-empty string');
    if (seen.has(t.name)) throw new DataError(`duplicate task name "${t.name}"`);
    seen.add(t.name);
    numClasses(t);
  }
}

/**
 * Checks a label value against the task type. Returns an error message, or null if fine.
 * Binary accepts 0/1 (and booleans, which JSON sources produce naturally).
 */
export function labelProblem(value: number, classes: number): string | null {
  if (!Number.isFinite(value)) return 'not a finite number';
  if (classes === 0) return null;
  if (!Number.isInteger(value) || value < 0 || value >= classes) {
    return classes === 2 ? 'binary label must be 0 or 1' : `class index must be an integer in [0, ${classes - 1}]`;
  }
  return null;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// Spellings that common writers (pandas, R, Python) use for "no value"; only labels may be missing.
const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none']);

/** Strict decimal number from a text cell (no hex, no Infinity, no empty = 0 like Number()). */
export function parseNumberCell(cell: string, fail: (msg: string) => never): number {
  const s = cell.trim();
  if (s === '') fail('empty cell');
  if (!DECIMAL.test(s)) fail(`"${cell}" is not a number`);
  const v = Number(s);
  if (!Number.isFinite(v)) fail(`"${cell}" is not a finite number`);
  return v;
}

/** Label from a text cell: null when missing; binary also accepts true/false. */
export function parseLabelCell(cell: string, classes: number, fail: (msg: string) => never): number | null {
  const s = cell.trim();
  if (MISSING.has(s.toLowerCase())) return null;
  if (classes === 2 && /^(true|false)$/i.test(s)) return s.toLowerCase() === 'true' ? 1 : 0;
  const v = parseNumberCell(s, fail);
  const problem = labelProblem(v, classes);
  if (problem) fail(`${problem}, got "${cell}"`);
  return v;
}

/** Label from a JSON value: null/undefined when missing; binary also accepts booleans. */
export function parseLabelJson(value: unknown, classes: number, fail: (msg: string) => never): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' && classes === 2) return value ? 1 : 0;
  if (typeof value !== 'number') fail(`expected a number or null, got ${JSON.stringify(value)}`);
  const problem = labelProblem(value, classes);
  if (problem) fail(`${problem}, got ${JSON.stringify(value)}`);
  return value;
}
