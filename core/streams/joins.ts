import { LightError } from '../errors/light-error.js';
import { storeKeyOf } from './stores.js';
import type { ProcessorContext, ProcessorStore, StreamRecord } from './topology.js';

/**
 * The joins of LightStreams, with Kafka Streams 3.9's semantics: stream-stream joins over join windows (both sides
 * buffered in window stores of the task, unmatched records of a left/outer join emitted once their window closed),
 * table-table joins (a materialized result table that follows updates and deletes of both sides), and the lookups
 * of a stream in a table or a global table. The topology DSL (topology.ts) wires these steps into its graph.
 *
 * Where LightStreams departs from Kafka Streams on purpose, the comment says so (and the README's LightStreams table).
 * One of those everywhere: a joiner gets `undefined`, not null, for the side that has no value (as stream-table left
 * joins always did here); null stays what it is in Kafka, a tombstone.
 */

type AnyRecord = StreamRecord<unknown, unknown>;
/** One step of the graph: a record in, records out through `emit`. */
export type JoinStep = (record: AnyRecord, emit: (record: AnyRecord) => void, context: ProcessorContext) => void;
/** A joiner as the steps call it: the left value, the right value (undefined when that side has none), the key. */
export type AnyJoiner = (left: unknown, right: unknown, key: unknown) => unknown;

/** A store's entries from `start` to `end` (exclusive), in key order: the stores of tasks and of the driver have it. */
function rangeOf(store: ProcessorStore, start: string | undefined, end: string): { key: string; value: unknown }[] {
  if (!store.range) throw new Error('a join needs stores that read key ranges (ProcessorStore.range)');
  return store.range(start, end);
}

function isNull(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

/** A record's timestamp (ms), or -1 when it has none readable. */
function timeOf(record: AnyRecord): number {
  const time = Number(record.timestamp);
  return Number.isFinite(time) ? time : -1;
}

/** 13 digits: the timestamps of ms since 1970 up to the year 2286 sort as text. */
function pad(time: number): string {
  return String(Math.max(0, time)).padStart(13, '0');
}

function checkMs(what: string, ms: number): number {
  if (!Number.isInteger(ms) || ms < 0) throw new LightError('ERR13013', { what: `${what} ${ms}`, reason: 'must be a whole number of milliseconds >= 0' });
  return ms;
}

/**
 * The windows of a stream-stream join (Kafka Streams' JoinWindows): a record at time t of the left stream joins the
 * right stream's records from t - before to t + after (both bounds included), a right record at t the left ones from
 * t - after to t + before. `grace`: how long after a window's end an out-of-order record is still awaited — a left or
 * outer join emits a record without a match only once stream time passed its window's end plus the grace. Each side
 * keeps its records for before + after + grace behind its newest record (the window stores' retention).
 */
export class JoinWindows {
  private constructor(
    readonly beforeMs: number,
    readonly afterMs: number,
    readonly graceMs: number,
  ) {}

  /** Records at most `timeDifferenceMs` apart join; out-of-order records are awaited `afterWindowEndMs` after a window ends. */
  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, afterWindowEndMs: number): JoinWindows {
    return new JoinWindows(checkMs('join window time difference', timeDifferenceMs), timeDifferenceMs, checkMs('join window grace', afterWindowEndMs));
  }

  /** Records at most `timeDifferenceMs` apart join; no grace: a record after its window's end finds its window closed. */
  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): JoinWindows {
    return JoinWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  /** The same windows with another lower bound: a left record joins right records from t - `ms` on. */
  before(ms: number): JoinWindows {
    return new JoinWindows(checkMs('join window before', ms), this.afterMs, this.graceMs);
  }

  /** The same windows with another upper bound: a left record joins right records up to t + `ms`. */
  after(ms: number): JoinWindows {
    return new JoinWindows(this.beforeMs, checkMs('join window after', ms), this.graceMs);
  }

  /** before + after. */
  get sizeMs(): number {
    return this.beforeMs + this.afterMs;
  }

  /** How long each side's window store keeps a record behind its newest one: size + grace. */
  get retentionMs(): number {
    return this.sizeMs + this.graceMs;
  }
}

/** Options of a stream-stream join: `name` names its window stores (and so their changelogs) and repartition topics. */
export interface StreamJoined {
  name: string;
}

/**
 * The stores of a stream-stream join, named as Kafka Streams names them for StreamJoined.withStoreName(name):
 * `<name>-this-join-store` / `<name>-other-join-store` (`-outer-` before `this`/`other` for the side whose records a
 * left or outer join may emit unmatched), and the buffer of not-yet-matched records of a left (`-left-shared-join-store`)
 * or outer (`-outer-shared-join-store`) join.
 */
