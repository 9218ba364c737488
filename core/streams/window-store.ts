import type { ProcessorContext, ProcessorStore } from './topology.js';
import { paddedTime, sessionKey, windowKey } from './windows.js';

/**
 * Window and session stores over a task's key-value store (its writes, deletes included, reach the changelog at the
 * task's commit), and the stream time of a windowed aggregation, kept in a store of its own so that it survives a
 * restart.
 *
 * Layout. A window of record key k starting at s: `k@<s, 13 digits>`; a session of k from s to e:
 * `k@<s, 13 digits>@<e, 13 digits>`. The record key is its store key (storeKeyOf: a string as it is, other values as
 * JSON), so `prefix('k@')` lists k's windows in time order. Values: `{ value, timestamp }`, the aggregate and the
 * newest timestamp of the records in it (a session: its end), as Kafka Streams' timestamped stores keep them.
 *
 * Retention. A window is kept while stream time <= its end + retention (Kafka Streams: until its store's newest
 * window moved on by the retention, so a session exactly one gap before a record still merges with it; with the
 * least retention, a sliding window a record within grace needs is still there). Past that it is expired: reads no
 * longer see it at once, and a sweep
 * deletes it (a tombstone in the changelog, so a restore does not bring it back). A task sweeps a store at its first
 * record, then whenever stream time moved on by half the retention since its last sweep (Kafka Streams drops whole
 * segments of that length): the store holds at most half a retention of expired windows.
 */

/** An aggregate and the newest timestamp of the records in it. */
export interface Stamped<A = unknown> {
  value: A;
  timestamp: number;
}

/** A store entry, as a range gives it. */
type Entry = { key: string; value: unknown };

function scan(store: ProcessorStore, name: string, start?: string, end?: string): Entry[] {
  if (!store.range) throw new Error(`store ${name} cannot be scanned: window operations need a store with range() (a StreamTask's or the TopologyTestDriver's)`);
  return store.range(start, end);
}

/** The 13 digits at `offset` of a store key, as a number (NaN when they are not 13 digits). */
function timeAt(key: string, offset: number): number {
  const digits = key.slice(offset, offset + 13);
  return /^\d{13}$/.test(digits) ? Number(digits) : Number.NaN;
}

/** Where the stream time of a windowed aggregation is kept in its time store. */
const STREAM_TIME_KEY = 'streamTime';

/**
 * The stream time of a windowed aggregation (the newest timestamp among the records that reached it, as Kafka
 * Streams' window processors observe it), from its time store; -1 before its first record.
 */
export function observedStreamTime(context: ProcessorContext, timeStore: string): number {
  const time = context.store(timeStore).get(STREAM_TIME_KEY);
  return typeof time === 'number' ? time : -1;
}

/** Moves a windowed aggregation's stream time to `time` when that is newer; returns the stream time. */
export function observe(context: ProcessorContext, timeStore: string, time: number): number {
  const current = observedStreamTime(context, timeStore);
  if (time <= current) return current;
  context.store(timeStore).put(STREAM_TIME_KEY, time);
  return time;
}

/** True when a window ending at `end` is expired at `streamTime`. */
function isExpired(end: number, retentionMs: number, streamTime: number): boolean {
  return end + retentionMs < streamTime;
}

/** Per task (its context) and store: the stream time of the last sweep. */
const lastSweeps = new WeakMap<object, Map<string, number>>();

/** The store keys a store holds, with the end of each window (NaN for a key that is not a window's). */
export type WindowEndOf = (storeKey: string) => number;

/**
 * Deletes the expired windows of a store (end + retention < stream time) when a sweep is due for this task: at its
 * first record, then each time stream time moved on by half the retention (at least 1 ms). Returns the number deleted.
 */
export function sweepExpired(context: ProcessorContext, name: string, retentionMs: number, streamTime: number, endOf: WindowEndOf): number {
  if (!Number.isFinite(retentionMs) || streamTime < 0) return 0;
  let sweeps = lastSweeps.get(context);
  if (!sweeps) lastSweeps.set(context, (sweeps = new Map()));
  const last = sweeps.get(name);
  if (last !== undefined && streamTime - last < Math.max(1, Math.floor(retentionMs / 2))) return 0;
  sweeps.set(name, streamTime);
  const store = context.store(name);
  let deleted = 0;
  for (const { key } of scan(store, name)) {
    if (isExpired(endOf(key), retentionMs, streamTime)) {
      store.delete(key);
      deleted++;
    }
  }
  return deleted;
}

