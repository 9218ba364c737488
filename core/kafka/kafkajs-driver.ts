import { Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type Consumer, type KafkaConfig, type LogEntry, type Producer, type RecordMetadata, type RetryOptions } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { BatchWriter, PartitionAck, RawSender } from '../transport.js';
import type { DriverBatch, DriverConsumer, DriverConsumerEvents, DriverProducer, DriverTransaction, DriverTransactionalProducer, KafkaDriver } from './driver.js';
import { assertKafkajsPatched } from './kafkajs-patch.js';
import { toDriverBatch, toTopicMessages } from './client-shapes.js';
import type { ConsumerSettings, ProducerSettings } from './properties.js';
import { rawSenderOver } from './raw-sender.js';

/** Per-send options of kafka-producer.yml: kafkajs takes them with each request. */
export interface SendOptions {
  acks: number;
  timeout?: number;
  compression?: number;
}

/**
 * The kafkajs clients of one service (the patches of patches/ must be installed): a plain producer, a
 * transactional one when a transactional.id is set, the consumer, and an admin client for the health probe.
 */
export class KafkajsDriver implements KafkaDriver {
  readonly name = 'kafkajs';
  readonly brokers: string[];
  readonly producer: DriverProducer;
  readonly transactional: DriverTransactionalProducer | undefined;
  readonly consumer: KafkajsConsumer;
  readonly rawSender: RawSender;
  private admin: Admin | undefined;
  private adminTimeoutMs: number | undefined;
  private readonly producers: Producer[];

  constructor(
    private readonly producerSettings: ProducerSettings,
    consumerSettings: ConsumerSettings,
    private readonly logger: Logger,
  ) {
    assertKafkajsPatched();
    const { transactionalId, ...plainConfig } = producerSettings.producer;
    const producerKafka = new Kafka(withLogging(producerSettings.client, logger, 'producer'));
    const options: SendOptions = {
      acks: producerSettings.acks,
      ...(producerSettings.timeoutMs !== undefined ? { timeout: producerSettings.timeoutMs } : {}),
      ...(producerSettings.compression !== undefined ? { compression: producerSettings.compression } : {}),
    };
    const plain = producerKafka.producer({ ...plainConfig, createPartitioner: Partitioners.DefaultPartitioner });
    this.producers = [plain];
    this.producer = { connect: () => plain.connect(), disconnect: () => plain.disconnect(), write: writerOf((request) => plain.sendBatch(request), options) };
    this.rawSender = rawSenderOver(writerOf((request) => plain.sendBatch(request), { ...options, acks: -1 }));
    this.consumer = new KafkajsConsumer(new Kafka(withLogging(consumerSettings.client, logger, 'consumer')), consumerSettings);
    if (transactionalId) {
      const producer = producerKafka.producer({
        ...plainConfig,
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: transactionalRetry(producerSettings.client.retry),
      });
      this.producers.push(producer);
      this.transactional = kafkajsTransactional(producer, transactionalId, this.consumer.groupId, options);
    }
    this.brokers = [...new Set([...producerSettings.client.brokers as string[], ...(consumerSettings.client.brokers as string[])])];
  }

  async connectProducers(): Promise<void> {
    await Promise.all(this.producers.map((producer) => producer.connect()));
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await Promise.allSettled([...this.producers.map((producer) => producer.disconnect()), admin?.disconnect()]);
  }

  async brokerAnswers(timeoutMs: number): Promise<boolean> {
    try {
      if (!this.admin || this.adminTimeoutMs !== timeoutMs) {
        await this.admin?.disconnect().catch(() => undefined);
        this.adminTimeoutMs = timeoutMs;
        this.admin = new Kafka({
          ...withLogging(this.producerSettings.client, this.logger, 'admin'),
          retry: { retries: 0 },
          connectionTimeout: Math.min(timeoutMs, 3000),
          requestTimeout: timeoutMs,
        }).admin();
        await this.admin.connect();
      }
      const cluster = await this.admin.describeCluster();
      return cluster.brokers.length > 0;
    } catch {
      // Reconnect on the next probe: a broken connection is not reused.
      const admin = this.admin;
      this.admin = undefined;
      await admin?.disconnect().catch(() => undefined);
      return false;
    }
  }
}

/**
 * The first request of a transaction often meets CONCURRENT_TRANSACTIONS while the coordinator still writes the
 * previous commit's markers (a few ms); kafkajs's first backoff of 300 ms made one-record transactions run at
 * ~6/s. Unless kafka-producer.yml sets retry.backoff.ms / retries, the transactional producer starts at 20 ms and
 * retries 9 times, which keeps about the same total budget (~10 s) for a real outage. The patched kafkajs retries
 * a transaction's AddOffsetsToTxn and EndTxn with the same settings.
 */
