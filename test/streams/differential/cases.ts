/**
 * The differential cases LightStreams supports today: each the same topology as its case in
 * test/fixtures/kafka-streams/Topologies.java, with its seeded input. The LightStreams side of each is one small
 * function, writing the canonical form (key `<key>` or `<key>@<window start>`, value a JSON object).
 * The cases of windows with a grace, suppress, joins of streams and tables and global tables: their inputs in
 * pending-inputs.ts, their LightStreams sides in window-cases.ts and join-cases.ts.
 */
import { TimeWindows } from '../../../index.js';
import type { InputBuilder, InputRecord } from '../../support/differential/input.js';
import type { DifferentialCase, LightContext } from '../../support/differential/harness.js';

/** An input value: `{ id, n, ref }` (see InputBuilder), or null. */
export interface Value {
  id: string;
  n?: number;
  ref?: string;
}

const SECOND = 1000;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

/**
 * A stream of `count` records on `keys` whose time moves on by up to `step` ms a record, with records out of order
 * (up to `outOfOrder` ms back: within a grace of that size), late ones (30-90 s back: beyond any grace of the cases
 * but the tumbling count's), null keys, null values, and one null-key record 10 minutes ahead of everything (Kafka
 * Streams skips a null key before its window processors see its time: it must not close any window).
 */
export function windowedInput(input: InputBuilder, options: { count: number; step: number; outOfOrder: number; keys?: readonly string[] }): InputRecord[] {
  const keys = options.keys ?? KEYS;
  let now = 0;
  for (let i = 0; i < options.count; i++) {
    now += input.int(0, options.step);
    const r = input.random();
    const time = r < 0.12 ? Math.max(0, now - input.int(1, options.outOfOrder)) : r < 0.17 ? Math.max(0, now - input.int(30 * SECOND, 90 * SECOND)) : now;
    const key = input.chance(0.05) ? null : input.pick(keys);
    if (input.chance(0.05)) input.tombstone('in', key, time);
    else input.add('in', key, time, { n: input.int(1, 9) });
    if (i === Math.floor(options.count / 2)) input.add('in', null, now + 600 * SECOND, { n: 1 });
  }
  return input.take();
}

/**
 * Tumbling windows, count: LightStreams' TimeWindows.ofSizeMs(10 s) (no grace: every record counts in its window,
 * however late), against Kafka Streams' TimeWindows.ofSizeAndGrace(10 s, 1 day): a grace beyond any lateness of the
 * input, so that Kafka Streams drops nothing either. Kafka Streams' cache folds updates, so the final count per window
 * is compared.
 */
export const tumblingCount: DifferentialCase = {
  name: 'tumbling-count',
  params: { sizeMs: 10 * SECOND, graceMs: 24 * 3600 * SECOND },
  inputs: { in: {} },
  outputs: { count: 'final' },
  phases: (input) => [windowedInput(input, { count: 200, step: 2500, outOfOrder: 8 * SECOND })],
  light: tumblingCountTopology,
};

export function tumblingCountTopology({ builder, topic, out, params }: LightContext): void {
  builder
    .stream<string, Value | null>(topic('in'))
    .groupByKey()
    .windowedBy(TimeWindows.ofSizeMs(params.sizeMs!))
    .count({ store: 'counts' })
    .toStream()
    .map((window, count) => [`${window.key}@${window.start}`, { count }])
    .to(out('count'));
}

/** A stream record's or a table record's id, or null: the join results name what they joined. */
const joined = (value: Value | null, tableValue: Value | null | undefined): { s: string | null; t: string | null } => ({ s: value?.id ?? null, t: tableValue?.id ?? null });

export function streamTableJoinTopology({ builder, topic, out }: LightContext): void {
  const table = builder.table<string, Value>(topic('table'), { store: 'table' });
  const stream = builder.stream<string, Value | null>(topic('in'));
  stream.join(table, joined).to(out('inner'));
  stream.leftJoin(table, joined).to(out('left'));
}

/** Table records: versions of `keys`, tombstones of some, a null key, a tombstone of a key never written. */
function tableRecords(input: InputBuilder, from: number, keys: readonly string[], deleted: readonly string[]): void {
  let time = from;
  for (const key of keys) input.add('table', key, (time += input.int(10, 300)));
  for (const key of keys) if (input.chance(0.5)) input.add('table', key, (time += input.int(10, 300)));
  for (const key of deleted) input.tombstone('table', key, (time += input.int(10, 300)));
  input.add('table', null, (time += 100));
  input.tombstone('table', `never-${from}`, (time += 100));
}

/** Stream records on `keys` (some not in the table), with null keys and null values. */
function streamRecords(input: InputBuilder, from: number, count: number, keys: readonly string[]): void {
  let time = from;
  for (let i = 0; i < count; i++) {
    time += input.int(0, 400);
    const key = input.chance(0.08) ? null : input.pick(keys);
    if (input.chance(0.08)) input.tombstone('in', key, time);
    else input.add('in', key, input.chance(0.1) ? Math.max(from, time - input.int(1, 2000)) : time);
  }
}

/**
 * A stream joined with a table, inner and left, in four phases: the table, then stream records (keys in the table,
 * keys not in it, null keys, null values), then table updates and deletes, then stream records again. The phases fix
 * what the table holds when a stream record comes, on both sides (Kafka Streams would order records of the two topics
 * by timestamp; LightStreams by arrival: see the interleaved variant). Join results are not cached: every result is
 * compared.
 */
export const streamTableJoin: DifferentialCase = {
  name: 'stream-table-join',
  params: {},
  inputs: { in: {}, table: {} },
  outputs: { inner: 'emissions', left: 'emissions' },
  phases: (input) => {
    tableRecords(input, 0, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'], ['k3']);
    const table1 = input.take();
    streamRecords(input, 10 * SECOND, 50, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    const stream1 = input.take();
    tableRecords(input, 30 * SECOND, ['k1', 'k3', 'k6'], ['k0', 'k4']);
    const table2 = input.take();
    streamRecords(input, 40 * SECOND, 50, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    return [table1, stream1, table2, input.take()];
  },
  light: streamTableJoinTopology,
};

/**
 * The stream-table join with both topics in one phase, their records interleaved in time: for each key a table
 * version, a stream record, a newer table version, a stream record, ... Kafka Streams processes the records of a
 * task's partitions in timestamp order (max.task.idle.ms 0: it waits to have fetched every partition with data), so
 * each stream record meets the table version before it in time; LightStreams processes each partition's records as
 * they are fetched, so a stream record meets whatever of the table was fetched first.
 */
export const streamTableJoinInterleaved: DifferentialCase = {
  name: 'stream-table-join-interleaved',
  javaCase: 'stream-table-join',
  params: {},
  inputs: { in: {}, table: {} },
  outputs: { inner: 'emissions', left: 'emissions' },
  phases: (input) => {
    let time = 0;
    for (let round = 0; round < 5; round++) {
      for (const key of ['k0', 'k1', 'k2', 'k3']) {
        input.add('table', key, (time += 100));
        input.add('in', key, (time += 100));
      }
    }
    return [input.take()];
  },
  light: streamTableJoinTopology,
};
