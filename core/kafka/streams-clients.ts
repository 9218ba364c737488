import type { BatchWriter, PartitionAck, TransportMessage } from '../transport.js';
import type { DriverMessage, DriverProducer, DriverTransaction, DriverTransactionalProducer, TopicOffsets } from './driver.js';
import type { MemberReport } from './streams-assignment.js';

/** Where a task's outputs and changelog records go at commit, with its input offsets. */
export interface TaskCommitter {
  /** Writes the records and commits the offsets: atomically under exactly_once. */
  commit(batches: { topic: string; messages: TransportMessage[] }[], offsets: TopicOffsets[]): Promise<PartitionAck[]>;
  close(): Promise<void>;
}

/**
 * The Kafka clients LightStreams runs on, one set per LightStreams instance, behind one contract so that each
 * transport (kafkajs, librdkafka) provides its own. Offsets are never committed automatically: LightStreams
 * commits them in its transactions (exactly_once) or after the outputs are written (at_least_once).
 */

/** The records of one partition handed to LightStreams at once. */
export interface StreamsBatch {
  topic: string;
  partition: number;
  highWatermark: string;
  messages: DriverMessage[];
  /** Marks an offset processed, so the client fetches on after it (nothing is committed). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  /** True once the partition was revoked under the batch. */
  isStale(): boolean;
  /**
   * True when the batch should be handed back now (the rest fetched again): librdkafka's compatible API serves a
   * rebalance only between batches, and hands over everything fetched for a partition as one batch.
   */
  handBack(): boolean;
}

/** The partitions this instance owns after a rebalance. */
export type Assignment = { topic: string; partitions: number[] }[];

export interface StreamsConsumer {
  connect(): Promise<void>;
  subscribe(topics: (string | RegExp)[]): Promise<void>;
  /** Runs the fetch loop; `eachBatch` of one partition never runs twice at once. */
  run(eachBatch: (batch: StreamsBatch) => Promise<void>): Promise<void>;
  /** Called after each rebalance with the whole new assignment, before the batches of newly assigned partitions. */
  onAssignment(listener: (assignment: Assignment) => Promise<void> | void): void;
  /**
   * Called when the client gives up its partitions for a rebalance, before it rejoins the group (`lost`: it was
   * dropped from the group, another member may own them already); the rejoin waits for the listener. librdkafka
   * calls it (KIP-447 fences by generation only, so nothing may commit between a revocation and the next
   * assignment); kafkajs never does (a task's transactional id fences its previous owner).
   */
  onRevocation(listener: (lost: boolean) => Promise<void>): void;
  /** Fetches the partition from `offset` on (the records after it that were fetched are dropped). */
  seek(topic: string, partition: number, offset: string): void;
  /** Commits offsets (of the next record to read) outside any transaction: at_least_once. */
  commitOffsets(offsets: TopicOffsets[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** A member of the streams group: where it answers queries (if it advertises), and what it owns. */
export interface GroupMember {
  memberId: string;
  clientId: string;
  endpoint?: string;
  assignment: Assignment;
  /** The tasks this member keeps standby replicas of (num.standby.replicas), as the group's placement says. */
  standbyTasks?: string[];
  /** True for this instance itself (when the transport can tell: see each transport's groupMembers). */
  self?: boolean;
}

/** Changelog partitions a standby follows, each from its checkpoint. */
export interface FollowedPartition {
  topic: string;
  partition: number;
  from: string;
}

/** A running reader of changelog partitions (see StreamsClients.followPartitions). */
export interface PartitionFollower {
  stop(): Promise<void>;
}

/** A topic LightStreams creates: changelogs (compacted) and the like. */
export interface InternalTopic {
  topic: string;
  partitions: number;
  configs: Record<string, string>;
}

export interface StreamsClients {
  readonly consumer: StreamsConsumer;
  /** The plain producer (at_least_once): idempotent, acks all. */
  readonly producer: DriverProducer;
  /**
   * The exactly_once committer of a task, ready to commit: on kafkajs a transactional producer of the task's own
   * (`<application.id>-<task>`; opening it fences a previous owner and aborts its open transaction); on librdkafka
   * the instance's one transactional producer, whose offsets carry the consumer's group metadata (KIP-447).
   */
  transactionalCommitter(taskId: string): Promise<TaskCommitter>;
  /** Creates the topics that do not exist yet; an existing topic with another partition count is an error. */
  ensureTopics(topics: InternalTopic[]): Promise<void>;
  /** The number of partitions of a topic. */
  partitionCount(topic: string): Promise<number>;
  /** The offset after the last committed record of each partition (read_committed: the last stable offset). */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /**
   * Reads one partition from `from` up to `to` (committed records only), handing the records over in batches;
   * fails when no progress is made for `timeoutMs`.
   */
  readPartition(topic: string, partition: number, range: { from: string; to: string }, onMessages: (messages: DriverMessage[]) => void, timeoutMs: number): Promise<void>;
  /**
   * Reads partitions from the given offsets on, without end and outside the streams group (no offsets committed),
   * committed records only, until stopped: standby replicas follow their changelogs so. `onBatch` gets each batch
   * with the offset after it, past transaction markers too (a batch of markers only comes with no messages); it is
   * never called twice at once. `onError`: the reader stopped on an error it cannot recover from.
   */
  followPartitions(
    partitions: readonly FollowedPartition[],
    onBatch: (topic: string, partition: number, messages: DriverMessage[], next: string) => void,
    onError: (error: unknown) => void,
  ): Promise<PartitionFollower>;
  /**
   * Reads every partition of a topic from `from` on (committed records only; a partition not in `from` from its
   * start), outside the streams' group and committing nothing, until stopped — global tables. `onBatch(partition,
   * messages, next)` per fetched batch, `next` being the offset after it (the messages may be none when the batch held
   * only transaction markers or aborted records). `onError`: the reader failed and stopped.
   */
  readTopic(topic: string, from: ReadonlyMap<number, string>, onBatch: (partition: number, messages: DriverMessage[], next: string) => void, onError: (error: unknown) => void): Promise<TopicReader>;
  /**
   * The group's committed offsets (of the next record to read) of one partition of each topic; undefined where
   * none is committed. Read after a task's producer was opened, so a previous owner's last transaction is complete.
   */
  committedOffsets(topics: string[], partition: number): Promise<Map<string, string | undefined>>;
  /** The members of the streams group now, with their advertised endpoints and assignments. */
  groupMembers(): Promise<GroupMember[]>;
  /** The partition the default partitioner writes `key` to. */
  partitionOf(key: string | Buffer, partitions: number): number;
  disconnect(): Promise<void>;
}

/** A running read of a whole topic (see StreamsClients.readTopic). */
export interface TopicReader {
  stop(): Promise<void>;
}

/** A committed offset as a client answers it, or undefined where none is committed (no answer, null or negative). */
export function committedOffset(offset: string | number | null | undefined): string | undefined {
  return offset === undefined || offset === null || BigInt(offset) < 0n ? undefined : String(offset);
}

/** What a LightStreams instance asks its transport for. */
export interface StreamsClientOptions {
  applicationId: string;
  readCommitted: boolean;
  /** kafka-streams.yml properties for the consumer and the producers (prefixes consumer. / producer. already split). */
  consumerProperties: Record<string, unknown>;
  producerProperties: Record<string, unknown>;
  file: string;
  /** This instance's id, kept in state.dir across restarts (names librdkafka's transactional producer). */
  processId: string;
  /** The task of a topic-partition: the partitions of one task are assigned to one member together. */
  taskOf(topic: string, partition: number): string;
  /** host:port this instance answers queries on, advertised to the group (application.server). */
  applicationServer?: string;
  /** What the assignment needs from LightStreams: standby replicas and this instance's tasks and local state. */
  membership?: MembershipHooks;
}

/** LightStreams' side of task placement (see streams-assignment.ts). */
export interface MembershipHooks {
  /** num.standby.replicas. */
  standbyReplicas: number;
  /** True for a task with state stores (only those have standbys). */
  stateful(task: string): boolean;
  /** This instance's tasks and local state now (kafkajs: reported at each join). */
  report(): MemberReport;
}

/**
 * Between a rebalance and the batches of newly assigned partitions: the assignment listeners (tasks opened, stores
 * restored) run one rebalance after another, and a batch waits until they are done, keeping the group session
 * alive meanwhile.
 */
export class AssignmentGate {
  private readonly listeners: ((assignment: Assignment) => Promise<void> | void)[] = [];
  private done: Promise<void> = Promise.resolve();

  add(listener: (assignment: Assignment) => Promise<void> | void): void {
    this.listeners.push(listener);
  }

  /** `onError`: a listener that fails is reported there; the batches go on (a task that did not open opens lazily). */
  announce(assignment: Assignment, onError: (error: unknown) => void = () => undefined): void {
    this.done = this.done.then(async () => {
      for (const listener of this.listeners) {
        try {
          await listener(assignment);
        } catch (error) {
          onError(error);
        }
      }
    });
  }

  /** Resolves once every assignment announced so far was handled (listener failures were reported already). */
  idle(): Promise<void> {
    return this.done;
  }

  /** Resolves once every announced assignment was handled; heartbeats every second until then. */
  async settled(heartbeat: () => Promise<void>): Promise<void> {
    const ready = this.done;
    let finished = false;
    const finish = (): void => void (finished = true);
    ready.then(finish, finish);
    while (!finished) {
      await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 1000))]);
      if (!finished) await heartbeat();
    }
    await ready;
  }
}

