import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DatasetBuilder } from './assemble';
import { numClasses, parseLabelCell, parseNumberCell, validateTasks } from './task';
import { DataError, type Dataset, type TaskSpec } from './types';

interface CsvRecord {
  line: number; // 1-based line where the record starts
  cells: string[];
}

/**
 * RFC 4180 reader: comma-separated, "quoted" fields with "" escapes and embedded newlines,
 * LF / CRLF / CR line ends. Blank lines are skipped. Line numbers count physical lines so
 * errors point at what an editor shows.
 */
export function parseCsv(text: string, file: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // BOM
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const cells: string[] = [];
    let endOfRecord = false;
    while (!endOfRecord) {
      let cell = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new DataError(`${file}:${start}: unterminated quoted field`);
          const ch = text[i]!;
          if (ch === '"') {
            if (text[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (ch === '\n' || (ch === '\r' && text[i + 1] !== '\n')) line++;
          cell += ch;
          i++;
        }
        const next = text[i];
        if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
          throw new DataError(`${file}:${line}: unexpected character after closing quote in column ${cells.length + 1}`);
        }
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\n' && text[j] !== '\r') j++;
        cell = text.slice(i, j);
        i = j;
      }
      cells.push(cell);
      const ch = text[i];
      if (ch === ',') {
        i++;
      } else {
        // newline or end of input ends the record
        if (ch === '\r') i += text[i + 1] === '\n' ? 2 : 1;
        else if (ch === '\n') i++;
        if (ch !== undefined) line++;
        endOfRecord = true;
      }
    }
    if (!(cells.length === 1 && cells[0]!.trim() === '')) out.push({ line: start, cells });
  }
  return out;
}

/**
 * CSV with a header row. Label column of a task defaults to the task name; features default
 * to every non-label column, in file order. An empty/missing label cell (or NA, NaN, null,
 * None) masks that label; any other bad cell throws a DataError naming file:line and column.
 * With `labelsOptional` (data to predict on) a task's label column may be absent: every label
 * of that task is then masked.
 */
export function loadCsv(
  path: string,
  opts: { tasks: TaskSpec[]; labelColumns?: Record<string, string>; featureColumns?: string[]; labelsOptional?: boolean },
): Dataset {
  validateTasks(opts.tasks);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`${path}: cannot read: ${(e as Error).message}`);
  }
  const records = parseCsv(text, path);
  const header = records[0];
  if (!header) throw new DataError(`${path}: empty file (a header row is required)`);
  const names = header.cells.map((c) => c.trim());
  const colOf = new Map<string, number>();
  names.forEach((name, k) => {
    if (colOf.has(name)) throw new DataError(`${path}:${header.line}: duplicate column "${name}"`);
    colOf.set(name, k);
  });
  const find = (name: string, what: string): number => {
    const k = colOf.get(name);
    if (k === undefined) throw new DataError(`${path}:${header.line}: no column "${name}" (${what}) in header`);
    return k;
  };

  const labelCols = opts.tasks.map((t) => {
    const name = opts.labelColumns?.[t.name] ?? t.name;
    return opts.labelsOptional && !colOf.has(name) ? -1 : find(name, `label of task "${t.name}"`);
  });
  const taken = new Set(labelCols);
  const featureCols = opts.featureColumns
    ? opts.featureColumns.map((c) => find(c, 'feature'))
    : names.map((_, k) => k).filter((k) => !taken.has(k));
  if (featureCols.length === 0) throw new DataError(`${path}: no feature columns`);
  const classes = opts.tasks.map(numClasses);

  const builder = new DatasetBuilder(basename(path), featureCols.length, opts.tasks);
  const x = new Float64Array(featureCols.length);
  for (let r = 1; r < records.length; r++) {
    const { line, cells } = records[r]!;
    if (cells.length > names.length) {
      throw new DataError(`${path}:${line}: ${cells.length} cells but the header has ${names.length} columns`);
    }
    const failAt = (k: number) => (msg: string): never => {
      throw new DataError(`${path}:${line}: column "${names[k]}" (${k + 1}): ${msg}`);
    };
    featureCols.forEach((k, j) => {
      const cell = cells[k];
      if (cell === undefined) failAt(k)('missing cell');
      x[j] = parseNumberCell(cell, failAt(k));
    });
    const labels = labelCols.map((k, t) => (k < 0 ? null : parseLabelCell(cells[k] ?? '', classes[t]!, failAt(k))));
    builder.add(x, labels);
  }
  return builder.build();
}
