/**
 * The Processor API (Kafka Streams' `KStream.process`): a processor of your own, one instance per task, with the
 * task's stores, the record's metadata and headers, forward() to the next nodes, and punctuations on stream time and
 * on wall-clock time. For what the DSL does not express: deduplication with a TTL, timers, enrichment with caches.
 *
 *   stream.process(() => new Deduplicate(), { stores: ['seen'] }).to('unique');
 */

/** Where and how the current input record came in. */
export interface ProcessorRecordMetadata {
  topic: string;
  partition: number;
  offset: string;
  /** The record's headers (UTF-8). */
  headers: Record<string, string>;
}

/** A record as a processor gets and forwards it. */
export interface ProcessorRecord<K, V> {
  key: K;
  value: V;
  /** ms; forward() without one keeps the input record's (or, in a punctuation, the punctuation's time). */
  timestamp?: number;
}

export type PunctuationType = 'stream-time' | 'wall-clock-time';

export interface Cancellable {
  cancel(): void;
}

/** A store of the task as a processor sees it: reads see the writes before them, committed or not. */
export interface ProcessorKeyValueStore<V = unknown> {
  get(key: unknown): V | undefined;
  put(key: unknown, value: V): void;
  delete(key: unknown): void;
  /** Every entry (committed, then the task's uncommitted writes), in key order. */
  all(): { key: string; value: V }[];
}

/**
 * A window store of the task as a processor sees it: values per key and window start, windows of one size, kept
 * while stream time <= their end + retention (expired ones unseen at once and deleted, with changelog tombstones).
 */
export interface ProcessorWindowStore<V = unknown> {
  put(key: string, windowStart: number, value: V): void;
  fetch(key: string, windowStart: number): V | undefined;
  /** The windows of `key` starting from `from` to `to` (both inclusive), in start order. */
  fetchRange(key: string, from: number, to: number): { windowStart: number; value: V }[];
}

/** A window store a processor declares: its name, the size of its windows and how long they are kept after they end. */
export interface ProcessorWindowStoreSpec {
  name: string;
  windowSizeMs: number;
  retentionMs: number;
}

export interface ProcessorApiContext<KOut = unknown, VOut = unknown> {
  /** The task (`<group>-<partition>`) this processor instance belongs to. */
  readonly taskId: string;
  /** The input record being processed; undefined in a punctuation. */
  recordMetadata(): ProcessorRecordMetadata | undefined;
  getStateStore<V = unknown>(name: string): ProcessorKeyValueStore<V>;
  /** A window store named in `options.windowStores`. */
  getWindowStore<V = unknown>(name: string): ProcessorWindowStore<V>;
  /** To every child of the processor, or to the named child only (see ProcessedStream.child). */
  forward(record: ProcessorRecord<KOut, VOut>, childName?: string): void;
  /**
   * Calls `punctuate(time)` every `intervalMs` of stream time (run by the records that move stream time: nothing
   * happens while no record comes; missed intervals are not caught up one by one) or of wall-clock time (run by the
   * runtime's timer). What a punctuation writes and forwards commits with the task's next commit.
   */
  schedule(intervalMs: number, type: PunctuationType, punctuate: (time: number) => void): Cancellable;
  currentStreamTimeMs(): number;
  currentSystemTimeMs(): number;
}

export interface Processor<KIn = unknown, VIn = unknown, KOut = unknown, VOut = unknown> {
  init?(context: ProcessorApiContext<KOut, VOut>): void;
  process(record: ProcessorRecord<KIn, VIn> & { timestamp: number }): void;
  /** When the task closes (revoked, the streams stop). */
  close?(): void;
}

export type ProcessorSupplier<KIn = unknown, VIn = unknown, KOut = unknown, VOut = unknown> = () => Processor<KIn, VIn, KOut, VOut>;

export interface Schedule {
  intervalMs: number;
  type: PunctuationType;
  next: number;
  punctuate: (time: number) => void;
  cancelled: boolean;
}

/**
 * The Processor API's runtime part of one task: its processors' schedules and close hooks. StreamTask and the
 * TopologyTestDriver each hold one.
 */
export class TaskSchedules {
  private readonly schedules: Schedule[] = [];
  private readonly closeHooks: (() => void)[] = [];

  constructor(private readonly clock: { streamTime(): number; wallClockTime(): number }) {}

  add(intervalMs: number, type: PunctuationType, punctuate: (time: number) => void): Cancellable {
    if (!Number.isInteger(intervalMs) || intervalMs < 1) throw new RangeError(`a punctuation interval must be a whole number of ms >= 1, not ${intervalMs}`);
    // Stream time: due at the first record (aligned to 0, as Kafka Streams); wall-clock: one interval from now.
    const schedule: Schedule = { intervalMs, type, next: type === 'stream-time' ? 0 : this.clock.wallClockTime() + intervalMs, punctuate, cancelled: false };
    this.schedules.push(schedule);
    return {
      cancel: () => {
        if (schedule.cancelled) return;
        schedule.cancelled = true;
        const index = this.schedules.indexOf(schedule);
        if (index >= 0) this.schedules.splice(index, 1);
      },
    };
  }

  /** Where each schedule stands, to put back when the record that ran them failed (see restore). */
  snapshot(): Map<Schedule, number> {
    return new Map(this.schedules.map((schedule) => [schedule, schedule.next]));
  }

  /** The schedules as a snapshot had them: the punctuations a failed record ran will run again with its retry. */
  restore(snapshot: Map<Schedule, number>): void {
    for (const [schedule, next] of snapshot) schedule.next = next;
  }

  onClose(hook: () => void): void {
    this.closeHooks.push(hook);
  }

  /** Runs the stream-time punctuations stream time has reached (after a record moved it). */
  runStreamTime(): void {
    this.runDue('stream-time', this.clock.streamTime());
  }

  /** The wall-clock punctuations due at `now`, each a unit to run (and to keep or drop) on its own. */
  dueWallClock(now: number): { name: string; run: () => void }[] {
    return this.schedules
      .filter((schedule) => schedule.type === 'wall-clock-time' && schedule.next <= now)
      .map((schedule) => ({
        name: `wall-clock punctuation every ${schedule.intervalMs} ms`,
        run: () => this.fire(schedule, now),
      }));
  }

  get hasWallClock(): boolean {
    return this.schedules.some((schedule) => schedule.type === 'wall-clock-time');
  }

  close(): void {
    for (const hook of this.closeHooks.splice(0)) hook();
    this.schedules.length = 0;
  }

  private runDue(type: PunctuationType, now: number): void {
    if (now < 0) return;
    for (const schedule of [...this.schedules]) if (schedule.type === type && !schedule.cancelled && schedule.next <= now) this.fire(schedule, now);
  }

  /** The time of the punctuation running now (the timestamp its forwarded records get); undefined outside one. */
  punctuationTime: number | undefined;

  private fire(schedule: Schedule, now: number): void {
    // The next one on the schedule's grid (its first due time + n intervals) after now: intervals missed meanwhile
    // are skipped, not run one by one, and the grid stays Kafka Streams'.
    schedule.next += (Math.floor((now - schedule.next) / schedule.intervalMs) + 1) * schedule.intervalMs;
    this.punctuationTime = now;
    try {
      schedule.punctuate(now);
    } finally {
      this.punctuationTime = undefined;
    }
  }
}

/** What a task offers the Processor API (StreamTask, the TopologyTestDriver): see ProcessorContext.processorRuntime. */
export interface ProcessorRuntime {
  readonly taskId: string;
  readonly schedules: TaskSchedules;
  recordMetadata(): ProcessorRecordMetadata | undefined;
}
