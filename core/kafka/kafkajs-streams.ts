import { randomUUID } from 'node:crypto';
import { AssignerProtocol, Kafka, Partitioners, type Admin, type Consumer, type PartitionAssigner, type Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import { commitInTransaction, committedOffset, type FollowedPartition, type GroupMember, type InternalTopic, type PartitionFollower, type StreamsClientOptions, type StreamsClients, type TaskCommitter, type TopicReader } from './streams-clients.js';
import { planAssignment, type MemberReport } from './streams-assignment.js';
import { StreamsConsumerAdapter } from './streams-consumer.js';
import { LightError } from '../errors/light-error.js';
import type { DriverMessage, DriverProducer, DriverTransactionalProducer } from './driver.js';
import { kafkajsTransactional, transactionalRetry, withLogging, writerOf, type SendOptions } from './kafkajs-driver.js';
import { toConsumerSettings, toProducerSettings, type ConsumerSettings, type ProducerSettings } from './properties.js';

/** LightStreams' clients on kafkajs: no KIP-447, so exactly_once uses one transactional.id per task. */
export class KafkajsStreamsClients implements StreamsClients {
  readonly consumer: StreamsConsumerAdapter;
  readonly producer: DriverProducer;
  private readonly producerSettings: ProducerSettings;
  private readonly consumerSettings: ConsumerSettings;
  private readonly producerKafka: Kafka;
  private readonly sendOptions: SendOptions;
  private readonly plain: Producer;
  private admin: Admin | undefined;
  private readonly openProducers = new Set<Producer>();

  /** `toolsOfLibrdkafka`: these clients only administer topics and restore stores for the librdkafka transport. */
  constructor(
    private readonly options: StreamsClientOptions,
    private readonly logger: Logger,
    toolsOfLibrdkafka = false,
  ) {
    this.producerSettings = toProducerSettings(options.producerProperties, options.file, 'kafkajs', toolsOfLibrdkafka);
    this.consumerSettings = toConsumerSettings(
      { ...options.consumerProperties, 'group.id': options.applicationId, 'isolation.level': options.readCommitted ? 'read_committed' : 'read_uncommitted' },
      options.file,
      'kafkajs',
      toolsOfLibrdkafka,
    );
    this.producerKafka = new Kafka(withLogging(this.producerSettings.client, logger, 'streams-producer'));
    this.sendOptions = { acks: -1, ...(this.producerSettings.timeoutMs !== undefined ? { timeout: this.producerSettings.timeoutMs } : {}) };
    this.plain = this.producerKafka.producer({ ...this.producerSettings.producer, createPartitioner: Partitioners.DefaultPartitioner });
    const plain = this.plain;
    this.producer = { connect: () => plain.connect(), disconnect: () => plain.disconnect(), write: writerOf((request) => plain.sendBatch(request), this.sendOptions) };
    this.consumer = kafkajsStreamsConsumer(new Kafka(withLogging(this.consumerSettings.client, logger, 'streams-consumer')), this.consumerSettings, advertisingAssigner(options));
  }

  /**
   * The members with their endpoints, assignments and standby tasks (the leader's placement, in each member's
   * assignment user data); `self` is the member whose metadata carries this instance's process id.
   */
  async groupMembers(): Promise<GroupMember[]> {
    const admin = await this.adminClient();
    const { groups } = await admin.describeGroups([this.options.applicationId]);
    return (groups[0]?.members ?? []).map((member) => {
      const metadata = member.memberMetadata.length > 0 ? decodeMemberMetadata(member.memberMetadata) : undefined;
      const assignment = member.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(member.memberAssignment) : null;
      const standbyTasks = standbyTasksOf(assignment?.userData);
      return {
        memberId: member.memberId,
        clientId: member.clientId,
        ...(metadata?.endpoint !== undefined ? { endpoint: metadata.endpoint } : {}),
        assignment: Object.entries(assignment?.assignment ?? {}).map(([topic, partitions]) => ({ topic, partitions })),
        ...(standbyTasks ? { standbyTasks } : {}),
        ...(metadata?.report?.processId === this.options.processId ? { self: true } : {}),
      };
    });
  }

  /** The partition a producer with the default partitioner (murmur2 of the key, as the Java client) writes a key to. */
  partitionOf(key: string | Buffer, partitions: number): number {
    return this.partitioner({ topic: '', partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })), message: { key, value: null } });
  }

  private readonly partitioner = Partitioners.DefaultPartitioner();

  /**
   * A transactional producer of the task's own (`<application.id>-<task>`), its transactions initialised before it
   * is handed out: InitProducerId bumps the id's epoch, which fences a previous owner (a zombie that still holds the
   * task cannot write or commit any more) and completes or aborts its open transaction. kafkajs would do this only
   * lazily at the first transaction, so a zombie that had not committed yet could fence the real owner instead.
   */
  async transactionalCommitter(taskId: string): Promise<TaskCommitter> {
    const { producer, fence } = this.transactionalProducer(`${this.options.applicationId}-${taskId}`);
    await producer.connect();
    try {
      await fence();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    const { applicationId } = this.options;
    return {
      commit: (batches, offsets) => commitInTransaction(producer, batches, offsets, (transaction) => transaction.sendOffsets({ topics: offsets, consumerGroupId: applicationId })),
      close: () => producer.disconnect(),
    };
  }

  private transactionalProducer(transactionalId: string): { producer: DriverTransactionalProducer; fence: () => Promise<void> } {
    const { transactionalId: _ignored, ...config } = this.producerSettings.producer;
    const producer = this.producerKafka.producer({
      ...config,
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: transactionalRetry(this.producerSettings.client.retry),
    });
    const driver = kafkajsTransactional(producer, transactionalId, this.options.applicationId, this.sendOptions);
    return {
      producer: {
        ...driver,
        connect: async () => {
          this.openProducers.add(producer);
          await producer.connect();
        },
        disconnect: async () => {
          this.openProducers.delete(producer);
          await producer.disconnect();
        },
      },
      // An empty transaction: kafkajs initialises the transactional id at its start, and an abort with nothing added
      // sends nothing more.
      fence: async () => {
        const transaction = await producer.transaction();
        await transaction.abort();
      },
    };
  }

  async committedOffsets(topics: string[], partition: number): Promise<Map<string, string | undefined>> {
    const admin = await this.adminClient();
    const committed = await admin.fetchOffsets({ groupId: this.options.applicationId, topics });
    const offsets = new Map<string, string | undefined>();
    for (const { topic, partitions } of committed) {
      // kafkajs answers -1 for a partition with no committed offset.
      offsets.set(topic, committedOffset(partitions.find((candidate) => candidate.partition === partition)?.offset));
    }
    return offsets;
  }

  private async adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.producerKafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  async ensureTopics(topics: InternalTopic[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = await this.adminClient();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter(({ topic }) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map(({ topic, partitions, configs }) => ({ topic, numPartitions: partitions, configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })) })),
      });
    }
    for (const { topic, partitions } of topics.filter(({ topic }) => existing.has(topic))) {
      const actual = await this.partitionCount(topic);
      if (actual !== partitions) {
        throw new LightError('ERR12012', { reason: `internal topic ${topic} has ${actual} partitions, its source ${partitions}: delete it (it is rebuilt from the sources) or give the source its partition count` });
      }
    }
  }

  async partitionCount(topic: string): Promise<number> {
    const admin = await this.adminClient();
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    return metadata.topics[0]?.partitions.length ?? 0;
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    const admin = await this.adminClient();
    // kafkajs lists offsets read_committed: the high offset is the last stable offset.
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map(({ partition, high }) => [partition, high]));
  }

  /**
   * kafkajs has no consumer without a group: a group of its own (a fresh id, so no committed offsets) reads the
   * partition from `from`, with the other partitions of the topic paused. Progress counts the offsets kafkajs
   * skipped too (commit markers, aborted records), which it reports through its batch events only.
   */
  async readPartition(topic: string, partition: number, range: { from: string; to: string }, onMessages: (messages: DriverMessage[]) => void, timeoutMs: number): Promise<void> {
    const to = BigInt(range.to);
    if (BigInt(range.from) >= to) return;
    const consumer = new Kafka(withLogging(this.consumerSettings.client, this.logger, 'streams-restore')).consumer({
      ...this.consumerSettings.consumer,
      groupId: `${this.options.applicationId}-restore-${randomUUID()}`,
      readUncommitted: false,
      // The last offsets before the end are often a commit marker only, which a fetch waits for up to its max wait.
      maxWaitTimeInMs: 50,
    });
    let position = BigInt(range.from);
    let lastProgress = Date.now();
    let failure: unknown;
    const advance = (next: bigint): void => {
      if (next > position) {
        position = next;
        lastProgress = Date.now();
      }
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      if (event.payload.topic === topic && event.payload.partition === partition && event.payload.lastOffset !== null) advance(BigInt(event.payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, (event) => (failure = event.payload.error));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const partitions = (event.payload.memberAssignment[topic] ?? []) as number[];
      const others = partitions.filter((candidate) => candidate !== partition);
      if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
      consumer.seek({ topic, partition, offset: range.from });
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          if (batch.partition !== partition) return;
          const wanted = batch.messages.filter((message) => BigInt(message.offset) >= position && BigInt(message.offset) < to);
          if (wanted.length > 0) onMessages(wanted as unknown as DriverMessage[]);
          const last = batch.messages[batch.messages.length - 1];
          if (last) {
            resolveOffset(last.offset);
            advance(BigInt(last.offset) + 1n);
          }
        },
      });
      while (position < to) {
        if (failure) throw failure;
        if (Date.now() - lastProgress > timeoutMs) throw new Error(`no progress for ${timeoutMs} ms at offset ${position} of ${to}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }

  /**
   * As readPartition, for every partition and until stopped: a group of its own (a fresh id: nothing committed, no
   * other member, so every partition is this reader's), each partition sought to where the reader is — at the first
   * join and after any rejoin. Batches of transaction markers only move the position (END_BATCH_PROCESS).
   */
  async readTopic(topic: string, from: ReadonlyMap<number, string>, onBatch: (partition: number, messages: DriverMessage[], next: string) => void, onError: (error: unknown) => void): Promise<TopicReader> {
    const consumer = new Kafka(withLogging(this.consumerSettings.client, this.logger, 'streams-global')).consumer({
      ...this.consumerSettings.consumer,
      groupId: `${this.options.applicationId}-global-${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 500,
    });
    const positions = new Map<number, bigint>([...from].map(([partition, offset]) => [partition, BigInt(offset)]));
    let stopped = false;
    const take = (partition: number, messages: DriverMessage[], next: bigint): void => {
      const position = positions.get(partition) ?? 0n;
      const wanted = messages.filter((message) => BigInt(message.offset) >= position);
      if (next <= position && wanted.length === 0) return;
      if (next > position) positions.set(partition, next);
      onBatch(partition, wanted, String(next > position ? next : position));
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      if (stopped || event.payload.topic !== topic || event.payload.lastOffset === null) return;
      take(event.payload.partition, [], BigInt(event.payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      if (!stopped && !event.payload.restart) onError(event.payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      for (const partition of (event.payload.memberAssignment[topic] ?? []) as number[]) {
        consumer.seek({ topic, partition, offset: String(positions.get(partition) ?? 0n) });
      }
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          const last = batch.messages[batch.messages.length - 1];
          if (stopped || !last) return;
          take(batch.partition, batch.messages as unknown as DriverMessage[], BigInt(last.offset) + 1n);
          resolveOffset(last.offset);
        },
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return {
      stop: async () => {
        stopped = true;
        await consumer.disconnect().catch(() => undefined);
      },
    };
  }

  /**
   * A consumer of its own group (a fresh id: nothing committed, no other member, so every partition of the topics
   * is its own), the partitions not followed paused, the followed ones sought to where the reader is at the first
   * join and after any rejoin. Batches of transaction markers only (kafkajs does not hand them to eachBatch) move the
   * position through END_BATCH_PROCESS. A batch fetched from beyond the position (fetched before a seek back) is
   * dropped and the partition sought again.
   */
  async followPartitions(
    partitions: readonly FollowedPartition[],
    onBatch: (topic: string, partition: number, messages: DriverMessage[], next: string) => void,
    onError: (error: unknown) => void,
  ): Promise<PartitionFollower> {
    const key = (topic: string, partition: number): string => `${partition}:${topic}`;
    const positions = new Map<string, bigint>(partitions.map(({ topic, partition, from }) => [key(topic, partition), BigInt(from)]));
    const topics = [...new Set(partitions.map(({ topic }) => topic))];
    if (topics.length === 0) return { stop: async () => undefined };
    const consumer = new Kafka(withLogging(this.consumerSettings.client, this.logger, 'streams-standby')).consumer({
      ...this.consumerSettings.consumer,
      groupId: `${this.options.applicationId}-standby-${randomUUID()}`,
      readUncommitted: false,
      maxWaitTimeInMs: 500,
    });
    let stopped = false;
    const advance = (topic: string, partition: number, messages: DriverMessage[], next: bigint): void => {
      const position = positions.get(key(topic, partition));
      if (position === undefined || next <= position) return;
      positions.set(key(topic, partition), next);
      onBatch(topic, partition, messages.filter((message) => BigInt(message.offset) >= position), String(next));
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
      if (stopped || event.payload.lastOffset === null || event.payload.batchSize > 0) return;
      advance(event.payload.topic, event.payload.partition, [], BigInt(event.payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      if (!stopped && !event.payload.restart) onError(event.payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      for (const [topic, assigned] of Object.entries(event.payload.memberAssignment as Record<string, number[]>)) {
        const others = assigned.filter((partition) => !positions.has(key(topic, partition)));
        if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
        for (const partition of assigned) {
          const position = positions.get(key(topic, partition));
          if (position !== undefined) consumer.seek({ topic, partition, offset: String(position) });
        }
      }
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          const last = batch.messages[batch.messages.length - 1];
          if (stopped || !last) return;
          const position = positions.get(key(batch.topic, batch.partition));
          if (position === undefined) return;
          const fetched = batch as unknown as { fetchedOffset: string; lastOffset(): string };
          if (BigInt(fetched.fetchedOffset) > position) {
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(position) });
            return;
          }
          // Past the batch's last offset, a commit marker after its last record included (as kafkajs resolves it).
          advance(batch.topic, batch.partition, batch.messages as unknown as DriverMessage[], BigInt(fetched.lastOffset()) + 1n);
          resolveOffset(last.offset);
        },
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return {
      stop: async () => {
        stopped = true;
        await consumer.disconnect().catch(() => undefined);
      },
    };
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await Promise.allSettled([this.plain.disconnect(), admin?.disconnect(), ...[...this.openProducers].map((producer) => producer.disconnect())]);
  }
}

/**
 * The streams consumer on kafkajs: offsets resolved for fetching, never committed by kafkajs itself; GROUP_JOIN
 * reports each new assignment. kafkajs has no revocation callback: a task's own transactional id fences a late
 * commit instead.
 */
function kafkajsStreamsConsumer(kafka: Kafka, settings: ConsumerSettings, assigner: PartitionAssigner): StreamsConsumerAdapter {
  const consumer: Consumer = kafka.consumer({ ...settings.consumer, partitionAssigners: [assigner] });
  const adapter = new StreamsConsumerAdapter({
    connect: () => consumer.connect(),
    subscribe: (topics) => consumer.subscribe({ topics, fromBeginning: settings.fromBeginning }),
    run: (eachBatch) => consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch }),
    seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
    commitOffsets: (offsets) => consumer.commitOffsets(offsets),
    disconnect: () => consumer.disconnect(),
  });
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    adapter.assigned(Object.entries(event.payload.memberAssignment as Record<string, number[]>).map(([topic, partitions]) => ({ topic, partitions })));
  });
  return adapter;
}

