import pino, { type Logger } from 'pino';

/**
 * Every process logs structured pino records. `json` writes them as they are (for log shippers and for
 * the local launcher, which re-renders its children's lines); `pretty` renders one readable line each.
 */
export type LogFormat = 'pretty' | 'json';
export type { Logger };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v']);

function renderValue(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(5);
  return JSON.stringify(v);
}

/** Render one pino JSON line for a terminal; lines that are not JSON pass through unchanged. */
export function formatLogLine(line: string, prefix = ''): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line);
  } catch {
    return prefix + line;
  }
  if (typeof rec !== 'object' || rec === null || typeof rec.level !== 'number') return prefix + line;
  const time = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 23);
  const level = LEVELS[rec.level as number] ?? String(rec.level);
  const extras = Object.entries(rec)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => (k === 'err' && v && typeof v === 'object' ? `err=${renderValue((v as { message?: unknown }).message)}` : `${k}=${renderValue(v)}`));
  const name = prefix ? '' : rec.name ? `[${String(rec.name)}] ` : '';
  return `${time} ${level.padEnd(5)} ${prefix}${name}${String(rec.msg ?? '')}${extras.length ? '  ' + extras.join(' ') : ''}`;
}

export function createLogger(opts: { name: string; format?: LogFormat; level?: string }): Logger {
  const level = opts.level ?? process.env.MTL_LOG_LEVEL ?? 'info';
  if ((opts.format ?? 'pretty') === 'json') {
    return pino({ name: opts.name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  }
  const stream = {
    write(line: string) {
      process.stderr.write(formatLogLine(line.trimEnd()) + '\n');
    },
  };
  return pino({ name: opts.name, level, base: undefined }, stream);
}
