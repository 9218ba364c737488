import type { DriverMessage } from './driver.js';
import type { RecordOutcome } from './record-processor.js';

/**
 * kafka-consumer.yml `ordering`: records of a partition one after another (`partition`), records of one key one
 * after another but different keys concurrently (`key`, as Confluent's Parallel Consumer does), or all
 * concurrently (`unordered`), up to `maxConcurrency` at once.
 */
export type Ordering = 'partition' | 'key' | 'unordered';

/** Which offset of a batch may be committed: the one before the first record that is not done yet. */
export class OffsetTracker {
  private readonly index = new Map<string, number>();
  private readonly done: boolean[];
  private next = 0;

  constructor(private readonly offsets: readonly string[]) {
    offsets.forEach((offset, i) => this.index.set(offset, i));
    this.done = offsets.map(() => false);
  }

  /** Marks a record done; returns the last offset that may now be committed if that moved, else undefined. */
  complete(offset: string): string | undefined {
    const i = this.index.get(offset);
    if (i === undefined) return undefined;
    this.done[i] = true;
    const before = this.next;
    while (this.next < this.done.length && this.done[this.next]) this.next += 1;
    return this.next > before ? this.offsets[this.next - 1] : undefined;
  }
}

export interface DispatchOptions {
  ordering: 'key' | 'unordered';
  maxConcurrency: number;
  /** False once the consumer stops or the partition was revoked: no new record starts. */
  isRunning(): boolean;
  /**
   * True when the client wants the batch back (DriverBatch.handBack): the records below the highest one started
   * still run, so what is done is a whole prefix of the batch and its end is committable, then no record starts.
   */
  handBack?(): boolean;
  process(message: DriverMessage): Promise<RecordOutcome>;
  /** A record was processed or dead-lettered. */
  onDone(message: DriverMessage, outcome: RecordOutcome): void;
  /** Every record up to and including `offset` is done: it may be committed. */
  onCommittable(offset: string): void;
  /** Keeps the group session alive while records run (called at most every `heartbeatMs`). */
  heartbeat(): Promise<void>;
  heartbeatMs: number;
}

export interface DispatchResult {
  /** The record that stopped its partition (failurePolicy: stop), if one did. */
  stopped?: { message: DriverMessage; error: unknown };
}

type Lane = DriverMessage[];

/**
 * Runs one batch's records concurrently. Each record belongs to a lane — its key under `key` ordering (records
 * without a key share one lane), itself under `unordered` — and a lane runs one record at a time, in offset order;
 * up to maxConcurrency lanes run at once, taking turns in the order they became ready. The committed offset never
 * passes a record in flight or being retried. Once a record stops the partition, or the consumer stops, no record
 * starts; the ones in flight finish before this resolves. When the batch is handed back, the records below the
 * highest one started still run (none above it), so nothing done is left uncommittable.
 */
export function dispatchConcurrently(messages: readonly DriverMessage[], options: DispatchOptions): Promise<DispatchResult> {
  const tracker = new OffsetTracker(messages.map((message) => message.offset));
  const lanes = new Map<unknown, Lane>();
  for (const message of messages) {
    const id = options.ordering === 'key' ? laneOf(message) : message;
    const lane = lanes.get(id);
    if (lane) lane.push(message);
    else lanes.set(id, [message]);
  }
  // Lanes ready to start their next record, oldest next record first (Map keeps insertion = first-offset order).
  const ready: Lane[] = [...lanes.values()];
  let running = 0;
  let halted = false;
  let highestStarted = -1n;
  /** Set once the batch is handed back: only records below it still start. */
  let handBackBelow: bigint | undefined;
  let stopped: DispatchResult['stopped'];
  let failure: { error: unknown } | undefined;

  return new Promise<DispatchResult>((resolve, reject) => {
    let beating = false;
    const beat = setInterval(() => {
      if (beating) return;
      beating = true;
      options.heartbeat().catch(() => undefined).finally(() => (beating = false));
    }, options.heartbeatMs);

    const finishIfIdle = (): void => {
      if (running > 0 || (!halted && ready.length > 0)) return;
      clearInterval(beat);
      if (failure) reject(failure.error);
      else resolve(stopped ? { stopped } : {});
    };

    const run = async (lane: Lane): Promise<void> => {
      const message = lane.shift()!;
      if (BigInt(message.offset) > highestStarted) highestStarted = BigInt(message.offset);
      try {
        const outcome = await options.process(message);
        if (outcome.kind === 'interrupted') {
          halted = true;
        } else if (outcome.kind === 'stopped') {
          halted = true;
          if (!stopped || BigInt(message.offset) < BigInt(stopped.message.offset)) stopped = { message, error: outcome.error };
        } else {
          options.onDone(message, outcome);
          const committable = tracker.complete(message.offset);
          if (committable !== undefined) options.onCommittable(committable);
          if (lane.length > 0) ready.push(lane);
        }
      } catch (error) {
        halted = true;
        failure ??= { error };
      }
    };

    const pump = (): void => {
      if (!options.isRunning()) halted = true;
      if (handBackBelow === undefined && options.handBack?.()) handBackBelow = highestStarted;
      while (!halted && running < options.maxConcurrency && ready.length > 0) {
        const lane = ready.shift()!;
        // A lane's records are in offset order: once its next one is past the hand-back point, the lane is done.
        if (handBackBelow !== undefined && BigInt(lane[0]!.offset) > handBackBelow) continue;
        running += 1;
        void run(lane).finally(() => {
          running -= 1;
          pump();
        });
      }
      finishIfIdle();
    };

    pump();
  });
}

/** A record's key as a lane id: the bytes as a string (one char per byte), or null for records without a key. */
function laneOf(message: DriverMessage): string | null {
  return message.key === null ? null : message.key.toString('latin1');
}