export function streamJoinStoreNames(name: string, leftOuter: boolean, rightOuter: boolean): { left: string; right: string; outer?: string } {
  return {
    left: `${name}${rightOuter ? '-outer-this-join' : '-this-join'}-store`,
    right: `${name}${leftOuter ? '-outer-other-join' : '-other-join'}-store`,
    ...(leftOuter ? { outer: `${name}${rightOuter ? '-outer-shared-join' : '-left-shared-join'}-store` } : {}),
  };
}

// ---- The window store of one side of a stream-stream join -------------------------------------------------------
//
// Kept in a task key-value store (changelog-backed, restored like any other), in three kinds of keys:
//   d:<key>@<time, 13 digits>  the values of that key at that time, in arrival order (duplicates are kept)
//   t:<time, 13 digits>:<key>  an index by time, to delete what expired without reading the whole store
//   m:                         the newest record time the store was given (its own stream time)
// A record expires once it is `retention` or more behind the store's newest time (Kafka Streams' window stores:
// "records expire exactly retentionPeriod ms after created"): a fetch does not see it, a put of it is dropped, and
// the put that moves the store's time deletes what expired (data and index, with changelog tombstones).

const WINDOW_META = 'm:';

function windowDataKey(key: string, time: number): string {
  return `d:${key}@${pad(time)}`;
}

function windowIndexKey(time: number, key: string): string {
  return `t:${pad(time)}:${key}`;
}

/** The record key a window store key belongs to (its partition answers a query of it). */
export function windowStoreRoutingKey(storeKey: string): string {
  if (storeKey.startsWith('d:')) return storeKey.slice(2, storeKey.length - 14);
  if (storeKey.startsWith('t:')) return storeKey.slice(16);
  return storeKey;
}

function observedTime(store: ProcessorStore): number {
  const time = store.get(WINDOW_META);
  return typeof time === 'number' ? time : -1;
}

/** The values of `key` from `from` to `to` (inclusive) not expired, in time order (then arrival order). */
function fetchWindow(store: ProcessorStore, key: string, from: number, to: number, retentionMs: number): { time: number; value: unknown }[] {
  const min = Math.max(from, observedTime(store) - retentionMs + 1);
  if (to < min) return [];
  const prefix = `d:${key}@`;
  const found: { time: number; value: unknown }[] = [];
  for (const entry of rangeOf(store, prefix + pad(min), prefix + pad(to + 1))) {
    // Another key can sort inside the range (`a@0000000000005x` next to `a`): the time must be all that follows.
    if (entry.key.length !== prefix.length + 13) continue;
    const time = Number(entry.key.slice(prefix.length));
    for (const value of entry.value as unknown[]) found.push({ time, value });
  }
  return found;
}

/**
 * Buffers a value at `time` — false when it is already expired (not buffered) — moving the store's time and deleting
 * what expired.
 */
function putWindow(store: ProcessorStore, key: string, value: unknown, time: number, retentionMs: number): boolean {
  const before = observedTime(store);
  const observed = Math.max(before, time);
  if (observed !== before) store.put(WINDOW_META, observed);
  const live = time > observed - retentionMs;
  if (live) {
    const dataKey = windowDataKey(key, time);
    const values = store.get(dataKey) as unknown[] | undefined;
    if (!values) store.put(windowIndexKey(time, key), 1);
    store.put(dataKey, values ? [...values, value] : [value]);
  }
  if (observed === before) return live;
  const expiredUpTo = observed - retentionMs;
  if (expiredUpTo < 0) return live;
  for (const { key: indexKey } of rangeOf(store, 't:', `t:${pad(expiredUpTo + 1)}`)) {
    store.delete(windowDataKey(indexKey.slice(16), Number(indexKey.slice(2, 15))));
    store.delete(indexKey);
  }
  return live;
}

// ---- The buffer of a left/outer join's records not matched yet ----------------------------------------------------
//
// Keys `<time, 13 digits>:<1 left, 0 right>:<key>`, so a scan meets them in Kafka Streams' order (time, then the right
// side before the left, then the key); a value holds the record key and the values buffered there, in arrival order.

interface Unmatched {
  key: unknown;
  values: unknown[];
}

function unmatchedKey(time: number, left: boolean, key: string): string {
  return `${pad(time)}:${left ? 1 : 0}:${key}`;
}

/** The record key an unmatched-buffer key belongs to. */
export function unmatchedRoutingKey(storeKey: string): string {
  return storeKey.slice(16);
}

