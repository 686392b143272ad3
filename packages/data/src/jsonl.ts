import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DatasetBuilder } from './assemble';
import { numClasses, parseLabelJson, validateTasks } from './task';
import { DataError, type Dataset, type TaskSpec } from './types';

/**
 * JSON Lines: one object per line, {"x": [..numbers..], "<task>": value | null, ...}.
 * A task field that is absent or null masks that label. inputDim comes from the first
 * record; every error names file:line and the field.
 */
export function loadJsonl(path: string, opts: { tasks: TaskSpec[]; featuresField?: string }): Dataset {
  validateTasks(opts.tasks);
  const field = opts.featuresField ?? 'x';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`${path}: cannot read: ${(e as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const classes = opts.tasks.map(numClasses);
  const lines = text.split(/\r?\n/);
  let builder: DatasetBuilder | undefined;
  let dim = -1;

  for (let li = 0; li < lines.length; li++) {
    const src = lines[li]!;
    if (src.trim() === '') continue;
    const line = li + 1;
    const fail = (what: string) => (msg: string): never => {
      throw new DataError(`${path}:${line}: ${what}: ${msg}`);
    };
    let rec: unknown;
    try {
      rec = JSON.parse(src);
    } catch (e) {
      throw new DataError(`${path}:${line}: invalid JSON: ${(e as Error).message}`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) fail('record')('expected a JSON object');
    const obj = rec as Record<string, unknown>;
    const x = obj[field];
    if (!Array.isArray(x)) fail(`field "${field}"`)(x === undefined ? 'missing' : 'expected an array of numbers');
    const xs = x as unknown[];
    if (dim < 0) {
      if (xs.length === 0) fail(`field "${field}"`)('empty feature array');
      dim = xs.length;
      builder = new DatasetBuilder(basename(path), dim, opts.tasks);
    } else if (xs.length !== dim) {
      fail(`field "${field}"`)(`expected ${dim} numbers (as on the first record), got ${xs.length}`);
    }
    xs.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`field "${field}"[${j}]`)(`not a finite number: ${JSON.stringify(v)}`);
    });
    const labels = opts.tasks.map((t, k) => parseLabelJson(obj[t.name], classes[k]!, fail(`field "${t.name}"`)));
    builder!.add(xs as number[], labels);
  }
  if (!builder) throw new DataError(`${path}: no records`);
  return builder.build();
}
