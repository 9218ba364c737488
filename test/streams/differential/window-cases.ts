// The LightStreams side of the window cases of the differential tests (their inputs and the Kafka Streams side:
// pending-inputs.ts, Topologies.java). Canonical output (as Topologies.java writes it): key `<key>@<window start ms>`
// for a time window, `<key>@<start>-<end>` for a session; value a JSON object, or null (a tombstone).
import { BufferConfig, SessionWindows, SlidingWindows, Suppressed, TimeWindows, type Windowed } from '../../../index.js';
import type { DifferentialCase, LightContext } from '../../support/differential/harness.js';
import type { Value } from './cases.js';
import { hoppingWindow, sessionWindow, slidingWindow, tumblingGrace } from './pending-inputs.js';

/** { count, sum of n }: the aggregate of the windowed aggregations (a null value counts and adds 0), as in Java. */
interface Sum {
  count: number;
  sum: number;
}
const initial = (): Sum => ({ count: 0, sum: 0 });
const add = (_key: string, value: Value | null, aggregate: Sum): Sum => ({ count: aggregate.count + 1, sum: aggregate.sum + (value?.n ?? 0) });
const merge = (_key: string, a: Sum, b: Sum): Sum => ({ count: a.count + b.count, sum: a.sum + b.sum });

/** A windowed key as the canonical `<key>@<start>` (or `<key>@<start>-<end>` for a session). */
function windowed(key: Windowed<string>, session = false): string {
  return session ? `${key.key}@${key.start}-${key.end}` : `${key.key}@${key.start}`;
}

/** A count as the canonical value ({ count }), a tombstone kept a tombstone. */
const count = (value: number | null | undefined): { count: number } | null => (value === null || value === undefined ? null : { count: value });

/** Tumbling windows with a grace: count, and the count suppressed until the window closes. */
export function tumblingGraceTopology({ builder, topic, out, params }: LightContext): void {
  const counts = builder
    .stream<string, Value | null>(topic('in'))
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeAndGrace(params.sizeMs!, params.graceMs!))
    .count({ store: 'counts' });
  counts.toStream().map((key, value) => [windowed(key), count(value)]).to(out('count'));
  counts.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())).toStream().map((key, value) => [windowed(key), count(value)]).to(out('suppressed'));
}

/** Hopping windows with a grace: count, aggregate, and the count suppressed until the window closes. */
export function hoppingWindowTopology({ builder, topic, out, params }: LightContext): void {
  const windows = TimeWindows.ofSizeAndGrace(params.sizeMs!, params.graceMs!).advanceBy(params.advanceMs!);
  const grouped = builder.stream<string, Value | null>(topic('in')).groupByKey();
  const counts = grouped.windowedBy(windows).count({ store: 'counts' });
  counts.toStream().map((key, value) => [windowed(key), count(value)]).to(out('count'));
  counts.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())).toStream().map((key, value) => [windowed(key), count(value)]).to(out('suppressed'));
  grouped
    .windowedBy(windows)
    .aggregate(initial, add, { store: 'sums' })
    .toStream()
    .map((key, value) => [windowed(key), value ?? null])
    .to(out('aggregate'));
}

/** Sliding windows with a grace: aggregate. */
export function slidingWindowTopology({ builder, topic, out, params }: LightContext): void {
  builder
    .stream<string, Value | null>(topic('in'))
    .groupByKey()
    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(params.differenceMs!, params.graceMs!))
    .aggregate(initial, add, { store: 'sums' })
    .toStream()
    .map((key, value) => [windowed(key), value ?? null])
    .to(out('aggregate'));
}

/** Session windows with a grace: count, the count suppressed until the session closes, aggregate with a merger. */
export function sessionWindowTopology({ builder, topic, out, params }: LightContext): void {
  const windows = SessionWindows.ofInactivityGapAndGrace(params.gapMs!, params.graceMs!);
  const grouped = builder.stream<string, Value | null>(topic('in')).groupByKey();
  const counts = grouped.windowedBy(windows).count({ store: 'counts' });
  counts.toStream().map((key, value) => [windowed(key, true), count(value)]).to(out('count'));
  counts.suppress(Suppressed.untilWindowCloses(BufferConfig.unbounded())).toStream().map((key, value) => [windowed(key, true), count(value)]).to(out('suppressed'));
  grouped
    .windowedBy(windows)
    .aggregate(initial, add, merge, { store: 'sums' })
    .toStream()
    .map((key, value) => [windowed(key, true), value ?? null])
    .to(out('aggregate'));
}

export const WINDOW_CASES: DifferentialCase[] = [
  { ...tumblingGrace, light: tumblingGraceTopology },
  { ...hoppingWindow, light: hoppingWindowTopology },
  { ...slidingWindow, light: slidingWindowTopology },
  { ...sessionWindow, light: sessionWindowTopology },
];
