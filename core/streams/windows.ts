import { LightError } from '../errors/light-error.js';
import { storeKeyOf } from './stores.js';

/**
 * Window specifications for `KGroupedStream.windowedBy`, as Kafka Streams 3.9 defines them: tumbling and hopping
 * (TimeWindows), sliding (SlidingWindows) and session (SessionWindows) windows, each with a grace period; and the
 * final-result suppression of a windowed table (Suppressed.untilWindowCloses). Times are milliseconds.
 *
 * A tumbling or hopping window closes when the stream time of its aggregation reaches its end + grace; a sliding
 * window (its end inclusive) when stream time passes its end + grace; a session when stream time passes its end +
 * gap + grace. A record for a closed window is dropped (counted in light_kafka_streams_dropped_records_total,
 * reason `expired-window`). A window store keeps a window while the stream time is at most its end + retention.
 */

/** The greatest timestamp LightStreams handles (ms; in the year 2286): window store keys hold times as 13 digits. */
export const MAX_TIMESTAMP = 9_999_999_999_999;

/** True for a timestamp LightStreams processes: a whole number of milliseconds from 0 to MAX_TIMESTAMP. */
export function isValidTimestamp(time: number): boolean {
  return Number.isInteger(time) && time >= 0 && time <= MAX_TIMESTAMP;
}

/** A time as window store keys hold it: 13 digits, so that keys sort by time. */
export function paddedTime(time: number): string {
  return String(time).padStart(13, '0');
}

/**
 * The key of a windowed table: the record key and its window. `start` is inclusive; `end` is exclusive for
 * tumbling and hopping windows and inclusive for sliding windows (`end` = start + time difference) and sessions
 * (`end` = the last record's timestamp), as in Kafka Streams.
 */
export interface Windowed<K> {
  key: K;
  start: number;
  end: number;
}

/** Window keys: `<key>@<window start, 13 digits>`, so a key's windows sort by time. */
export function windowKey(key: string, windowStart: number): string {
  return `${key}@${paddedTime(windowStart)}`;
}

/** Session keys in a session store: `<key>@<start, 13 digits>@<end, 13 digits>`. */
export function sessionKey(key: string, start: number, end: number): string {
  return `${key}@${paddedTime(start)}@${paddedTime(end)}`;
}

/**
 * A windowed key as a string, `<key>@<window start, 13 digits>` (the record key as its store key: a string as it
 * is, other values as JSON), the key today's windowed counts were written with: e.g.
 * `table.toStream().selectKey(windowedKeyString).to('counts')`. A key's sessions never overlap, so a session's start
 * names it too: the tombstone of a merged session and the update of the session it merged into share this key when
 * they start together.
 */
export function windowedKeyString(windowed: Windowed<unknown>): string {
  return windowKey(storeKeyOf(windowed.key), windowed.start);
}

function checkMs(what: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new LightError('ERR13013', { what: `${what} ${value}`, reason: `must be a whole number of milliseconds >= ${min}` });
}

/**
 * Tumbling (advance = size) and hopping (advance < size) windows: a record at t belongs to every window
 * [start, start + size) with start a multiple of the advance, start <= t < start + size and start >= 0.
 */
export class TimeWindows {
  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    /** Infinity for ofSizeMs: the windows never close. */
    readonly graceMs: number,
  ) {}

  /** Windows of `sizeMs` with no grace period: a window closes when stream time reaches its end. */
  static ofSizeWithNoGrace(sizeMs: number): TimeWindows {
    return TimeWindows.ofSizeAndGrace(sizeMs, 0);
  }

  /** Windows of `sizeMs` that take out-of-order records until stream time reaches their end + `graceMs`. */
  static ofSizeAndGrace(sizeMs: number, graceMs: number): TimeWindows {
    checkMs('window size', sizeMs, 1);
    checkMs('grace period', graceMs, 0);
    return new TimeWindows(sizeMs, sizeMs, graceMs);
  }

  /**
   * Windows of `sizeMs` that never close, as LightStreams' windows were before grace periods: no record is too late
   * and no window is deleted (the retention is unlimited). `suppress()` refuses them (they have no final result).
   * Kafka Streams' deprecated `TimeWindows.of(size)` differs: its grace is 24 hours minus the size.
   */
  static ofSizeMs(sizeMs: number): TimeWindows {
    checkMs('window size', sizeMs, 1);
    return new TimeWindows(sizeMs, sizeMs, Number.POSITIVE_INFINITY);
  }

  /** Hopping windows: a new window every `advanceMs` (1 <= advance <= size), the size and grace unchanged. */
  advanceBy(advanceMs: number): TimeWindows {
    if (!Number.isInteger(advanceMs) || advanceMs < 1 || advanceMs > this.sizeMs) {
      throw new LightError('ERR13013', { what: `window advance ${advanceMs}`, reason: `must be a whole number of milliseconds from 1 to the window size (${this.sizeMs})` });
    }
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }

  /** The windows a timestamp belongs to, in start order (Kafka Streams' windowsFor). */
  windowsFor(time: number): { start: number; end: number }[] {
    const windows: { start: number; end: number }[] = [];
    for (let start = Math.floor(Math.max(0, time - this.sizeMs + this.advanceMs) / this.advanceMs) * this.advanceMs; start <= time; start += this.advanceMs) {
      windows.push({ start, end: start + this.sizeMs });
    }
    return windows;
  }
}

/**
 * Sliding windows (Kafka Streams' SlidingWindows): windows [start, start + timeDifference], both ends inclusive,
 * defined by the records — each record's window ending at it, and the window starting just after it when a later
 * record falls within the time difference — so that each distinct set of records within the time difference of
 * each other is one window.
 */
