import { ratioOf, type Row } from './report.js';

/** The issue 11 targets (and issue 12's streams target below), checked against one run's rows: the default transport (kafkajs) must meet them. */
const TARGETS: { label: string; name: string; impl: string; min?: number; maxMicros?: number }[] = [
  { label: 'consume, empty chain', name: 'consume 100 B', impl: 'light, empty chain', min: 0.9 },
  { label: 'consume, full chain (unsampled)', name: 'consume 100 B', impl: 'light, full chain (unsampled)', min: 0.5 },
  { label: 'produce 100 B in batches of 500, empty chain', name: 'produce 100 B, batches of 500', impl: 'light, empty chain', min: 0.95 },
  { label: 'produce 100 B in batches of 500, full chain (unsampled)', name: 'produce 100 B, batches of 500', impl: 'light, full chain (unsampled)', min: 0.6 },
  { label: 'transactions of 1,000 records, empty chain', name: 'transactions of 1000 records (100 B)', impl: 'light, empty chain', min: 0.8 },
  { label: 'in-process full consume chain', name: 'full consume chain', impl: 'in-process', maxMicros: 10 },
  { label: '5 ms I/O handler, 1 partition, 100 keys: key ordering (64) vs partition ordering', name: 'handler awaiting 5 ms of I/O', impl: 'light, ordering: key, maxConcurrency 64', min: 30 },
];

/** Where librdkafka stands on the same rows (no target of its own). */
const LIBRDKAFKA_ROWS: [string, string][] = [
  ['consume 100 B', 'librdkafka, empty chain'],
  ['consume 100 B', 'librdkafka, full chain (unsampled)'],
  ['produce 100 B, batches of 500', 'librdkafka, empty chain'],
  ['produce 100 B, batches of 500', 'librdkafka, full chain (unsampled)'],
  ['transactions of 1000 records (100 B)', 'librdkafka, empty chain'],
];

function find(rows: Row[], name: string, impl: string): Row | undefined {
  return rows.find((row) => row.name.startsWith(name) && row.impl === impl);
}

/** One line per target: the figure, the target, met or missed; then the librdkafka figures. */
export function targetChecks(rows: Row[]): string[] {
  const lines = TARGETS.map(({ label, name, impl, min, maxMicros }) => {
    const row = find(rows, name, impl);
    if (!row) return `${label}: not measured in this run`;
    if (maxMicros !== undefined) {
      const micros = row.value.median;
      return `${label}: ${micros.toFixed(2)} µs, target <= ${maxMicros} µs: ${micros <= maxMicros ? 'met' : '**missed**'}`;
    }
    const ratio = ratioOf(row) ?? NaN;
    return `${label}: ${ratio.toFixed(2)}x, target >= ${min}x: ${ratio >= min! ? 'met' : '**missed**'}`;
  });
  const librdkafka = LIBRDKAFKA_ROWS.map(([name, impl]) => {
    const ratio = find(rows, name, impl) && ratioOf(find(rows, name, impl)!);
    return ratio === undefined ? undefined : `${name}, ${impl.replace('librdkafka, ', '')} ${ratio.toFixed(2)}x`;
  }).filter(Boolean);
  const eos = rows.find((row) => row.section === 'streams' && row.impl === 'light streams, exactly_once');
  const alos = rows.find((row) => row.section === 'streams' && row.impl === 'light streams, at_least_once');
  if (eos && alos) {
    const ratio = eos.value.median / alos.value.median;
    lines.push(`streams (issue 12), exactly_once vs at_least_once at commit.interval.ms 100: ${ratio.toFixed(2)}x, target >= 0.5x: ${ratio >= 0.5 ? 'met' : '**missed**'}`);
  }
  if (librdkafka.length > 0) lines.push(`librdkafka (ratios to raw kafkajs, no target of its own): ${librdkafka.join('; ')}`);
  return lines;
}
