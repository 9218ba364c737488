/**
 * The differential cases of windows with a grace (hopping, sliding and session windows, suppress) and of joins
 * (stream-stream, table-table, stream-global): their Kafka Streams side (test/fixtures/kafka-streams/Topologies.java),
 * their parameters, outputs and seeded input; their LightStreams sides are in window-cases.ts and join-cases.ts. A
 * case runs on Kafka Streams alone with
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node dist/test/streams/differential/run-case.js hopping-window
 *
 * which prints what Kafka Streams writes for the case's input (the results the LightStreams side must give).
 */
import type { InputBuilder, InputRecord } from '../../support/differential/input.js';
import type { DifferentialCase } from '../../support/differential/harness.js';
import { windowedInput } from './cases.js';

const SECOND = 1000;

/** Windowed input whose out-of-order records stay within a 3 s grace; late ones (30-90 s back) are beyond it. */
const withinGrace = (input: InputBuilder): InputRecord[][] => [windowedInput(input, { count: 200, step: 2500, outOfOrder: 2500 })];

/**
 * Tumbling windows with a grace (10 s, grace 3 s): the count (final per window: late records dropped) and the count
 * suppressed until the window closes (exactly one result per closed window; none for the windows still open at the
 * end). The null-key record 10 minutes ahead must close nothing: Kafka Streams skips a null key before it moves the
 * window processor's stream time.
 */
export const tumblingGrace: DifferentialCase = {
  name: 'tumbling-grace',
  params: { sizeMs: 10 * SECOND, graceMs: 3 * SECOND },
  inputs: { in: {} },
  outputs: { count: 'final', suppressed: 'once' },
  phases: withinGrace,
};

/**
 * Hopping windows (10 s advancing by 5 s, grace 3 s): count, aggregate ({ count, sum of n }) and the count suppressed
 * until the window closes. A record out of order may be too late for the older of its two windows and in time for
 * the newer one.
 */
export const hoppingWindow: DifferentialCase = {
  name: 'hopping-window',
  params: { sizeMs: 10 * SECOND, advanceMs: 5 * SECOND, graceMs: 3 * SECOND },
  inputs: { in: {} },
  outputs: { count: 'final', aggregate: 'final', suppressed: 'once' },
  phases: withinGrace,
};

/** Sliding windows (time difference 5 s, grace 3 s): aggregate ({ count, sum of n }), final per window. */
export const slidingWindow: DifferentialCase = {
  name: 'sliding-window',
  params: { differenceMs: 5 * SECOND, graceMs: 3 * SECOND },
  inputs: { in: {} },
  outputs: { aggregate: 'final' },
  phases: withinGrace,
};

/**
 * Session windows (inactivity gap 5 s, grace 3 s) on 4 keys whose records come about 5 s apart per key: sessions
 * that grow, and out-of-order records that bridge two sessions and merge them (the merged sessions are deleted:
 * tombstones on both sides). Count (final per session), the count suppressed until the session closes (one result
 * per closed session), and aggregate with a merger ({ count, sum of n }).
 */
export const sessionWindow: DifferentialCase = {
  name: 'session-window',
  params: { gapMs: 5 * SECOND, graceMs: 3 * SECOND },
  inputs: { in: {} },
  outputs: { count: 'final', suppressed: 'once', aggregate: 'final' },
  phases: (input) => [windowedInput(input, { count: 200, step: 2500, outOfOrder: 2500, keys: ['k0', 'k1', 'k2', 'k3'] })],
};

/**
 * Two streams joined within JoinWindows.ofTimeDifferenceAndGrace(3 s, 2 s): inner, left and outer; every result
 * compared (a stream-stream join is not cached).
 *
 * Whether a record is late, and whether a left/outer record without a match is emitted before its match comes (then
 * both results are written) or not (only the match), depends on the stream time when it is processed, which the two
 * topics of a task share. Kafka Streams processes the two topics in timestamp order; LightStreams in the order it
 * fetches them (see the stream-table interleaved case). So the input comes in phases of 1.9 s (less than the grace):
 * a record is at most 1.9 s behind the newest record of the phases processed so far, so it is never late and no
 * window that it could join closes before it is processed, in any order. Within a phase records come in random
 * order (out of order within each topic); across phases, records 20-30 s behind the phase, always expired: neither
 * joins a late record by a lateness rule — a store just no longer holds (nor takes) what is `retention` (8 s) behind
 * its newest record — so a record only 8 s behind could still find a match in the other side's store if it is
 * processed before that side's records of its phase (Kafka Streams picks the lowest timestamp, LightStreams the
 * fetch order: a seed 20261207 run differed so). 20 s behind, its key's records of earlier phases on both sides
 * (checked for this seed by the test below) are newer than it by more than retention + the window.
 * Null keys and null values on both sides.
 */
