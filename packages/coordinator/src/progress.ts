/** Terminal renderings of a run's progress and result. */

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatMetric(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3);
  return v.toFixed(4);
}

/** Samples/s over a sliding window of recent steps, so the figure reacts to slowdowns. */
export class ThroughputMeter {
  private readonly points: Array<{ t: number; samples: number }> = [];
  private total = 0;

  constructor(private readonly windowMs = 5000) {}

  add(samples: number, t = Date.now()): void {
    this.total += samples;
    this.points.push({ t, samples: this.total });
    while (this.points.length > 2 && t - this.points[0]!.t > this.windowMs) this.points.shift();
  }

  rate(): number {
    if (this.points.length < 2) return 0;
    const a = this.points[0]!;
    const b = this.points[this.points.length - 1]!;
    return b.t > a.t ? ((b.samples - a.samples) * 1000) / (b.t - a.t) : 0;
  }
}

/** A plain text table: first row is the header. */
export function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}

/** Final per-task table: one row a task, one column a metric (union over tasks). */
export function metricTable(metrics: Record<string, Record<string, number>>, trainLoss?: Record<string, number>): string {
  const tasks = Object.keys(metrics);
  const names = [...new Set(tasks.flatMap((t) => Object.keys(metrics[t]!)))];
  const header = ['task', ...(trainLoss ? ['train loss'] : []), ...names.map((n) => `val ${n}`)];
  const rows = tasks.map((t) => [
    t,
    ...(trainLoss ? [trainLoss[t] !== undefined ? formatMetric(trainLoss[t]!) : '-'] : []),
    ...names.map((n) => (metrics[t]![n] !== undefined ? formatMetric(metrics[t]![n]!) : '-')),
  ]);
  return renderTable([header, ...rows]);
}