/**
 * The streams assignor: the partitions of one task (partition p of every topic of a task group) go to one member
 * together; tasks are balanced over the members, stay with the member that runs them, and a task whose owner left
 * goes to the member with the most caught-up copy of its stores (planAssignment). With num.standby.replicas the
 * leader also places the standby replicas, in each member's assignment user data (`{"standby":[task, ...]}`); every
 * member reads its own from the group description after the rebalance.
 *
 * A member's subscription metadata is kafkajs' MemberMetadata (version, topics, user data = the query endpoint,
 * Kafka Streams' application.server, as before: a member of an older version still reads it), followed by a trailer:
 * "LSR1" and the member's report as JSON (its process id, active tasks and local state, MemberReport). Kafka's own
 * ConsumerProtocol grows the same way (v1 appended the owned partitions after the user data); a decoder of the
 * earlier layout stops before the trailer. A member without a trailer (an older version) reports nothing.
 */
function advertisingAssigner(options: StreamsClientOptions): PartitionAssigner {
  const { applicationServer: endpoint, taskOf, membership } = options;
  return ({ cluster }) => ({
    name: 'LightStreamsAssigner',
    version: 1,
    async assign({ members, topics }) {
      const tasks = new Map<string, { topic: string; partition: number }[]>();
      for (const topic of topics) {
        for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
          const id = taskOf(topic, partitionId);
          tasks.set(id, [...(tasks.get(id) ?? []), { topic, partition: partitionId }]);
        }
      }
      const plans = planAssignment(
        [...tasks.keys()],
        members.map(({ memberId, memberMetadata }) => {
          const report = decodeMemberMetadata(memberMetadata).report;
          return { memberId, ...(report ? { report } : {}) };
        }),
        { standbyReplicas: membership?.standbyReplicas ?? 0, stateful: (task) => membership?.stateful(task) ?? false },
      );
      return members.map(({ memberId }) => {
        const plan = plans.get(memberId)!;
        const assignment: Record<string, number[]> = {};
        for (const id of plan.active) for (const { topic, partition } of tasks.get(id)!) (assignment[topic] ??= []).push(partition);
        const userData = plan.standby.length > 0 ? Buffer.from(JSON.stringify({ standby: plan.standby })) : Buffer.alloc(0);
        return { memberId, memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment, userData }) };
      });
    },
    protocol: ({ topics }) => ({
      name: 'LightStreamsAssigner',
      metadata: encodeMemberMetadata(topics, endpoint, reportOf(options)),
    }),
  });
}