export const streamStreamJoin: DifferentialCase = {
  name: 'stream-stream-join',
  params: { differenceMs: 3 * SECOND, graceMs: 2 * SECOND },
  inputs: { left: {}, right: {} },
  outputs: { inner: 'emissions', left: 'emissions', outer: 'emissions' },
  phases: (input) => {
    const phases: InputRecord[][] = [];
    for (let phase = 0; phase < 12; phase++) {
      const start = phase * 2 * SECOND;
      for (let i = 0; i < 10; i++) {
        const topic = input.chance(0.5) ? 'left' : 'right';
        const time = phase > 4 && input.chance(0.08) ? start - input.int(20 * SECOND, 30 * SECOND) : start + input.int(0, 1900);
        const key = input.chance(0.06) ? null : input.pick(['k0', 'k1', 'k2', 'k3']);
        if (input.chance(0.05)) input.tombstone(topic, key, time);
        else input.add(topic, key, time);
      }
      phases.push(input.take());
    }
    return phases;
  },
};

/**
 * Two tables joined: inner, left and outer, final per key (a tombstone where the join has no result any more).
 * Both tables loaded, then updated and deleted from; null keys and tombstones of keys never written. Kafka Streams
 * runs it without record caches (cacheMaxBytes 0), as LightStreams runs: with them, a key that both tables delete
 * between two cache flushes keeps its last inner join result (each side's flushed deletion finds the other side's
 * value already gone, so neither deletes the result) — the seed's input does this to k3 and k7.
 */
export const tableTableJoin: DifferentialCase = {
  name: 'table-table-join',
  params: { cacheMaxBytes: 0 },
  inputs: { left: {}, right: {} },
  outputs: { inner: 'final', left: 'final', outer: 'final' },
  phases: (input) => {
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
    let time = 0;
    for (const key of keys) {
      if (input.chance(0.7)) input.add('left', key, (time += input.int(10, 300)));
      if (input.chance(0.7)) input.add('right', key, (time += input.int(10, 300)));
    }
    input.add('left', null, (time += 100));
    input.tombstone('right', 'never', (time += 100));
    const load = input.take();
    for (let i = 0; i < 30; i++) {
      const topic = input.chance(0.5) ? 'left' : 'right';
      const key = input.pick(keys);
      if (input.chance(0.3)) input.tombstone(topic, key, (time += input.int(10, 300)));
      else input.add(topic, key, (time += input.int(10, 300)));
    }
    return [load, input.take()];
  },
};

/**
 * A stream joined with a global table through a key selector (the stream value's `ref`): inner and left, every result.
 * The global table is loaded, the stream joins it, the table changes (updates, deletes), the stream joins again; each
 * global phase ends with a sentinel record the harness waits for on both sides. Stream records with a ref not in the
 * table, without a ref (the selector gives null), with a null key (the selector does not need it), with a null value.
 */
export const streamGlobalJoin: DifferentialCase = {
  name: 'stream-global-join',
  params: {},
  inputs: { in: {}, global: { global: { store: 'global' } } },
  outputs: { inner: 'emissions', left: 'emissions' },
  phases: (input) => {
    const refs = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'];
    let time = 0;
    const stream = (count: number): void => {
      for (let i = 0; i < count; i++) {
        time += input.int(0, 300);
        const key = input.chance(0.08) ? null : input.pick(['k0', 'k1', 'k2', 'k3']);
        const r = input.random();
        if (r < 0.06) input.tombstone('in', key, time);
        else if (r < 0.12) input.add('in', key, time);
        else input.add('in', key, time, { ref: input.pick([...refs, 'g9']) });
      }
    };
    for (const ref of refs.slice(0, 5)) input.add('global', ref, (time += 50));
    input.add('global', 'g1', (time += 50));
    input.tombstone('global', 'g4', (time += 50));
    const load = input.take();
    stream(40);
    const first = input.take();
    input.add('global', 'g5', (time += 50));
    input.add('global', 'g0', (time += 50));
    input.tombstone('global', 'g2', (time += 50));
    input.add('global', 'g4', (time += 50));
    const change = input.take();
    stream(40);
    return [load, first, change, input.take()];
  },
};

export const PENDING_CASES: DifferentialCase[] = [tumblingGrace, hoppingWindow, slidingWindow, sessionWindow, streamStreamJoin, tableTableJoin, streamGlobalJoin];
