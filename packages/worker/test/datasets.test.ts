import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConfigSchema } from '@mtl/protocol';
import { datasetsFor } from '../src';

describe('datasets of a run', () => {
  it('builds the same synthetic split on every call (every worker agrees)', () => {
    const cfg = runConfigSchema.parse({ runId: 'r', data: { source: 'synthetic', numExamples: 500, valFraction: 0.2 } });
    const a = datasetsFor(cfg);
    const b = datasetsFor(cfg);
    expect(a.train.size).toBe(400);
    expect(a.val.size).toBe(100);
    expect(Array.from(a.train.features.subarray(0, 32))).toEqual(Array.from(b.train.features.subarray(0, 32)));
  });

  it('names the file and line of a bad CSV cell', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtl-ds-'));
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'x1,x2,y\n1,2,3\n4,oops,6\n');
    const cfg = runConfigSchema.parse({ runId: 'r', tasks: [{ name: 'y', type: 'regression' }], data: { source: 'csv', path: file } });
    expect(() => datasetsFor(cfg)).toThrow(/bad\.csv:3.*x2/);
  });
});