/**
 * Where a left or outer join keeps its stream time (the newest record time either side saw: Kafka Streams' shared time
 * tracker) in its unmatched-records store: the key sorts after every `<13 digits>:` key, so no scan meets it.
 */
const JOIN_STREAM_TIME_KEY = '~stream-time';

interface JoinSide {
  /** This side's window store and the other side's. */
  thisStore: string;
  otherStore: string;
  /** How far before and after this side's record time the other side's records join. */
  beforeMs: number;
  afterMs: number;
  /** True when a record of this side without a match is emitted anyway (the left of a left join, both of an outer). */
  outer: boolean;
  left: boolean;
}

export interface StreamStreamJoinSpec {
  windows: JoinWindows;
  stores: { left: string; right: string; outer?: string };
  leftOuter: boolean;
  rightOuter: boolean;
  joiner: AnyJoiner;
}

/**
 * The two steps of a stream-stream join (one per side), as Kafka Streams 3.9's KStreamKStreamJoin does, per record of
 * a side at time t:
 * 1. The join's stream time (shared by both sides, per task) moves to t if t is newer.
 * 2. A record with a null key on a side that is emitted unmatched (left of a left join, both of an outer) is emitted at
 *    once with undefined for the other side (KIP-962); otherwise a null key or a null value drops the record.
 * 3. If t is the join's stream time (the record is not out of order), the buffered unmatched records whose window has
 *    closed — time + after (left) or + before (right) + grace before stream time — are emitted with undefined for the
 *    other side, in time order, and forgotten.
 * 4. The other side's records of the same key in [t - before, t + after] that its store still keeps are joined, in
 *    time order, each result at the later of the two times; those records are no longer unmatched.
 * 5. No match, on a side that is emitted unmatched: emitted at once if its window has already closed (t + after is
 *    before stream time: an out-of-order record), else buffered until it closes.
 * 6. The record goes into this side's window store (unless it is `retention` behind the store's newest record).
 * Deliberate differences from Kafka Streams: the unmatched records are looked for at every record that is not out of
 * order, not at most once per second of wall-clock time (Kafka Streams' internal emit interval; its tests set it to
 * 0), and every closed one is emitted then, where Kafka Streams may put it off while a newer buffered record is open.
 */
export function streamStreamJoin(spec: StreamStreamJoinSpec): { left: JoinStep; right: JoinStep } {
  const { windows, stores, joiner } = spec;
  const left: JoinSide = { thisStore: stores.left, otherStore: stores.right, beforeMs: windows.beforeMs, afterMs: windows.afterMs, outer: spec.leftOuter, left: true };
  const right: JoinSide = { thisStore: stores.right, otherStore: stores.left, beforeMs: windows.afterMs, afterMs: windows.beforeMs, outer: spec.rightOuter, left: false };
  return { left: joinSideStep(left, spec), right: joinSideStep(right, spec) };
}

