import type { Logger } from '../logger.js';
import { commitInTransaction, committedOffset, toStreamsBatch, type Assignment, type FollowedPartition, type GroupMember, type InternalTopic, type PartitionFollower, type StreamsClientOptions, type StreamsClients, type TaskCommitter, type TopicReader } from './streams-clients.js';
import { rangeStandbys } from './streams-assignment.js';
import { StreamsConsumerAdapter, withPartitions, type TopicPartition } from './streams-consumer.js';
import type { DriverMessage, DriverProducer, DriverTransactionalProducer } from './driver.js';
import { KafkajsStreamsClients } from './kafkajs-streams.js';
import type { LibrdkafkaConsumerClient, LibrdkafkaKafka, LibrdkafkaProducer } from './librdkafka-api.js';
import { batchSlice } from './batch-slice.js';
import { librdkafkaTransactional, transactionalConfig, loadLibrdkafkaClient, loggerFor, writerOf } from './librdkafka-driver.js';
import { toConsumerSettings, toProducerSettings, type NativeConfig } from './properties.js';

/** The instance's transactional producer, its transaction driver, and its connect (which initialises transactions). */
type SharedProducer = { producer: LibrdkafkaProducer; driver: DriverTransactionalProducer; connected: Promise<void> };

/**
 * LightStreams' clients on librdkafka. Exactly-once uses KIP-447: one transactional producer per instance
 * (`<application.id>-<process id>`, the process id kept in state.dir so a restart aborts what a crash left open),
 * whose offsets carry the consumer's group metadata, so a member fenced out of the group by a rebalance cannot
 * commit. The assignor is librdkafka's `range`: with every member subscribed to the same topics, partition p of
 * co-partitioned topics goes to one member. librdkafka gives no assignor user data, so a member advertises its
 * query endpoint in its client.id (`<application.id>@<host:port>`). Topic administration, changelog restores and
 * the key partitioner use kafkajs, which light-kafka always installs.
 */
