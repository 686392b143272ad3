import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, loadCsv, loadJsonl, type TaskSpec } from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'mtl-data-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const file = (ext: string, text: string): string => {
  const p = join(dir, `f${counter++}.${ext}`);
  writeFileSync(p, text);
  return p;
};

const tasks: TaskSpec[] = [
  { name: 'price', type: 'regression' },
  { name: 'click', type: 'binary' },
  { name: 'kind', type: 'multiclass:3' },
];

/** Runs fn, expects a DataError, returns its message. */
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as Error).message;
  }
  throw new Error('expected a DataError');
};

describe('loadCsv', () => {
  it('reads features and labels; empty / missing label cells are masked', () => {
    const p = file(
      'csv',
      ['f1,price,f2,click,kind', '1.5,10,2,1,0', '-3,,4e1,0,2', '"0.25",7.5,1,true,', '', '2,1,3,0'].join('\r\n') + '\n',
    );
    const ds = loadCsv(p, { tasks });
    expect(ds.size).toBe(4);
    expect(ds.inputDim).toBe(2);
    expect(Array.from(ds.features)).toEqual([1.5, 2, -3, 40, 0.25, 1, 2, 3]);
    expect(Array.from(ds.labels.price!)).toEqual([10, 0, 7.5, 1]);
    expect(Array.from(ds.labels.click!)).toEqual([1, 0, 1, 0]);
    expect(Array.from(ds.labels.kind!)).toEqual([0, 2, 0, 0]);
    expect(Array.from(ds.mask!.price!)).toEqual([1, 0, 1, 1]);
    expect(Array.from(ds.mask!.click!)).toEqual([1, 1, 1, 1]);
    expect(Array.from(ds.mask!.kind!)).toEqual([1, 1, 0, 0]); // empty cell, then short row
  });

  it('honours labelColumns and featureColumns (and ignores other columns)', () => {
    const p = file('csv', 'id,a,b,y\nx1,1,2,5\nx2,3,4,6\n');
    const ds = loadCsv(p, { tasks: [{ name: 'target', type: 'regression' }], labelColumns: { target: 'y' }, featureColumns: ['b', 'a'] });
    expect(Array.from(ds.features)).toEqual([2, 1, 4, 3]);
    expect(Array.from(ds.labels.target!)).toEqual([5, 6]);
    expect(ds.mask).toBeUndefined();
  });

  it('with labelsOptional, a task whose label column is absent is masked throughout (data to predict on)', () => {
    const p = file('csv', 'f1,f2,click\n1,2,1\n3,4,\n');
    const ds = loadCsv(p, { tasks, labelsOptional: true });
    expect(ds.inputDim).toBe(2);
    expect(Array.from(ds.features)).toEqual([1, 2, 3, 4]);
    expect(Array.from(ds.mask!.price!)).toEqual([0, 0]);
    expect(Array.from(ds.mask!.click!)).toEqual([1, 0]);
    expect(Array.from(ds.mask!.kind!)).toEqual([0, 0]);
    // Without it the same file is refused, naming the missing column.
    expect(errorOf(() => loadCsv(p, { tasks }))).toMatch(/no column "price" \(label of task "price"\) in header/);
  });

  it('errors name file, line and column', () => {
    const p = file('csv', 'f1,f2,price,click,kind\n1,2,3,1,0\n1,abc,3,1,0\n');
    const msg = errorOf(() => loadCsv(p, { tasks }));
    expect(msg).toContain(`${p}:3`);
    expect(msg).toContain('column "f2"');
    expect(msg).toContain('abc');

    const bin = file('csv', 'f,price,click,kind\n1,2,1,0\n1,2,3,0\n');
    expect(errorOf(() => loadCsv(bin, { tasks }))).toMatch(new RegExp(`${escape(bin)}:3: column "click" \\(3\\): binary`));

    const cls = file('csv', 'f,price,click,kind\n1,2,1,1.5\n');
    expect(errorOf(() => loadCsv(cls, { tasks }))).toMatch(/:2: column "kind" \(4\): class index/);

    const emptyFeature = file('csv', 'f,price,click,kind\n,2,1,1\n');
    expect(errorOf(() => loadCsv(emptyFeature, { tasks }))).toMatch(/:2: column "f" \(1\): empty cell/);

    const tooMany = file('csv', 'f,price,click,kind\n1,2,1,1,9\n');
    expect(errorOf(() => loadCsv(tooMany, { tasks }))).toMatch(/:2: 5 cells but the header has 4 columns/);

    const noLabel = file('csv', 'f,price,click\n1,2,1\n');
    expect(errorOf(() => loadCsv(noLabel, { tasks }))).toMatch(/:1: no column "kind"/);

    // Line numbers count physical lines, including newlines inside quoted cells.
    const quoted = file('csv', 'note,f,price,click,kind\n"two\nlines",1,2,1,0\nok,1,2,1,x\n');
    expect(errorOf(() => loadCsv(quoted, { tasks, featureColumns: ['f'] }))).toMatch(/:4: column "kind"/);

    const unterminated = file('csv', 'f,price,click,kind\n"1,2,1,0\n');
    expect(errorOf(() => loadCsv(unterminated, { tasks }))).toMatch(/:2: unterminated quoted field/);

    expect(errorOf(() => loadCsv(join(dir, 'nope.csv'), { tasks }))).toMatch(/nope\.csv: cannot read/);
  });
});

