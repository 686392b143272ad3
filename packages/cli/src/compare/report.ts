import { cellText, type Comparison, type Row } from './analyze';
import type { RenderedChart } from './charts';

const SECTION_TITLES: Record<Row['section'], string> = {
  metrics: 'final validation metrics (summary.json)',
  run: 'run',
  target: 'time to target (first validation meeting it)',
};

function cell(row: Row, i: number): string {
  const v = cellText(row, i);
  const note = row.notes?.[i] ? ' †' : '';
  return row.best.includes(i) ? `${v}${note} *` : `${v}${note}`;
}

function rowLabel(row: Row): string {
  const dir = row.better ? (row.better === 'lower' ? ' ↓' : ' ↑') : '';
  return `${row.label}${row.unit ? ` (${row.unit})` : ''}${dir}`;
}

/** The terminal table: one column per run, best value of each ranked row marked with `*`. */
export function terminalTable(cmp: Comparison): string {
  const header = ['measure', ...cmp.runs.map((r) => r.label)];
  const sections: Array<{ title: string; rows: string[][] }> = [];
  for (const section of ['metrics', 'run', 'target'] as const) {
    const rows = cmp.rows.filter((r) => r.section === section);
    if (rows.length) sections.push({ title: SECTION_TITLES[section], rows: rows.map((r) => [rowLabel(r), ...cmp.runs.map((_, i) => cell(r, i))]) });
  }
  const status = ['status', ...cmp.runs.map((r) => r.status)];
  const all = [header, status, ...sections.flatMap((s) => s.rows)];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const fmt = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ').trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), fmt(status)];
  for (const s of sections) {
    out.push(`[${s.title}]`);
    for (const r of s.rows) out.push(fmt(r));
  }
  out.push('* best of the runs on that measure; ↓ lower is better, ↑ higher is better; n/a = not recorded by that run');
  if (cmp.rows.some((r) => r.notes?.some(Boolean))) out.push('† taken from the last validation in metrics.jsonl: the run has no final metrics in summary.json');
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A self-contained HTML report: inline SVG charts and styles, no scripts, no network. */
export function htmlReport(cmp: Comparison, charts: RenderedChart[], command: string): string {
  const th = cmp.runs.map((r) => `<th>${esc(r.label)}</th>`).join('');
  const body = (['metrics', 'run', 'target'] as const)
    .map((section) => {
      const rows = cmp.rows.filter((r) => r.section === section);
      if (!rows.length) return '';
      return (
        `<tr class="section"><th colspan="${cmp.runs.length + 1}">${esc(SECTION_TITLES[section])}</th></tr>` +
        rows
          .map((r) => {
            const tds = cmp.runs
              .map((_, i) => {
                const v = cellText(r, i);
                const note = r.notes?.[i] ? `<sup title="${esc(r.notes[i]!)}">†</sup>` : '';
                const cls = [r.best.includes(i) ? 'best' : '', r.values[i] === null ? 'na' : ''].filter(Boolean).join(' ');
                return `<td${cls ? ` class="${cls}"` : ''}>${esc(v)}${note}</td>`;
              })
              .join('');
            return `<tr><td class="measure">${esc(rowLabel(r))}</td>${tds}</tr>`;
          })
          .join('\n')
      );
    })
    .join('\n');
  const status = cmp.runs.map((r) => `<td${r.status === 'completed' ? '' : ' class="na"'}>${esc(r.status)}</td>`).join('');
  const runsList = cmp.runs
    .map(
      (r) =>
        `<li><b>${esc(r.label)}</b>: variant ${esc(r.variant)}, run id <code>${esc(r.runId)}</code>, status ${esc(r.status)}${r.error ? ` (${esc(r.error)})` : ''}, directory <code>${esc(r.dir)}</code></li>`,
    )
    .join('\n');
  const figures = charts
    .filter((c) => c.file !== 'overview.svg')
    .map((c) => `<figure id="${esc(c.file.replace(/\.svg$/, ''))}">\n${stripProlog(c.svg)}\n<figcaption>${esc(c.caption)} (<code>${esc(c.file)}</code>)</figcaption>\n</figure>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mtl compare: ${esc(cmp.runs.map((r) => r.label).join(' vs '))}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.25em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
td.measure, tr.section th { text-align: left; }
tr.section th { background: #f4f4f4; font-weight: 600; }
td.best { font-weight: 700; background: #e8f5e9; }
td.na { color: #999; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
code { font-size: 0.9em; }
</style>
</head>
<body>
<h1>mtl compare: ${esc(cmp.runs.map((r) => r.label).join(' vs '))}</h1>
<p>Generated ${esc(cmp.generatedAt)} by <code>${esc(command)}</code>. Every number below is read from the runs' <code>summary.json</code> and <code>metrics.jsonl</code>; a value a run did not record is shown as n/a.</p>
<h2>Which was better</h2>
<ul>
${cmp.verdicts.map((v) => `<li>${esc(v)}</li>`).join('\n')}
</ul>
<h2>Setup</h2>
<ul>
${cmp.setup.map((s) => `<li>${esc(s)}</li>`).join('\n')}
</ul>
<h2>Runs</h2>
<ul>
${runsList}
</ul>
<h2>Table</h2>
<table>
<thead><tr><th class="measure">measure</th>${th}</tr></thead>
<tbody>
<tr><td class="measure">status</td>${status}</tr>
${body}
</tbody>
</table>
<p>Bold: best of the runs on that measure (↓ lower is better, ↑ higher is better). Unmarked rows are not ranked.</p>
<h2>Charts</h2>
${figures}
</body>
</html>
`;
}

function stripProlog(svg: string): string {
  return svg.replace(/^<\?xml[^>]*\?>\s*/, '');
}