export class SlidingWindows {
  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifferenceWithNoGrace(timeDifferenceMs: number): SlidingWindows {
    return SlidingWindows.ofTimeDifferenceAndGrace(timeDifferenceMs, 0);
  }

  static ofTimeDifferenceAndGrace(timeDifferenceMs: number, graceMs: number): SlidingWindows {
    checkMs('sliding window time difference', timeDifferenceMs, 0);
    checkMs('grace period', graceMs, 0);
    return new SlidingWindows(timeDifferenceMs, graceMs);
  }
}

/**
 * Session windows: a key's records less than or exactly `inactivityGapMs` apart form one session [first record,
 * last record]; a record that falls within the gap of two sessions merges them.
 */
export class SessionWindows {
  private constructor(
    readonly inactivityGapMs: number,
    readonly graceMs: number,
  ) {}

  static ofInactivityGapWithNoGrace(inactivityGapMs: number): SessionWindows {
    return SessionWindows.ofInactivityGapAndGrace(inactivityGapMs, 0);
  }

  static ofInactivityGapAndGrace(inactivityGapMs: number, graceMs: number): SessionWindows {
    checkMs('session inactivity gap', inactivityGapMs, 1);
    checkMs('grace period', graceMs, 0);
    return new SessionWindows(inactivityGapMs, graceMs);
  }
}

export type WindowSpec = TimeWindows | SlidingWindows | SessionWindows;

/** Options of a windowed aggregation: the window store's name and how long it keeps a window after its end. */
export interface WindowMaterialized {
  store: string;
  /**
   * Windows are deleted once stream time passes their end + retention (default: the least Kafka Streams allows,
   * see minRetentionMs). A retention below that least is a topology error (ERR13013).
   */
  retentionMs?: number;
  /**
   * A record that comes after every window it belongs to closed (stream time past end + grace): dropped and counted
   * (`drop`, the default, as Kafka Streams), or also failed with ERR11023 so that it goes to its dead-letter topic
   * (`dead-letter`). A record that still updates one of its windows is never dead-lettered.
   */
  lateRecords?: 'drop' | 'dead-letter';
}

/**
 * The least retention of a window store, as Kafka Streams checks it: window size + grace (sliding windows: 2 x time
 * difference + grace; sessions: inactivity gap + grace). It is also the default.
 */
export function minRetentionMs(windows: WindowSpec): number {
  if (windows instanceof TimeWindows) return windows.sizeMs + windows.graceMs;
  if (windows instanceof SlidingWindows) return 2 * windows.timeDifferenceMs + windows.graceMs;
  return windows.inactivityGapMs + windows.graceMs;
}

/** The retention of window store `store`: `retentionMs` checked against the least (ERR13013 naming the store), or the least. */
export function retentionOf(store: string, windows: WindowSpec, retentionMs: number | undefined): number {
  const least = minRetentionMs(windows);
  if (retentionMs === undefined) return least;
  if (!(Number.isInteger(retentionMs) && retentionMs >= 1) && retentionMs !== Number.POSITIVE_INFINITY) {
    throw new LightError('ERR13013', { what: `retention ${retentionMs} of window store ${store}`, reason: 'must be a whole number of milliseconds >= 1' });
  }
  if (retentionMs < least) {
    const rule =
      windows instanceof TimeWindows
        ? Number.isFinite(windows.graceMs)
          ? `its window size (${windows.sizeMs}) plus its grace period (${windows.graceMs})`
          : 'unlimited: TimeWindows.ofSizeMs windows never close (use ofSizeWithNoGrace or ofSizeAndGrace for a grace period)'
        : windows instanceof SlidingWindows
          ? `2 x its time difference (${windows.timeDifferenceMs}) plus its grace period (${windows.graceMs})`
          : `its inactivity gap (${windows.inactivityGapMs}) plus its grace period (${windows.graceMs})`;
    throw new LightError('ERR13013', { what: `window store ${store}`, reason: `has a retention of ${retentionMs} ms, less than the least a window must be kept, ${Number.isFinite(least) ? `${least} ms = ` : ''}${rule}` });
  }
  return retentionMs;
}

/**
 * How long after its end a window waits for late records before its result is final: the grace period (sessions:
 * inactivity gap + grace, as Kafka Streams' suppress takes it, since a session can still grow for a gap).
 */
export function closesAfterMs(windows: WindowSpec): number {
  return windows instanceof SessionWindows ? windows.inactivityGapMs + windows.graceMs : windows.graceMs;
}

/** The buffer of a suppression: unbounded (Kafka Streams' BufferConfig.unbounded()), kept in a changelog-backed store. */
export class BufferConfig {
  private constructor(readonly maxRecords: number) {}

  static unbounded(): BufferConfig {
    return new BufferConfig(Number.POSITIVE_INFINITY);
  }
}

/**
 * How a windowed table is suppressed: `Suppressed.untilWindowCloses(BufferConfig.unbounded())` holds each window's
 * updates back and emits its final result once, when the window closes (stream time >= window end + grace).
 */
export class Suppressed {
  static readonly BufferConfig = BufferConfig;

  private constructor(
    readonly buffer: BufferConfig,
    /** The buffer store's name (it names its changelog topic); default `<window store>-suppress`. */
    readonly name: string | undefined,
  ) {}

  static untilWindowCloses(buffer: BufferConfig): Suppressed {
    return new Suppressed(buffer, undefined);
  }

  withName(name: string): Suppressed {
    return new Suppressed(this.buffer, name);
  }
}