describe('loadJsonl', () => {
  it('reads records; null or absent task fields are masked', () => {
    const p = file(
      'jsonl',
      [
        '{"x":[1,2],"price":3.5,"click":1,"kind":2}',
        '',
        '{"x":[0.5,-1],"price":null,"click":false}',
        '{"x":[4,5],"price":1,"click":true,"kind":0,"extra":"ignored"}',
      ].join('\n') + '\n',
    );
    const ds = loadJsonl(p, { tasks });
    expect(ds.size).toBe(3);
    expect(ds.inputDim).toBe(2);
    expect(Array.from(ds.features)).toEqual([1, 2, 0.5, -1, 4, 5]);
    expect(Array.from(ds.labels.price!)).toEqual([3.5, 0, 1]);
    expect(Array.from(ds.labels.click!)).toEqual([1, 0, 1]);
    expect(Array.from(ds.mask!.price!)).toEqual([1, 0, 1]);
    expect(Array.from(ds.mask!.kind!)).toEqual([1, 0, 1]);
  });

  it('supports another features field', () => {
    const p = file('jsonl', '{"feat":[1],"price":2}\n');
    const ds = loadJsonl(p, { tasks: [tasks[0]!], featuresField: 'feat' });
    expect(Array.from(ds.features)).toEqual([1]);
    expect(ds.mask).toBeUndefined();
  });

  it('errors name file, line and field', () => {
    const bad = (lines: string[]): string => errorOf(() => loadJsonl(file('jsonl', lines.join('\n')), { tasks }));
    const ok = '{"x":[1,2],"price":1,"click":0,"kind":1}';
    expect(bad([ok, '{"x":[1,2],"price":1,'])).toMatch(/\.jsonl:2: invalid JSON/);
    expect(bad([ok, '', '{"x":[1],"price":1}'])).toMatch(/\.jsonl:3: field "x": expected 2 numbers/);
    expect(bad([ok, '{"x":[1,"a"]}'])).toMatch(/\.jsonl:2: field "x"\[1\]: not a finite number/);
    expect(bad(['{"price":1}'])).toMatch(/\.jsonl:1: field "x": missing/);
    expect(bad([ok, '{"x":[1,2],"click":2}'])).toMatch(/\.jsonl:2: field "click": binary label must be 0 or 1/);
    expect(bad([ok, '{"x":[1,2],"kind":3}'])).toMatch(/\.jsonl:2: field "kind": class index/);
    expect(bad([ok, '{"x":[1,2],"price":"7"}'])).toMatch(/\.jsonl:2: field "price": expected a number or null/);
    expect(bad(['[1,2]'])).toMatch(/\.jsonl:1: record: expected a JSON object/);
    expect(bad(['', ''])).toMatch(/no records/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