export class LibrdkafkaStreamsClients implements StreamsClients {
  readonly consumer: LibrdkafkaStreamsConsumer;
  readonly producer: DriverProducer;
  private readonly tools: KafkajsStreamsClients;
  private readonly kafka: LibrdkafkaKafka;
  private readonly producerConfig: NativeConfig;
  private readonly plain: LibrdkafkaProducer;
  private shared: SharedProducer | undefined;
  private commitQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: StreamsClientOptions,
    private readonly logger: Logger,
  ) {
    const client = loadLibrdkafkaClient();
    this.kafka = new client.KafkaJS.Kafka({});
    this.tools = new KafkajsStreamsClients(options, logger, true);
    this.producerConfig = toProducerSettings(options.producerProperties, options.file, 'librdkafka').librdkafka;
    const consumerConfig = toConsumerSettings(
      { ...options.consumerProperties, 'group.id': options.applicationId, 'isolation.level': options.readCommitted ? 'read_committed' : 'read_uncommitted' },
      options.file,
      'librdkafka',
    ).librdkafka;
    this.plain = this.kafka.producer({ kafkaJS: { logger: loggerFor(logger, 'streams-producer') }, ...this.producerConfig });
    const plain = this.plain;
    this.producer = { connect: () => plain.connect(), disconnect: () => plain.disconnect(), write: writerOf(plain) };
    this.consumer = LibrdkafkaStreamsConsumer.create(client.CODES.ERRORS.ERR__ASSIGN_PARTITIONS, this.kafka, {
      ...consumerConfig,
      ...assignorOf(consumerConfig),
      ...(options.applicationServer ? { 'client.id': `${options.applicationId}@${options.applicationServer}` } : {}),
    }, options.applicationId, logger);
  }

  /** The instance's transactional producer, made (and its transactions initialised) on first use or after a failure. */
  private sharedProducer(): SharedProducer {
    if (!this.shared) {
      const transactionalId = `${this.options.applicationId}-${this.options.processId}`;
      const producer = this.kafka.producer({ kafkaJS: { logger: loggerFor(this.logger, 'streams-producer') }, ...transactionalConfig(this.producerConfig, transactionalId) });
      const consumer = { groupId: this.options.applicationId, client: this.consumer.client };
      const driver = librdkafkaTransactional(producer, transactionalId, consumer, Number(this.producerConfig['transaction.timeout.ms'] ?? 60000));
      this.shared = { producer, driver, connected: producer.connect() };
    }
    return this.shared;
  }

  /** The shared producer once connected; one that failed to connect (init transactions) is dropped, not awaited again. */
  private async connectedShared(): Promise<SharedProducer> {
    const shared = this.sharedProducer();
    try {
      await shared.connected;
      return shared;
    } catch (error) {
      await this.dropShared(shared);
      throw error;
    }
  }

  private async dropShared(shared: SharedProducer): Promise<void> {
    if (this.shared === shared) this.shared = undefined;
    await shared.producer.disconnect().catch(() => undefined);
  }

  async transactionalCommitter(): Promise<TaskCommitter> {
    await this.connectedShared();
    return {
      // One transaction at a time on the shared producer; a failed one leaves the producer to be made anew.
      commit: (batches, offsets) => {
        const run = this.commitQueue.then(async () => {
          const shared = await this.connectedShared();
          try {
            return await commitInTransaction(shared.driver, batches, offsets, (transaction) => transaction.sendOffsets({ topics: offsets }));
          } catch (error) {
            await this.dropShared(shared);
            throw error;
          }
        });
        this.commitQueue = run.catch(() => undefined);
        return run;
      },
      close: async () => undefined,
    };
  }

  ensureTopics(topics: InternalTopic[]): Promise<void> {
    return this.tools.ensureTopics(topics);
  }

  partitionCount(topic: string): Promise<number> {
    return this.tools.partitionCount(topic);
  }

  endOffsets(topic: string): Promise<Map<number, string>> {
    return this.tools.endOffsets(topic);
  }

  readPartition(topic: string, partition: number, range: { from: string; to: string }, onMessages: (messages: DriverMessage[]) => void, timeoutMs: number): Promise<void> {
    return this.tools.readPartition(topic, partition, range, onMessages, timeoutMs);
  }

  /** On the kafkajs tools, as restores: a reader outside any group needs no KIP-447 and no librdkafka consumer. */
  readTopic(topic: string, from: ReadonlyMap<number, string>, onBatch: (partition: number, messages: DriverMessage[], next: string) => void, onError: (error: unknown) => void): Promise<TopicReader> {
    return this.tools.readTopic(topic, from, onBatch, onError);
  }

  /** On the kafkajs tools, as restores: a reader outside any group needs no KIP-447 and no librdkafka consumer. */
  followPartitions(partitions: readonly FollowedPartition[], onBatch: (topic: string, partition: number, messages: DriverMessage[], next: string) => void, onError: (error: unknown) => void): Promise<PartitionFollower> {
    return this.tools.followPartitions(partitions, onBatch, onError);
  }

  partitionOf(key: string | Buffer, partitions: number): number {
    return this.tools.partitionOf(key, partitions);
  }

  /** From the consumer: librdkafka asks for stable offsets under read_committed (KIP-447), so a pending transaction's offsets are waited for. */
  async committedOffsets(topics: string[], partition: number): Promise<Map<string, string | undefined>> {
    const committed = await this.consumer.committed(topics.map((topic) => ({ topic, partition })));
    return new Map(topics.map((topic) => {
      // librdkafka answers null (or -1001, OFFSET_INVALID) for a partition with no committed offset.
      return [topic, committedOffset(committed.find((entry) => entry.topic === topic && entry.partition === partition)?.offset)];
    }));
  }

  /**
   * The members with their endpoints (from their client.id) and, with num.standby.replicas, the standby tasks each
   * keeps: librdkafka's `range` assignor cannot be told where they are, so every instance computes the same
   * placement from the group description (rangeStandbys: where range would move a task if its owner left).
   * librdkafka does not tell a consumer its member id: this instance is the member with its client.id when that is
   * unique (application.server set), else the one with its assignment (unique when not empty), else the only member
   * without partitions; otherwise it does not know itself (and keeps no standby until the next rebalance).
   */
  async groupMembers(): Promise<GroupMember[]> {
    const prefix = `${this.options.applicationId}@`;
    const members: GroupMember[] = (await this.tools.groupMembers()).map((member) => {
      const { endpoint: _none, self: _unknown, standbyTasks: _placed, ...rest } = member;
      return member.clientId.startsWith(prefix) ? { ...rest, endpoint: member.clientId.slice(prefix.length) } : rest;
    });
    const self = this.selfAmong(members);
    if (self) self.self = true;
    const membership = this.options.membership;
    if (membership && membership.standbyReplicas > 0) {
      const placement = rangeStandbys(members, this.options.taskOf, (task) => membership.stateful(task), membership.standbyReplicas);
      for (const member of members) member.standbyTasks = placement.get(member.memberId) ?? [];
    }
    return members;
  }

  private selfAmong(members: GroupMember[]): GroupMember | undefined {
    const clientId = this.options.applicationServer ? `${this.options.applicationId}@${this.options.applicationServer}` : undefined;
    const byClientId = clientId ? members.filter((member) => member.clientId === clientId) : [];
    if (byClientId.length === 1) return byClientId[0];
    const mine = assignmentKey(this.consumer.assignment);
    const byAssignment = members.filter((member) => assignmentKey(member.assignment) === mine);
    if (byAssignment.length === 1) return byAssignment[0];
    return undefined;
  }

  async disconnect(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    await Promise.allSettled([this.plain.disconnect(), shared?.producer.disconnect(), this.tools.disconnect()]);
  }
}