/** The eachBatch payload of both clients as LightStreams takes it. */
export function toStreamsBatch(
  payload: {
    batch: { topic: string; partition: number; highWatermark: string; messages: unknown[] };
    resolveOffset(offset: string): void;
    heartbeat(): Promise<void>;
    isRunning(): boolean;
    isStale(): boolean;
  },
  handBack: () => boolean = () => false,
): StreamsBatch {
  const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
  return { topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, messages: batch.messages as DriverMessage[], resolveOffset, heartbeat, isRunning, isStale, handBack };
}

/** exactly_once on a transactional producer: outputs, changelog records and offsets in one transaction. */
export async function commitInTransaction(
  producer: DriverTransactionalProducer,
  batches: { topic: string; messages: TransportMessage[] }[],
  offsets: TopicOffsets[],
  sendOffsets: (transaction: DriverTransaction) => Promise<void>,
): Promise<PartitionAck[]> {
  const transaction = await producer.begin();
  try {
    const acks = batches.length > 0 ? await transaction.write(batches) : [];
    if (offsets.length > 0) await sendOffsets(transaction);
    await transaction.commit();
    return acks;
  } catch (error) {
    await transaction.abort().catch(() => undefined);
    throw error;
  }
}

/** at_least_once: outputs and changelog first (acks all), then the offsets. */
export function plainCommitter(write: BatchWriter, commitOffsets: (offsets: TopicOffsets[]) => Promise<void>): TaskCommitter {
  return {
    async commit(batches, offsets) {
      const acks = batches.length > 0 ? await write(batches) : [];
      if (offsets.length > 0) await commitOffsets(offsets);
      return acks;
    },
    close: async () => undefined,
  };
}