export function transactionalRetry(retry: RetryOptions | undefined): RetryOptions {
  return { ...retry, initialRetryTime: retry?.initialRetryTime ?? 20, retries: retry?.retries ?? 9 };
}

/** A transactional producer of kafkajs as the driver contract has it; offsets go to `groupId` unless a call names another. */
export function kafkajsTransactional(producer: Producer, transactionalId: string, groupId: string, options: SendOptions): DriverTransactionalProducer {
  return {
    transactionalId,
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async begin(): Promise<DriverTransaction> {
      const transaction = await producer.transaction();
      return {
        write: writerOf((request) => transaction.sendBatch(request), { ...options, acks: -1 }),
        // kafkajs sends the group id only (no KIP-447 group metadata): fencing relies on the transactional.id.
        sendOffsets: ({ topics, consumerGroupId }) => transaction.sendOffsets({ consumerGroupId: consumerGroupId ?? groupId, topics }),
        commit: () => transaction.commit(),
        abort: () => transaction.abort(),
      };
    },
  };
}

/** A BatchWriter over a kafkajs producer's or transaction's sendBatch. */
export function writerOf(sendBatch: Producer['sendBatch'], options: SendOptions): BatchWriter {
  return async (batches) => {
    const results = await sendBatch({
      topicMessages: toTopicMessages(batches),
      ...options,
    });
    return results.map(toAck);
  };
}

function toAck(result: RecordMetadata): PartitionAck {
  return { topic: result.topicName, partition: result.partition, baseOffset: result.baseOffset };
}

/** The kafkajs consumer: kafkajs commits the resolved offsets at the end of each batch, on its interval and on stop. */
export class KafkajsConsumer implements DriverConsumer {
  readonly groupId: string;
  private readonly consumer: Consumer;
  private restarts = true;

  constructor(
    kafka: Kafka,
    private readonly settings: ConsumerSettings,
  ) {
    this.groupId = settings.consumer.groupId;
    // kafkajs restarts a crashed consumer on a timer; a crash that lands while the service stops would bring the
    // consumer back after stop() returned, so restarts end once the consumer stops.
    const restartOnFailure = async (): Promise<boolean> => this.restarts;
    this.consumer = kafka.consumer({ ...settings.consumer, retry: { ...settings.consumer.retry, restartOnFailure } });
  }

  connect(): Promise<void> {
    return this.consumer.connect();
  }

  subscribe(topics: (string | RegExp)[]): Promise<void> {
    return this.consumer.subscribe({ topics, fromBeginning: this.settings.fromBeginning });
  }

  isMissingTopic(error: unknown): boolean {
    return (error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION';
  }

  run(options: { partitionsConsumedConcurrently: number; eachBatch: (batch: DriverBatch) => Promise<void> }): Promise<void> {
    const { settings } = this;
    return this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      ...(settings.autoCommitInterval !== undefined ? { autoCommitInterval: settings.autoCommitInterval } : {}),
      ...(settings.autoCommitThreshold !== undefined ? { autoCommitThreshold: settings.autoCommitThreshold } : {}),
      eachBatch: (payload) => options.eachBatch(toDriverBatch(payload)),
    });
  }

  disconnect(): Promise<void> {
    return this.consumer.disconnect();
  }

  stopRestarts(): void {
    this.restarts = false;
  }

  on<E extends keyof DriverConsumerEvents>(event: E, listener: DriverConsumerEvents[E]): void {
    const { events } = this.consumer;
    if (event === 'groupJoin') this.consumer.on(events.GROUP_JOIN, (e) => (listener as DriverConsumerEvents['groupJoin'])(e.payload));
    if (event === 'groupLeave') this.consumer.on(events.STOP, () => (listener as DriverConsumerEvents['groupLeave'])());
    if (event === 'crash') {
      this.consumer.on(events.CRASH, (e) => (listener as DriverConsumerEvents['crash'])({ error: e.payload.error, restart: e.payload.restart }));
    }
  }
}

/**
 * kafkajs logs through the service logger. It logs protocol errors it retries (a coordinator still loading,
 * a topic being created) at ERROR; they are warnings here. What it gives up on surfaces as an error of ours.
 */
const BOUNDED_RETRY_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

export function withLogging(client: KafkaConfig, logger: Logger, role: string): KafkaConfig {
  const kafkaLogger = logger.child({ component: `kafkajs-${role}` });
  return {
    ...client,
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      // LightStreams' producers bound their retries: a write that runs out of them fails the task's commit (its
      // transaction aborts) and the task reads its records again, so the warning does not apply there.
      if (role === 'streams-producer' && message === BOUNDED_RETRY_WARNING) return;
      kafkaLogger.warn(`${entry.namespace}: ${message}`, fields);
    },
  };
}