function joinSideStep(side: JoinSide, spec: StreamStreamJoinSpec): JoinStep {
  const { windows, joiner } = spec;
  const outerStore = spec.stores.outer;
  const retention = windows.retentionMs;
  const joined = (thisValue: unknown, otherValue: unknown, key: unknown): unknown => (side.left ? joiner(thisValue, otherValue, key) : joiner(otherValue, thisValue, key));
  return (record, emit, context) => {
    const time = timeOf(record);
    if (time < 0) return;
    // The join's stream time decides when unmatched records are emitted: kept in their store, so a failed record's
    // move of it is dropped with its writes and a restart finds it (an inner join emits no unmatched and needs none).
    let streamTime = time;
    if (outerStore !== undefined) {
      const buffered = context.store(outerStore);
      const known = buffered.get(JOIN_STREAM_TIME_KEY);
      streamTime = typeof known === 'number' ? Math.max(known, time) : time;
      if (streamTime !== known) buffered.put(JOIN_STREAM_TIME_KEY, streamTime);
    }
    if (side.outer && isNull(record.key) && !isNull(record.value)) {
      emit({ ...record, value: joined(record.value, undefined, record.key) });
      return;
    }
    if (isNull(record.key) || isNull(record.value)) {
      context.recordDropped?.(isNull(record.key) ? 'null-key' : 'null-value', side.thisStore);
      return;
    }
    if (outerStore !== undefined && time === streamTime) emitClosed(context.store(outerStore), streamTime, record, emit);
    const key = storeKeyOf(record.key);
    const to = time + side.afterMs;
    const matches = fetchWindow(context.store(side.otherStore), key, Math.max(0, time - side.beforeMs), to, retention);
    for (const match of matches) {
      if (outerStore !== undefined) {
        const buffered = context.store(outerStore);
        const other = unmatchedKey(match.time, !side.left, key);
        if (buffered.get(other) !== undefined) buffered.delete(other);
      }
      emit({ ...record, value: joined(record.value, match.value, record.key), timestamp: String(Math.max(time, match.time)) });
    }
    if (matches.length === 0 && side.outer) {
      if (outerStore === undefined || to < streamTime) {
        emit({ ...record, value: joined(record.value, undefined, record.key) });
      } else {
        const buffered = context.store(outerStore);
        const id = unmatchedKey(time, side.left, key);
        const current = buffered.get(id) as Unmatched | undefined;
        buffered.put(id, { key: record.key, values: [...(current?.values ?? []), record.value] } satisfies Unmatched);
      }
    }
    if (!putWindow(context.store(side.thisStore), key, record.value, time, retention)) context.recordDropped?.('expired-window', side.thisStore);
  };

  /** Emits (and forgets) the buffered unmatched records whose window closed by `now`. */
  function emitClosed(buffered: ProcessorStore, now: number, record: AnyRecord, emit: (record: AnyRecord) => void): void {
    // A left record's window closes `after` past it, a right record's `before` past it (plus the grace for both).
    const end = now - Math.min(windows.beforeMs, windows.afterMs) - windows.graceMs;
    if (end <= 0) return;
    for (const entry of rangeOf(buffered, undefined, pad(end))) {
      const time = Number(entry.key.slice(0, 13));
      const isLeft = entry.key[14] === '1';
      if (time + (isLeft ? windows.afterMs : windows.beforeMs) + windows.graceMs >= now) continue;
      const { key, values } = entry.value as Unmatched;
      for (const value of values) {
        emit({ ...record, key, value: isLeft ? joiner(value, undefined, key) : joiner(undefined, value, key), timestamp: String(time) });
      }
      buffered.delete(entry.key);
    }
  }
}

// ---- Tables -------------------------------------------------------------------------------------------------------

/**
 * A table forwards each change as a record whose value is the key's new value (null when deleted); the value before
 * the change rides along here, for the joins that need it (a left or outer join ignores the deletion of a key that
 * was never there). Keyed by the record object, so it never travels further than the table's own children.
 */
const OLD_VALUES = new WeakMap<object, unknown>();

export function withOldValue<R extends object>(record: R, oldValue: unknown): R {
  OLD_VALUES.set(record, oldValue);
  return record;
}

export function oldValueOf(record: object): unknown {
  return OLD_VALUES.get(record);
}

export interface TableTableJoinSpec {
  leftStore: string;
  rightStore: string;
  /** The result table's store (materialized). */
  resultStore: string;
  /** Per key and side (`L:<key>`, `R:<key>`): the timestamp of that side's current value. */
  timestampsStore: string;
  leftOuter: boolean;
  rightOuter: boolean;
  joiner: AnyJoiner;
}

/** The internal store of a table-table join that keeps each side's value timestamps. */
export function tableJoinTimestampsStore(resultStore: string): string {
  return `${resultStore}-join-timestamps`;
}

/** The record key a timestamps-store key belongs to. */
export function timestampsRoutingKey(storeKey: string): string {
  return storeKey.slice(2);
}

/**
 * The two steps of a table-table join (one per side's updates), as Kafka Streams 3.9's KTableKTable*Join processors
 * with their result materialized: an update of key k on one side (its new value, null when deleted) looks up k on the
 * other side and gives
 * - inner: nothing if the other side has no k; else joiner(new, other), or a deletion when new is null;
 * - left, an update of the left: joiner(new, other or undefined), a deletion when new is null — nothing when the
 *   right has no k and the left had none before either (the deletion of a key that never was);
 * - left, an update of the right: nothing if the left has no k; else joiner(left, new or undefined);
 * - outer, either side: joiner over what both sides have (undefined for a missing one), a deletion when neither has
 *   k — nothing when the other side has no k and this side had none before either.
 * The result is written to the result table's store (a deletion deletes) and forwarded at the later of the update's
 * timestamp and the other side's value's. A key that is null is ignored.
 */
export function tableTableJoin(spec: TableTableJoinSpec): { left: JoinStep; right: JoinStep } {
  return { left: tableSideStep(spec, true), right: tableSideStep(spec, false) };
}

