import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Summary } from './stats.js';

export interface Row {
  section: string;
  name: string;
  /** The implementation: raw kafkajs, light (empty chain), light (full chain ...), java, in-process. */
  impl: string;
  unit: string;
  value: Summary;
  /** Records of `recordSize` bytes, to derive MB/s from records/s. */
  recordSize?: number;
  /** Same-run raw kafkajs figure this row is compared with (higher is better for throughput, lower for time). */
  baseline?: Summary;
  higherIsBetter: boolean;
  note?: string;
}

const fmt = (value: number): string => (value >= 1000 ? Math.round(value).toLocaleString('en-US') : value >= 10 ? value.toFixed(1) : value.toFixed(2));

export function ratioOf(row: Row): number | undefined {
  if (!row.baseline) return undefined;
  return row.higherIsBetter ? row.value.median / row.baseline.median : row.baseline.median / row.value.median;
}

export function markdownTable(rows: Row[]): string {
  const lines = ['| section | measurement | implementation | median | min - max | unit | MB/s | ratio to raw kafkajs |', '| --- | --- | --- | ---: | ---: | --- | ---: | ---: |'];
  for (const row of rows) {
    const ratio = ratioOf(row);
    const mb = row.recordSize && row.unit === 'records/s' ? fmt((row.value.median * row.recordSize) / 1e6) : '';
    lines.push(
      `| ${row.section} | ${row.name} | ${row.impl} | ${fmt(row.value.median)} | ${fmt(row.value.min)} - ${fmt(row.value.max)} | ${row.unit} | ${mb} | ${ratio === undefined ? '' : `${ratio.toFixed(2)}x`}${row.note ? ` ${row.note}` : ''} |`,
    );
  }
  return lines.join('\n');
}

const COLORS: Record<string, string> = {
  'raw kafkajs': '#4c78a8',
  'light, empty chain': '#59a14f',
  'light, full chain (unsampled)': '#f28e2b',
  'light, full chain (sampled)': '#e15759',
  'java client': '#9c755f',
  'hand-written (same concerns, raw kafkajs, unsampled)': '#76b7b2',
  'hand-written (same concerns, raw kafkajs, sampled)': '#b07aa1',
};

/** A horizontal bar chart of records/s by configuration (median, with min-max whiskers), as SVG rendered to PNG. */
export function throughputChart(rows: Row[], file: string, title: string): void {
  const bars = rows.filter((row) => row.unit === 'records/s' && row.section !== 'transactions');
  const left = 330;
  const width = 1000;
  const barHeight = 18;
  const gap = 6;
  const groups = [...new Set(bars.map((row) => row.name))];
  const max = Math.max(...bars.map((row) => row.value.max));
  const scale = (value: number): number => ((width - left - 150) * value) / max;
  let y = 60;
  const parts: string[] = [];
  for (const group of groups) {
    parts.push(`<text x="10" y="${y + 12}" font-size="13" font-weight="bold">${escape(group)}</text>`);
    y += 18;
    for (const row of bars.filter((candidate) => candidate.name === group)) {
      const color = COLORS[row.impl] ?? '#888';
      parts.push(`<text x="${left - 8}" y="${y + 13}" font-size="12" text-anchor="end">${escape(row.impl)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${scale(row.value.median).toFixed(1)}" height="${barHeight}" fill="${color}"/>`);
      parts.push(`<line x1="${left + scale(row.value.min)}" x2="${left + scale(row.value.max)}" y1="${y + barHeight / 2}" y2="${y + barHeight / 2}" stroke="#222" stroke-width="1.5"/>`);
      const ratio = ratioOf(row);
      parts.push(`<text x="${left + scale(row.value.max) + 6}" y="${y + 13}" font-size="11">${fmt(row.value.median)}/s${ratio === undefined ? '' : ` (${ratio.toFixed(2)}x)`}</text>`);
      y += barHeight + gap;
    }
    y += 10;
  }
  const height = y + 20;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="28" font-size="17" font-weight="bold">${escape(title)}</text>
<text x="10" y="46" font-size="11" fill="#555">records/s, median of the repetitions; whiskers min-max; ratio to raw kafkajs in the same run</text>
${parts.join('\n')}
</svg>`;
  writeFileSync(file.replace(/\.png$/, '.svg'), svg);
  const { Resvg } = createRequire(import.meta.url)('@resvg/resvg-js') as { Resvg: new (svg: string, options: object) => { render(): { asPng(): Buffer } } };
  writeFileSync(file, new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function writeResults(dir: string, json: object, table: string, name = 'latest'): void {
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(join(dir, `${name}.md`), table + '\n');
}