/** This instance's report for a join; a report that fails is left out (the assignor then knows nothing of it). */
function reportOf(options: StreamsClientOptions): MemberReport {
  try {
    return options.membership?.report() ?? { processId: options.processId, active: [], warm: {} };
  } catch {
    return { processId: options.processId, active: [], warm: {} };
  }
}

const REPORT_TRAILER = Buffer.from('LSR1');

/** kafkajs' MemberMetadata (user data = the endpoint), then the trailer with the member's report. */
export function encodeMemberMetadata(topics: string[], endpoint: string | undefined, report: MemberReport): Buffer {
  const head = AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(endpoint ?? '') });
  return Buffer.concat([head, REPORT_TRAILER, Buffer.from(JSON.stringify(report))]);
}

/** The endpoint and, when the member sent one, its report; anything unreadable in the trailer is ignored. */
export function decodeMemberMetadata(buffer: Buffer): { endpoint?: string; report?: MemberReport } {
  const decoded = AssignerProtocol.MemberMetadata.decode(buffer);
  if (!decoded) return {};
  const userData = decoded.userData as Buffer | null;
  const endpoint = userData && userData.length > 0 ? userData.toString('utf8') : undefined;
  const headLength = AssignerProtocol.MemberMetadata.encode({ version: decoded.version, topics: decoded.topics, userData: userData ?? Buffer.alloc(0) }).length;
  const trailer = buffer.subarray(headLength);
  let report: MemberReport | undefined;
  if (trailer.length > REPORT_TRAILER.length && trailer.subarray(0, REPORT_TRAILER.length).equals(REPORT_TRAILER)) {
    try {
      const parsed = JSON.parse(trailer.subarray(REPORT_TRAILER.length).toString('utf8')) as Partial<MemberReport>;
      if (typeof parsed.processId === 'string') report = { processId: parsed.processId, active: Array.isArray(parsed.active) ? parsed.active.map(String) : [], warm: typeof parsed.warm === 'object' && parsed.warm !== null ? parsed.warm : {} };
    } catch {
      report = undefined;
    }
  }
  return { ...(endpoint !== undefined ? { endpoint } : {}), ...(report ? { report } : {}) };
}

/** The standby tasks a leader placed in an assignment's user data (none from a leader of an older version). */
function standbyTasksOf(userData: Buffer | null | undefined): string[] | undefined {
  if (!userData || userData.length === 0) return undefined;
  try {
    const parsed = JSON.parse(userData.toString('utf8')) as { standby?: unknown };
    return Array.isArray(parsed.standby) ? parsed.standby.map(String) : undefined;
  } catch {
    return undefined;
  }
}