function tableSideStep(spec: TableTableJoinSpec, left: boolean): JoinStep {
  const thisTag = left ? 'L:' : 'R:';
  const otherTag = left ? 'R:' : 'L:';
  const otherStore = left ? spec.rightStore : spec.leftStore;
  // As Kafka Streams pairs them: inner-inner, left-right (a left join's right side), outer-outer.
  const mode = !spec.leftOuter ? 'inner' : !spec.rightOuter ? (left ? 'left' : 'right') : 'outer';
  return (record, emit, context) => {
    if (isNull(record.key)) {
      context.recordDropped?.('null-key', spec.resultStore);
      return;
    }
    const key = storeKeyOf(record.key);
    const time = timeOf(record);
    const newValue = isNull(record.value) ? undefined : record.value;
    const oldValue = oldValueOf(record);
    const timestamps = context.store(spec.timestampsStore);
    if (newValue === undefined) {
      if (timestamps.get(thisTag + key) !== undefined) timestamps.delete(thisTag + key);
    } else timestamps.put(thisTag + key, time);
    const other = context.store(otherStore).get(record.key);
    const otherTime = other === undefined ? -1 : ((timestamps.get(otherTag + key) as number | undefined) ?? -1);
    const join = (thisValue: unknown, otherValue: unknown): unknown => (left ? spec.joiner(thisValue, otherValue, record.key) : spec.joiner(otherValue, thisValue, record.key));
    let result: unknown;
    switch (mode) {
      case 'inner':
        if (other === undefined) return;
        result = newValue === undefined ? undefined : join(newValue, other);
        break;
      case 'left':
        if (other === undefined && newValue === undefined && isNull(oldValue)) return;
        result = newValue === undefined ? undefined : join(newValue, other);
        break;
      case 'right':
        if (other === undefined) return;
        result = join(newValue, other);
        break;
      case 'outer':
        if (other === undefined && newValue === undefined && isNull(oldValue)) return;
        result = other === undefined && newValue === undefined ? undefined : join(newValue, other);
        break;
    }
    const results = context.store(spec.resultStore);
    const previous = results.get(record.key);
    if (isNull(result)) results.delete(record.key);
    else results.put(record.key, result);
    emit(withOldValue({ ...record, value: isNull(result) ? null : result, timestamp: String(Math.max(time, otherTime)) }, previous));
  };
}

/**
 * A stream's records joined with a table's current value of their key (Kafka Streams' KStreamKTableJoin): a record
 * with a null value is dropped; one with a null key is dropped by an inner join and joined with undefined by a left
 * join (KIP-962); otherwise an inner join emits joiner(value, tableValue) when the table has the key, a left join
 * always (undefined when it has not). The output keeps the record's key and timestamp.
 */
export function streamTableJoin(tableStore: string, joiner: AnyJoiner, leftJoin: boolean): JoinStep {
  return (record, emit, context) => {
    if (isNull(record.value)) {
      context.recordDropped?.('null-value', tableStore);
      return;
    }
    if (isNull(record.key)) {
      if (leftJoin) emit({ ...record, value: joiner(record.value, undefined, record.key) });
      else context.recordDropped?.('null-key', tableStore);
      return;
    }
    const tableValue = context.store(tableStore).get(record.key);
    if (leftJoin || tableValue !== undefined) emit({ ...record, value: joiner(record.value, tableValue, record.key) });
  };
}

/**
 * A stream's records joined with a global table (Kafka Streams' KStreamGlobalKTableJoin): `keySelector(key, value)`
 * gives the key to look up in the global table's store as of now. A record with a null value is dropped; so is one
 * whose selected key is null or undefined, except, in a left join, a record with a null key, which is joined with
 * undefined (Kafka Streams 3.9 does exactly this, though its upgrade notes say a left join keeps every record whose
 * selector returns null). Inner: emitted when the global table has the key; left: always. The output keeps the
 * record's key and timestamp. Unlike Kafka Streams, a record with a null value is dropped before its selector runs.
 */
export function streamGlobalJoin(globalStore: string, keySelector: (key: unknown, value: unknown) => unknown, joiner: AnyJoiner, leftJoin: boolean): JoinStep {
  return (record, emit, context) => {
    if (isNull(record.value)) {
      context.recordDropped?.('null-value', globalStore);
      return;
    }
    const lookup = keySelector(record.key, record.value);
    if (isNull(lookup) && !(leftJoin && isNull(record.key))) {
      context.recordDropped?.('null-key', globalStore);
      return;
    }
    const globalValue = isNull(lookup) ? undefined : context.store(globalStore).get(lookup);
    if (leftJoin || globalValue !== undefined) emit({ ...record, value: joiner(record.value, globalValue, record.key) });
  };
}
