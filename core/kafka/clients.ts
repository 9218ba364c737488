import { Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type Consumer, type KafkaConfig, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import { assertKafkajsPatched } from './kafkajs-patch.js';
import type { RawSender } from '../transport.js';
import type { ConsumerSettings, ProducerSettings } from './properties.js';
import type { SendOptions } from './producer.js';

/**
 * The kafkajs clients of one service, built from kafka-producer.yml and kafka-consumer.yml: a plain producer
 * (LightProducer, dead letters, audit records), a transactional one when a transactional.id is set, the
 * consumer, and an admin client for the broker health check. Connected on start, disconnected on stop.
 */
export class KafkaClients {
  readonly plain: Producer;
  readonly transactional: Producer | undefined;
  readonly transactionalId: string | undefined;
  readonly consumer: Consumer;
  readonly brokers: string[];
  /** Sends past every chain, acks from all in-sync replicas. */
  readonly rawSender: RawSender;
  private admin: Admin | undefined;
  private consumerRestarts = true;
  private adminTimeoutMs: number | undefined;

  constructor(
    private readonly producerSettings: ProducerSettings,
    consumerSettings: ConsumerSettings,
    private readonly logger: Logger,
  ) {
    assertKafkajsPatched();
    const { transactionalId, ...plainConfig } = producerSettings.producer;
    const producerKafka = new Kafka(withLogging(producerSettings.client, logger, 'producer'));
    this.plain = producerKafka.producer({ ...plainConfig, createPartitioner: Partitioners.DefaultPartitioner });
    this.transactionalId = transactionalId;
    this.transactional = transactionalId
      ? producerKafka.producer({ ...plainConfig, transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
      : undefined;
    // kafkajs restarts a crashed consumer on a timer; a crash that lands while the service stops would bring the
    // consumer back after stop() returned, so restarts end once the consumer stops.
    const restartOnFailure = async (): Promise<boolean> => this.consumerRestarts;
    this.consumer = new Kafka(withLogging(consumerSettings.client, logger, 'consumer')).consumer({
      ...consumerSettings.consumer,
      retry: { ...consumerSettings.consumer.retry, restartOnFailure },
    });
    this.brokers = [...new Set([...producerSettings.client.brokers as string[], ...(consumerSettings.client.brokers as string[])])];
    const plain = this.plain;
    this.rawSender = {
      async send(topic, records) {
        await plain.send({
          topic,
          acks: -1,
          messages: records.map((record) => ({ key: record.key ?? null, value: record.value, ...(record.headers ? { headers: record.headers.toKafka() } : {}) })),
        });
      },
    };
  }

  /** A crash of the consumer no longer restarts it (it is stopping for good). */
  stopConsumerRestarts(): void {
    this.consumerRestarts = false;
  }

  /** kafka-producer.yml's per-send options. */
  get sendOptions(): SendOptions & { acks: number } {
    const settings = this.producerSettings;
    return {
      acks: settings.acks,
      ...(settings.timeoutMs !== undefined ? { timeout: settings.timeoutMs } : {}),
      ...(settings.compression !== undefined ? { compression: settings.compression } : {}),
    };
  }

  private get producers(): Producer[] {
    return this.transactional ? [this.plain, this.transactional] : [this.plain];
  }

  async connectProducers(): Promise<void> {
    await Promise.all(this.producers.map((producer) => producer.connect()));
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await Promise.allSettled([...this.producers.map((producer) => producer.disconnect()), admin?.disconnect()]);
  }

  /** True when the broker answers a metadata request within `timeoutMs`. */
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
 * kafkajs logs through the service logger. It logs protocol errors it retries (a coordinator still loading,
 * a topic being created) at ERROR; they are warnings here. What it gives up on surfaces as an error of ours.
 */
function withLogging(client: KafkaConfig, logger: Logger, role: string): KafkaConfig {
  const kafkaLogger = logger.child({ component: `kafkajs-${role}` });
  return {
    ...client,
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      kafkaLogger.warn(`${entry.namespace}: ${message}`, fields);
    },
  };
}
