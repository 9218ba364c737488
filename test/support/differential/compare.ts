/**
 * How the differential harness compares what Kafka Streams and LightStreams wrote to an output: the records of each,
 * in offset order, with canonical keys (`<key>`, `<key>@<window start>`, `<key>@<start>-<end>`) and JSON values.
 *
 * - `final`: the last value per key, a tombstone (null value) meaning absent. For tables and windowed aggregations,
 *   whose intermediate updates differ by design: Kafka Streams' record caches (on by default, flushed at each commit)
 *   fold several updates of a key into one, LightStreams emits every update.
 * - `emissions`: every record, per key, as a multiset (order within a key ignored). For stream results (joins),
 *   which Kafka Streams does not cache: each join result is emitted once on both sides.
 * - `once`: every key emitted exactly once on each side, with the same value (suppress(untilWindowCloses): one
 *   final result per window, nothing for a window that is not closed yet).
 */
export type OutputMode = 'final' | 'emissions' | 'once';

export interface OutputRecord {
  key: string | null;
  value: string | null;
}

export interface Comparison {
  label: string;
  mode: OutputMode;
  equal: boolean;
  /** Records each side wrote. */
  counts: { kafkaStreams: number; lightStreams: number };
  /** Keys compared (the union of both sides'). */
  keys: number;
  /** Keys that differ. */
  differing: number;
  /** One line per key that differs (at most `limit`, then a line saying how many more). */
  lines: string[];
}

const NULL_KEY = '<null key>';

/** A JSON text with object keys sorted at every level (so `{"b":1,"a":2}` and `{"a":2,"b":1}` compare equal). */
export function canonicalJson(text: string | null): string | null {
  if (text === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `(not JSON) ${text}`;
  }
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sort((value as Record<string, unknown>)[key])]));
    }
    return value;
  };
  return JSON.stringify(sort(parsed));
}

function keyOf(record: OutputRecord): string {
  return record.key ?? NULL_KEY;
}

function byKey(records: OutputRecord[]): Map<string, (string | null)[]> {
  const map = new Map<string, (string | null)[]>();
  for (const record of records) {
    const list = map.get(keyOf(record)) ?? [];
    list.push(canonicalJson(record.value));
    map.set(keyOf(record), list);
  }
  return map;
}

function show(value: string | null | undefined): string {
  return value === undefined ? '(absent)' : value === null ? '(tombstone)' : value;
}

function showList(values: (string | null)[]): string {
  return values.length === 0 ? '[]' : `[${values.map(show).join(', ')}]`;
}

/** The values of `a` not matched one for one in `b`. */
function minus(a: (string | null)[], b: (string | null)[]): (string | null)[] {
  const rest = [...b];
  const out: (string | null)[] = [];
  for (const value of a) {
    const index = rest.indexOf(value);
    if (index >= 0) rest.splice(index, 1);
    else out.push(value);
  }
  return out;
}

/** Keys in a stable order: numbers inside them compared as numbers (k2@100 before k10@20, 100 before 1000). */
function sortKeys(keys: Iterable<string>): string[] {
  const collator = new Intl.Collator('en', { numeric: true });
  return [...keys].sort(collator.compare);
}

export function compareOutput(
  label: string,
  mode: OutputMode,
  kafkaStreams: OutputRecord[],
  lightStreams: OutputRecord[],
  options: { limit?: number; showKey?: (key: string) => string } = {},
): Comparison {
  const limit = options.limit ?? 40;
  const showKey = options.showKey ?? ((key: string) => key);
  const ks = byKey(kafkaStreams);
  const ls = byKey(lightStreams);
  const keys = sortKeys(new Set([...ks.keys(), ...ls.keys()]));
  const lines: string[] = [];
  for (const key of keys) {
    const a = ks.get(key) ?? [];
    const b = ls.get(key) ?? [];
    let line: string | undefined;
    if (mode === 'final') {
      const last = (values: (string | null)[]): string | undefined => {
        const value = values.at(-1);
        return value === null || value === undefined ? undefined : value;
      };
      if (last(a) !== last(b)) line = `kafka-streams ${show(last(a))}   light-streams ${show(last(b))}`;
    } else if (mode === 'emissions') {
      const onlyKs = minus(a, b);
      const onlyLs = minus(b, a);
      if (onlyKs.length > 0 || onlyLs.length > 0) {
        line = `only kafka-streams ${showList(onlyKs)}   only light-streams ${showList(onlyLs)}   (kafka-streams ${a.length}, light-streams ${b.length} records)`;
      }
    } else if (a.length !== 1 || b.length !== 1 || a[0] !== b[0]) {
      line = `kafka-streams ${showList(a)}   light-streams ${showList(b)}   (each must emit the key exactly once, with the same value)`;
    }
    if (line !== undefined) lines.push(`${showKey(key)}: ${line}`);
  }
  const differing = lines.length;
  if (lines.length > limit) lines.splice(limit, lines.length - limit, `... and ${differing - limit} more keys differ`);
  return { label, mode, equal: differing === 0, counts: { kafkaStreams: kafkaStreams.length, lightStreams: lightStreams.length }, keys: keys.length, differing, lines };
}

const MODE_TEXT: Record<OutputMode, string> = {
  final: 'the last value per key, a tombstone = absent',
  emissions: 'every record per key, as a multiset',
  once: 'exactly one record per key on each side, the same value',
};

/** The comparison as text: a header line, then the differing keys. */
export function describeComparison(comparison: Comparison): string {
  const { label, mode, equal, counts, keys, differing, lines } = comparison;
  const header = `output "${label}" (${MODE_TEXT[mode]}): ${equal ? `same for all ${keys} keys` : `${differing} of ${keys} keys differ`} (kafka-streams ${counts.kafkaStreams} records, light-streams ${counts.lightStreams})`;
  return [header, ...lines.map((line) => `    ${line}`)].join('\n');
}
