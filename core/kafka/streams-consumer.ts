import { AssignmentGate, toStreamsBatch, type Assignment, type StreamsBatch, type StreamsConsumer } from './streams-clients.js';
import type { TopicOffsets } from './driver.js';

/** A fetched batch as both clients' eachBatch hands it over. */
export type BatchPayload = Parameters<typeof toStreamsBatch>[0];

/** What a transport's group consumer offers the streams consumer: the few calls that differ between clients. */
export interface GroupConsumerClient {
  connect(): Promise<void>;
  subscribe(topics: (string | RegExp)[]): Promise<void>;
  /** Runs the fetch loop without committing offsets, handing each partition's batch to `eachBatch`. */
  run(eachBatch: (payload: BatchPayload) => Promise<void>): Promise<void>;
  seek(topic: string, partition: number, offset: string): void;
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * The streams consumer of every transport (the one adapter shape): batches wait for the assignment listeners
 * (AssignmentGate), revocation listeners run before the client rejoins, offsets are committed only when asked.
 * A transport makes its client and reports its rebalances through assigned() and revoked().
 */
export class StreamsConsumerAdapter implements StreamsConsumer {
  private readonly gate = new AssignmentGate();
  private readonly revocationListeners: ((lost: boolean) => Promise<void>)[] = [];
  /** The assignment of the last rebalance (empty after a revocation, until the next one). */
  private current: Assignment = [];

  constructor(
    private readonly groupClient: GroupConsumerClient,
    /** How a payload becomes a StreamsBatch (librdkafka hands batches back in time slices). */
    private readonly toBatch: (payload: BatchPayload) => StreamsBatch = (payload) => toStreamsBatch(payload),
  ) {}

  /** The transport's rebalance event: the whole new assignment. */
  assigned(assignment: Assignment): void {
    this.current = assignment;
    this.gate.announce(assignment);
  }

  /** The partitions this consumer was assigned at the last rebalance. */
  get assignment(): Assignment {
    return this.current;
  }

  /** The transport's revocation event (`lost`: dropped from the group); the client rejoins once this resolves. */
  async revoked(lost: boolean): Promise<void> {
    this.current = [];
    for (const listener of this.revocationListeners) await listener(lost);
  }

  /**
   * A cooperative rebalance (KIP-848's consumer protocol) hands over only the partitions added: the rest of the
   * assignment stays, so the listeners get the whole new one.
   */
  added(partitions: readonly TopicPartition[]): void {
    this.assigned(withPartitions(this.current, partitions, true));
  }

  /**
   * A cooperative rebalance's revoked partitions: the revocation listeners run (work under way ends, commits wait),
   * then the rest of the assignment is announced, so the tasks of the revoked partitions close and the others go on.
   */
  async removed(partitions: readonly TopicPartition[], lost: boolean): Promise<void> {
    const rest = lost ? [] : withPartitions(this.current, partitions, false);
    // An assignment announced before is handled first: the revocation then finds its tasks open.
    await this.gate.idle();
    for (const listener of this.revocationListeners) await listener(lost);
    this.assigned(rest);
  }

  connect(): Promise<void> {
    return this.groupClient.connect();
  }

  subscribe(topics: (string | RegExp)[]): Promise<void> {
    return this.groupClient.subscribe(topics);
  }

  run(eachBatch: (batch: StreamsBatch) => Promise<void>): Promise<void> {
    return this.groupClient.run(async (payload) => {
      await this.gate.settled(payload.heartbeat);
      await eachBatch(this.toBatch(payload));
    });
  }

  onAssignment(listener: (assignment: Assignment) => Promise<void> | void): void {
    this.gate.add(listener);
  }

  onRevocation(listener: (lost: boolean) => Promise<void>): void {
    this.revocationListeners.push(listener);
  }

  seek(topic: string, partition: number, offset: string): void {
    this.groupClient.seek(topic, partition, offset);
  }

  commitOffsets(offsets: TopicOffsets[]): Promise<void> {
    return this.groupClient.commitOffsets(offsets.flatMap(({ topic, partitions }) => partitions.map(({ partition, offset }) => ({ topic, partition, offset }))));
  }

  disconnect(): Promise<void> {
    return this.groupClient.disconnect();
  }
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** `assignment` with `partitions` added (`add`) or taken out, topics and partitions in order. */
export function withPartitions(assignment: Assignment, partitions: readonly TopicPartition[], add: boolean): Assignment {
  const byTopic = new Map(assignment.map(({ topic, partitions: list }) => [topic, new Set(list)]));
  for (const { topic, partition } of partitions) {
    const set = byTopic.get(topic) ?? new Set<number>();
    if (add) set.add(partition);
    else set.delete(partition);
    byTopic.set(topic, set);
  }
  return [...byTopic]
    .filter(([, set]) => set.size > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([topic, set]) => ({ topic, partitions: [...set].sort((a, b) => a - b) }));
}