/** An assignment as a comparable string: its topic-partitions, sorted. */
function assignmentKey(assignment: Assignment): string {
  return assignment
    .flatMap(({ topic, partitions }) => partitions.map((partition) => `${topic}:${partition}`))
    .sort()
    .join(',');
}

/**
 * The streams consumer on librdkafka's compatible API, offsets never committed by the client. Its rebalance
 * callback reports assignments and, awaited by the API before it unassigns (librdkafka rejoins only then),
 * revocations. A batch here is everything fetched for the partition, and the API serves a rebalance only between
 * batches: a batch is handed back when its time slice is over (batchSlice: 1 s after its first record was done; the
 * API fetches the records not resolved again), so a rebalance waits about that long, not for the backlog.
 */
/**
 * A task is partition N of every source topic, so the group must give one member the same partitions of each topic:
 * the range assignor does, client-side on the classic protocol and on the broker with the consumer protocol (KIP-848,
 * where the client may not name a strategy).
 */
function assignorOf(config: NativeConfig): NativeConfig {
  return config['group.protocol'] === 'consumer' ? { 'group.remote.assignor': 'range' } : { 'partition.assignment.strategy': 'range' };
}

class LibrdkafkaStreamsConsumer extends StreamsConsumerAdapter {
  constructor(
    readonly client: LibrdkafkaConsumerClient,
  ) {
    const api = client as unknown as {
      seek(target: { topic: string; partition: number; offset: string }): void;
      commitOffsets(list: { topic: string; partition: number; offset: string }[]): Promise<void>;
    };
    super(
      {
        connect: () => client.connect(),
        subscribe: (topics) => client.subscribe({ topics }),
        run: (eachBatch) => client.run({ eachBatchAutoResolve: false, eachBatch }),
        seek: (topic, partition, offset) => api.seek({ topic, partition, offset }),
        commitOffsets: (offsets) => api.commitOffsets(offsets),
        disconnect: () => client.disconnect(),
      },
      (payload) => {
        const slice = batchSlice(payload.resolveOffset);
        return { ...toStreamsBatch(payload, slice.over), resolveOffset: slice.resolveOffset };
      },
    );
  }

  /** The consumer with its rebalance callback wired to the adapter. */
  static create(assignCode: number, kafka: LibrdkafkaKafka, config: NativeConfig, groupId: string, logger: Logger): LibrdkafkaStreamsConsumer {
    const adapter: { consumer?: LibrdkafkaStreamsConsumer } = {};
    const onRebalance = async (error: { code: number }, assignment: TopicPartition[], functions?: { assignmentLost?: () => boolean }): Promise<void> => {
      const consumer = adapter.consumer!;
      // The classic protocol with the range assignor is eager (whole assignments); the consumer protocol (KIP-848)
      // is cooperative: each event names only the partitions added or revoked.
      const cooperative = (consumer.client as unknown as { rebalanceProtocol(): string }).rebalanceProtocol() === 'COOPERATIVE';
      const lost = functions?.assignmentLost?.() ?? false;
      if (error.code !== assignCode) {
        await (cooperative ? consumer.removed(assignment, lost) : consumer.revoked(lost));
        return;
      }
      if (cooperative) consumer.added(assignment);
      else consumer.assigned(withPartitions([], assignment, true));
    };
    const client = kafka.consumer({
      kafkaJS: { groupId, logger: loggerFor(logger, 'streams-consumer'), autoCommit: false },
      ...config,
      'enable.auto.commit': false,
      rebalance_cb: onRebalance,
    });
    return (adapter.consumer = new LibrdkafkaStreamsConsumer(client));
  }

  /** The group's committed offsets, asked for as stable offsets (read_committed). */
  async committed(partitions: { topic: string; partition: number }[]): Promise<{ topic: string; partition: number; offset: string | null }[]> {
    return (this.client as unknown as { committed(list: { topic: string; partition: number }[], timeout?: number): Promise<{ topic: string; partition: number; offset: string | null }[]> }).committed(partitions, 30_000);
  }
}
