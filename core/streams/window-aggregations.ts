import { LightError } from '../errors/light-error.js';
import { storeKeyOf } from './stores.js';
import type { ProcessorContext, StreamRecord } from './topology.js';
import { observe, observedStreamTime, SessionStore, sweepExpired, WindowStore, type Stamped } from './window-store.js';
import { isValidTimestamp, paddedTime, type SessionWindows, type SlidingWindows, type TimeWindows, type Windowed } from './windows.js';

/**
 * The processing steps of windowed aggregations and of their final-result suppression, ported from Kafka Streams
 * 3.9 (KStreamWindowAggregate, KStreamSlidingWindowAggregate, KStreamSessionWindowAggregate,
 * KTableSuppressProcessorSupplier) with the record cache off: every update of a window is emitted, keyed by
 * `{ key, start, end }` (Windowed), its value the new aggregate (null: the session was merged away), its timestamp
 * the newest record timestamp in the window (a session: its end).
 *
 * Each aggregation keeps its stream time (the newest timestamp among the records that reached it) in a time store
 * of its own, so that it survives a restart: a record that was too late before a restart is still too late after it.
 */

type AnyRecord = StreamRecord<unknown, unknown>;
export type Step = (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void;

/** What every windowed aggregation is given. */
export interface AggregationOptions {
  /** The window store. */
  store: string;
  /** The store holding the aggregation's stream time. */
  timeStore: string;
  retentionMs: number;
  /** What a record too late for all its windows does besides being counted (see WindowMaterialized.lateRecords). */
  lateRecords?: 'drop' | 'dead-letter';
  initializer: () => unknown;
  aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown;
}

/** A windowed update, ready to emit. */
function update(window: Windowed<unknown>, value: unknown, timestamp: number): AnyRecord {
  return { key: window, value, timestamp: String(timestamp) };
}

/**
 * The start of every windowed aggregation: null keys are dropped (and counted), then the aggregation's stream time
 * moves on and expired windows are swept when due. Returns the record's time and the stream time, or undefined.
 */
function admit(record: AnyRecord, context: ProcessorContext, options: AggregationOptions, endOf: (storeKey: string) => number, dropNullValues = false): { time: number; streamTime: number } | undefined {
  if (record.key === null || record.key === undefined) {
    context.recordDropped?.('null-key', options.store);
    return undefined;
  }
  if (dropNullValues && (record.value === null || record.value === undefined)) {
    context.recordDropped?.('null-value', options.store);
    return undefined;
  }
  // Sources give every record a valid timestamp; a step that set another one upstream is caught here.
  const time = Number(record.timestamp);
  if (!isValidTimestamp(time)) {
    context.recordDropped?.('invalid-timestamp', options.store);
    return undefined;
  }
  const streamTime = observe(context, options.timeStore, time);
  sweepExpired(context, options.store, options.retentionMs, streamTime, endOf);
  return { time, streamTime };
}

/** Tumbling and hopping windows: the record updates each of its windows that has not closed. */
export function timeWindowStep(windows: TimeWindows, options: AggregationOptions): Step {
  const { initializer, aggregator } = options;
  return (record, emit, context) => {
    const admitted = admit(record, context, options, WindowStore.endOf(windows.sizeMs));
    if (!admitted) return;
    const { time, streamTime } = admitted;
    const key = storeKeyOf(record.key);
    const store = new WindowStore(context.store(options.store), options.store, windows.sizeMs, options.retentionMs, streamTime);
    const closeTime = streamTime - windows.graceMs;
    let updated = 0;
    for (const { start, end } of windows.windowsFor(time)) {
      if (end <= closeTime) {
        context.recordDropped?.('expired-window', options.store);
        continue;
      }
      updated++;
      const old = store.fetch(key, start);
      const value = aggregator(record.key, record.value, old ? old.value : initializer());
      const timestamp = old ? Math.max(time, old.timestamp) : time;
      store.put(key, start, { value, timestamp });
      emit(update({ key: record.key, start, end }, value, timestamp));
    }
    if (updated === 0) tooLate(options, time, streamTime, windows.graceMs);
  };
}

/** A record too late for every window it belongs to: failed (dead-lettered) when the store asks for it. */
function tooLate(options: AggregationOptions, time: number, streamTime: number, graceMs: number): void {
  if (options.lateRecords !== 'dead-letter') return;
  throw new LightError('ERR11023', { timestamp: time, store: options.store, streamTime, graceMs });
}

/** Sliding windows (Kafka Streams' KStreamSlidingWindowAggregate, its reverse-iteration path and its early records). */
export function slidingWindowStep(windows: SlidingWindows, options: AggregationOptions): Step {
  const { initializer, aggregator } = options;
  const diff = windows.timeDifferenceMs;
  return (record, emit, context) => {
    const admitted = admit(record, context, options, WindowStore.endOf(diff), true);
    if (!admitted) return;
    const { time, streamTime } = admitted;
    const closeTime = streamTime - windows.graceMs;
    if (time + diff < closeTime) {
      context.recordDropped?.('expired-window', options.store);
      tooLate(options, time, streamTime, windows.graceMs);
      return;
    }
    const key = storeKeyOf(record.key);
    const store = new WindowStore(context.store(options.store), options.store, diff, options.retentionMs, streamTime);

    /** Adds the record to window [start, start + diff] holding `stamped` (a new window: the initial aggregate). */
    const updateWindow = (start: number, stamped: Stamped): void => {
      const end = start + diff;
      if (end < closeTime) {
        context.recordDropped?.('expired-window', options.store);
        return;
      }
      const old = stamped.value;
      const value = aggregator(record.key, record.value, old);
      const timestamp = old === null || old === undefined ? time : Math.max(time, stamped.timestamp);
      store.put(key, start, { value, timestamp });
      emit(update({ key: record.key, start, end }, value, timestamp));
    };
    /** The record's right window [time + 1, time + 1 + diff], holding the records after it: `rightAggregate`. */
    const createRightWindow = (rightAggregate: Stamped): void => {
      const start = time + 1;
      store.put(key, start, rightAggregate);
      emit(update({ key: record.key, start, end: start + diff }, rightAggregate.value, rightAggregate.timestamp));
    };

    if (time < diff) {
      // An early record (0 <= time < diff): its left window would start before 0; it goes to [0, diff] instead.
      let combined: Stamped | undefined;
      let rightAggregate: Stamped | undefined;
      let rightWindowExists = false;
      let previousRecordTime: number | undefined;
      const starts = new Set<number>();
      for (const { start, stamped } of store.fetchRange(key, 0, time + 1)) {
        starts.add(start);
        if (start === 0) {
          combined = stamped;
          if (stamped.timestamp < time) previousRecordTime = stamped.timestamp;
        } else if (start <= time) {
          rightAggregate = stamped;
          updateWindow(start, stamped);
        } else {
          rightWindowExists = true;
        }
      }
      if (!rightAggregate && combined && combined.timestamp > time) rightAggregate = combined;
      if (!rightWindowExists && rightAggregate && rightAggregate.timestamp > time) createRightWindow(rightAggregate);
      if (previousRecordTime !== undefined && !starts.has(previousRecordTime + 1)) updateWindow(previousRecordTime + 1, { value: initializer(), timestamp: time });
      updateWindow(0, combined ?? { value: initializer(), timestamp: time });
      return;
    }

    const starts = new Set<number>();
    let leftAggregate: Stamped | undefined;
    let rightAggregate: Stamped | undefined;
    let leftWindowExists = false;
    let rightWindowExists = false;
    let previousRecordTime: number | undefined;
    // Newest window first, as Kafka Streams iterates (its stores iterate backwards): the updates come in that order.
    const found = store.fetchRange(key, Math.max(0, time - 2 * diff), time + 1).reverse();
    for (const { start, stamped } of found) {
      starts.add(start);
      const end = start + diff;
      if (start === time + 1) {
        rightWindowExists = true;
      } else if (end > time) {
        rightAggregate ??= stamped;
        updateWindow(start, stamped);
      } else if (end === time) {
        leftWindowExists = true;
        updateWindow(start, stamped);
        // A record at this very time came before: every window it needs exists already.
        if (stamped.timestamp >= time) return;
        previousRecordTime = stamped.timestamp;
      } else {
        leftAggregate = stamped;
        previousRecordTime = stamped.timestamp;
        break;
      }
    }
    // The previous record's right window, when it does not exist yet and this record falls in it.
    if (previousRecordTime !== undefined && !starts.has(previousRecordTime + 1) && previousRecordTime + 1 + diff >= time) {
      updateWindow(previousRecordTime + 1, { value: initializer(), timestamp: time });
    }
    if (!leftWindowExists) {
      // The records of the left window [time - diff, time] before this one are those of the window found before it.
      const leftNotEmpty = previousRecordTime !== undefined && time - diff <= previousRecordTime;
      updateWindow(time - diff, { value: leftNotEmpty ? leftAggregate!.value : initializer(), timestamp: time });
    }
    if (!rightWindowExists && rightAggregate && rightAggregate.timestamp > time) createRightWindow(rightAggregate);
  };
}

/**
 * Session windows: the record's session [time, time] merges with every session of its key that ends no earlier than
 * time - gap and starts no later than time + gap. The merged sessions are deleted, each emitted as a tombstone
 * (value null), then the merged session is emitted (also when the record only extends, or falls inside, one session:
 * its tombstone and its update, as Kafka Streams emits them without a cache). A record whose merged session ends
 * before stream time - grace - gap is dropped.
 */
export function sessionWindowStep(windows: SessionWindows, options: AggregationOptions & { merger: (key: unknown, aggregate1: unknown, aggregate2: unknown) => unknown }): Step {
  const { initializer, aggregator, merger } = options;
  const gap = windows.inactivityGapMs;
  return (record, emit, context) => {
    const admitted = admit(record, context, options, SessionStore.endOf);
    if (!admitted) return;
    const { time, streamTime } = admitted;
    const key = storeKeyOf(record.key);
    const store = new SessionStore(context.store(options.store), options.store, options.retentionMs, streamTime);
    const closeTime = streamTime - windows.graceMs - gap;
    const merged = store.findSessions(key, time - gap, time + gap);
    let aggregate = initializer();
    let start = time;
    let end = time;
    for (const session of merged) {
      aggregate = merger(record.key, aggregate, session.stamped.value);
      start = Math.min(start, session.start);
      end = Math.max(end, session.end);
    }
    if (end < closeTime) {
      context.recordDropped?.('expired-window', options.store);
      tooLate(options, time, streamTime, windows.graceMs);
      return;
    }
    if (start !== time || end !== time) {
      for (const session of merged) {
        store.remove(key, session.start, session.end);
        emit(update({ key: record.key, start: session.start, end: session.end }, null, session.end));
      }
    }
    aggregate = aggregator(record.key, record.value, aggregate);
    store.put(key, start, end, { value: aggregate, timestamp: end });
    emit(update({ key: record.key, start, end }, aggregate, end));
  };
}

/** A suppression buffer's entry: the latest update of one window. */
interface Buffered {
  key: unknown;
  start: number;
  end: number;
  value: unknown;
  timestamp: string;
}

/**
 * Final results only (Kafka Streams' suppress(untilWindowCloses)): each update of a window replaces the window's
 * entry in the buffer store (`<window end, 13 digits>@<window store key>`; a tombstone deletes it: a merged-away
 * session has no final result), then every entry whose window end <= stream time - `closesAfterMs` is emitted and
 * deleted, in window-end order. The buffer is a store like any other (changelog-backed), and the stream time is the
 * aggregation's (kept in its time store): after a restart the pending results are still there and none is emitted
 * twice.
 */
export function suppressStep(options: { buffer: string; timeStore: string; closesAfterMs: number }): Step {
  return (record, emit, context) => {
    const window = record.key as Windowed<unknown>;
    const buffer = context.store(options.buffer);
    const id = `${paddedTime(window.end)}@${storeKeyOf(window.key)}@${paddedTime(window.start)}`;
    if (record.value === null || record.value === undefined) {
      if (buffer.get(id) !== undefined) buffer.delete(id);
    } else {
      const entry: Buffered = { key: window.key, start: window.start, end: window.end, value: record.value, timestamp: record.timestamp };
      buffer.put(id, entry);
    }
    const expiry = observedStreamTime(context, options.timeStore) - options.closesAfterMs;
    if (expiry < 0) return;
    if (!buffer.range) throw new Error(`store ${options.buffer} cannot be scanned: suppress needs a store with range()`);
    for (const { key, value } of buffer.range(undefined, paddedTime(expiry + 1))) {
      const entry = value as Buffered;
      buffer.delete(key);
      emit({ key: { key: entry.key, start: entry.start, end: entry.end }, value: entry.value, timestamp: entry.timestamp });
    }
  };
}