/**
 * A window's stored value as `{ value, timestamp }`. A bare number is a windowed count written before that layout
 * (light-kafka before the window stores kept timestamps): read as its count, stamped with the window's start.
 */
function stampedOf(stored: unknown, start: number): Stamped | undefined {
  if (stored === undefined || stored === null) return undefined;
  return typeof stored === 'number' ? { value: stored, timestamp: start } : (stored as Stamped);
}

/** Tumbling, hopping and sliding windows of one store: keyed by record key and window start, all of one size. */
export class WindowStore {
  constructor(
    private readonly store: ProcessorStore,
    private readonly name: string,
    /** End - start of every window of the store (tumbling, hopping: size; sliding: time difference). */
    private readonly sizeMs: number,
    private readonly retentionMs: number,
    private readonly streamTime: number,
  ) {}

  /** The end of the window a key of this store names (NaN for another key). */
  static endOf(sizeMs: number): WindowEndOf {
    return (storeKey) => timeAt(storeKey, storeKey.length - 13) + sizeMs;
  }

  private expired(start: number): boolean {
    return isExpired(start + this.sizeMs, this.retentionMs, this.streamTime);
  }

  fetch(key: string, start: number): Stamped | undefined {
    if (this.expired(start)) return undefined;
    return stampedOf(this.store.get(windowKey(key, start)), start);
  }

  put(key: string, start: number, stamped: Stamped): void {
    this.store.put(windowKey(key, start), stamped);
  }

  /** The windows of `key` starting from `from` to `to` (both inclusive), in start order. */
  fetchRange(key: string, from: number, to: number): { start: number; stamped: Stamped }[] {
    const windows: { start: number; stamped: Stamped }[] = [];
    const length = key.length + 14;
    for (const entry of scan(this.store, this.name, windowKey(key, from), windowKey(key, to + 1))) {
      // Another record key that starts like `<key>@<13 digits>` sorts among this key's windows: its keys are longer.
      if (entry.key.length !== length) continue;
      const start = timeAt(entry.key, key.length + 1);
      if (!this.expired(start)) windows.push({ start, stamped: stampedOf(entry.value, start)! });
    }
    return windows;
  }
}

/** The sessions of one store, keyed by record key, start and end. */
export class SessionStore {
  constructor(
    private readonly store: ProcessorStore,
    private readonly name: string,
    private readonly retentionMs: number,
    private readonly streamTime: number,
  ) {}

  static readonly endOf: WindowEndOf = (storeKey) => timeAt(storeKey, storeKey.length - 13);

  /** The sessions of `key` that end at `earliestEnd` or later and start at `latestStart` or earlier, in time order. */
  findSessions(key: string, earliestEnd: number, latestStart: number): { start: number; end: number; stamped: Stamped }[] {
    const sessions: { start: number; end: number; stamped: Stamped }[] = [];
    const length = key.length + 28;
    if (latestStart < 0) return sessions;
    for (const entry of scan(this.store, this.name, `${key}@`, `${key}@${paddedTime(latestStart + 1)}`)) {
      if (entry.key.length !== length || entry.key[key.length + 14] !== '@') continue;
      const start = timeAt(entry.key, key.length + 1);
      const end = timeAt(entry.key, key.length + 15);
      if (Number.isNaN(start) || Number.isNaN(end) || end < earliestEnd || isExpired(end, this.retentionMs, this.streamTime)) continue;
      sessions.push({ start, end, stamped: entry.value as Stamped });
    }
    return sessions;
  }

  put(key: string, start: number, end: number, stamped: Stamped): void {
    this.store.put(sessionKey(key, start, end), stamped);
  }

  remove(key: string, start: number, end: number): void {
    this.store.delete(sessionKey(key, start, end));
  }
}

/** The record key a window store key belongs to (for routing a query to its partition's owner). */
export function windowRoutingKey(storeKey: string): string {
  return /@\d{13}$/.test(storeKey) ? storeKey.slice(0, -14) : storeKey;
}

/** The record key a session store key belongs to. */
export function sessionRoutingKey(storeKey: string): string {
  return /@\d{13}@\d{13}$/.test(storeKey) ? storeKey.slice(0, -28) : storeKey;
}
