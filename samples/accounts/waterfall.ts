import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DemoSpan } from './trace-collector.js';

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Depth of each span under its parents (spans whose parent is missing start at 0). */
function depths(spans: DemoSpan[]): Map<string, number> {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const depth = new Map<string, number>();
  const of = (span: DemoSpan): number => {
    if (depth.has(span.spanId)) return depth.get(span.spanId)!;
    const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
    const value = parent ? of(parent) + 1 : 0;
    depth.set(span.spanId, value);
    return value;
  };
  spans.forEach(of);
  return depth;
}

/**
 * A waterfall of one trace's spans as PNG (and SVG beside it): one row per span in start order, indented by depth,
 * coloured by service, with its duration.
 */
export function writeWaterfall(spans: DemoSpan[], file: string, title: string): void {
  const start = Math.min(...spans.map((span) => span.startMs));
  const end = Math.max(...spans.map((span) => span.endMs));
  const total = Math.max(end - start, 1);
  const width = 1100;
  const left = 420;
  const barArea = width - left - 90;
  const rowHeight = 24;
  const services = [...new Set(spans.map((span) => span.service))];
  const depth = depths(spans);
  const rows = spans.map((span, index) => {
    const y = 70 + index * rowHeight;
    const x = left + ((span.startMs - start) / total) * barArea;
    const w = Math.max(((span.endMs - span.startMs) / total) * barArea, 2);
    const color = COLORS[services.indexOf(span.service) % COLORS.length]!;
    const label = `${'  '.repeat(depth.get(span.spanId) ?? 0)}${span.service}: ${span.name}`;
    return [
      `<text x="10" y="${y + 15}" font-size="12" xml:space="preserve">${escape(label)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${color}"/>`,
      `<text x="${(x + w + 5).toFixed(1)}" y="${y + 15}" font-size="11" fill="#333">${(span.endMs - span.startMs).toFixed(1)} ms</text>`,
    ].join('\n');
  });
  const height = 90 + spans.length * rowHeight;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="26" font-size="16" font-weight="bold">${escape(title)}</text>
<text x="10" y="46" font-size="11" fill="#555">${spans.length} spans, ${total.toFixed(1)} ms from the first start to the last end; one colour per service: ${escape(services.join(', '))}</text>
${rows.join('\n')}
</svg>`;
  writeFileSync(file.replace(/\.png$/, '.svg'), svg);
  const { Resvg } = createRequire(import.meta.url)('@resvg/resvg-js') as { Resvg: new (svg: string, options: object) => { render(): { asPng(): Buffer } } };
  writeFileSync(file, new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
}
