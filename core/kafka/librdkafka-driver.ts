import { createRequire } from 'node:module';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { Logger } from '../logger.js';
import type { BatchWriter, RawSender } from '../transport.js';
import type { DriverProducer, DriverTransaction, DriverTransactionalProducer, KafkaDriver } from './driver.js';
import { toTopicMessages } from './client-shapes.js';
import type { LibrdkafkaLogger, LibrdkafkaModule, LibrdkafkaProducer, NativeMetadata, OffsetsConsumer } from './librdkafka-api.js';
import { LibrdkafkaNativeConsumer } from './librdkafka-native-consumer.js';
import type { ConsumerSettings, NativeConfig, ProducerSettings } from './properties.js';
import { rawSenderOver } from './raw-sender.js';

const require = createRequire(import.meta.url);

/**
 * @confluentinc/kafka-javascript is an optional dependency (a native build): it is loaded only by a service whose
 * service.yml says `transport: librdkafka`, and its absence is a clear startup error.
 */
export function loadLibrdkafkaClient(specifier = '@confluentinc/kafka-javascript'): LibrdkafkaModule {
  try {
    return require(specifier) as LibrdkafkaModule;
  } catch (error) {
    throw new LightError('ERR12009', { reason: reasonOf(error) }, { cause: error });
  }
}

/** librdkafka's logs go to the service logger; its retried errors are warnings, as kafkajs's are. */
export function loggerFor(logger: Logger, role: string): LibrdkafkaLogger {
  const log = logger.child({ component: `librdkafka-${role}` });
  const adapter: LibrdkafkaLogger = {
    info: () => undefined,
    debug: () => undefined,
    warn: (message, extra) => log.warn(message, extra as Record<string, unknown> | undefined),
    error: (message, extra) => log.warn(message, extra as Record<string, unknown> | undefined),
    namespace: () => adapter,
    setLogLevel: () => undefined,
  };
  return adapter;
}

/**
 * The librdkafka clients of one service: producers through the KafkaJS-compatible API of
 * @confluentinc/kafka-javascript, the consumer through its native API (librdkafka-native-consumer.ts). librdkafka
 * does the batching, retries and idempotence (up to 5 requests in flight per partition, sequence numbers kept
 * across leader changes). Properties come from properties.ts in librdkafka's own names.
 */
export class LibrdkafkaDriver implements KafkaDriver {
  readonly name = 'librdkafka';
  readonly brokers: string[];
  readonly producer: DriverProducer;
  readonly transactional: DriverTransactionalProducer | undefined;
  readonly consumer: LibrdkafkaNativeConsumer;
  /** With the plain producer's acks (librdkafka sets acks per producer; all unless kafka-producer.yml says otherwise). */
  readonly rawSender: RawSender;
  private readonly plain: LibrdkafkaProducer;
  private readonly producers: LibrdkafkaProducer[];

  constructor(producerSettings: ProducerSettings, consumerSettings: ConsumerSettings, logger: Logger) {
    const client = loadLibrdkafkaClient();
    const kafka = new client.KafkaJS.Kafka({});
    const { 'transactional.id': transactionalId, ...plainConfig } = producerSettings.librdkafka;
    const producerOf = (config: NativeConfig): LibrdkafkaProducer =>
      kafka.producer({ kafkaJS: { logger: loggerFor(logger, 'producer') }, ...config });
    this.plain = producerOf(plainConfig);
    this.producers = [this.plain];
    this.producer = { connect: () => this.plain.connect(), disconnect: () => this.plain.disconnect(), write: writerOf(this.plain) };
    this.rawSender = rawSenderOver(this.producer.write);
    this.consumer = new LibrdkafkaNativeConsumer(client, consumerSettings, logger);
    if (transactionalId !== undefined) {
      const producer = producerOf(transactionalConfig(plainConfig, String(transactionalId)));
      this.producers.push(producer);
      this.transactional = librdkafkaTransactional(producer, String(transactionalId), this.consumer, Number(producerSettings.librdkafka['transaction.timeout.ms'] ?? 60000));
    }
    const brokersOf = (config: NativeConfig): string[] => String(config['bootstrap.servers']).split(',');
    this.brokers = [...new Set([...brokersOf(producerSettings.librdkafka), ...brokersOf(consumerSettings.librdkafka)])];
  }

  async connectProducers(): Promise<void> {
    await Promise.all(this.producers.map((producer) => producer.connect()));
  }

  async disconnect(): Promise<void> {
    await Promise.allSettled(this.producers.map((producer) => producer.disconnect()));
  }

  /** A metadata request on the plain producer's connections (librdkafka reconnects them by itself). */
  brokerAnswers(timeoutMs: number): Promise<boolean> {
    const native = nativeOf(this.plain);
    if (!native) return Promise.resolve(false);
    return new Promise((resolve) => {
      native.getMetadata({ allTopics: false, timeout: timeoutMs }, (error, metadata) => resolve(!error && (metadata?.brokers.length ?? 0) > 0));
    });
  }
}

/** The node-rdkafka client under a compatible-API client (a metadata request is not in the compatible API). */
interface NativeClient {
  getMetadata(options: { topic?: string; allTopics: boolean; timeout: number }, callback: (error: unknown, metadata?: NativeMetadata) => void): void;
  isConnected(): boolean;
}

function nativeOf(client: LibrdkafkaProducer | OffsetsConsumer): NativeClient | null {
  return (client as unknown as { _getInternalClient(): NativeClient | null })._getInternalClient();
}

/** A BatchWriter over the compatible API's sendBatch: every record is produced, then every delivery report awaited. */
export function writerOf(producer: LibrdkafkaProducer): BatchWriter {
  return async (batches) => {
    const results = await producer.sendBatch({
      topicMessages: toTopicMessages(batches),
    });
    return results.map((result) => ({ topic: result.topicName, partition: result.partition, baseOffset: result.baseOffset }));
  };
}

/** librdkafka marks errors it may be asked to repeat (a commit that timed out during a leader change). */
function isRetriable(error: unknown): boolean {
  return (error as { retriable?: boolean }).retriable === true;
}

/**
 * A transactional producer's settings. Its retries start at 20 ms unless `retry.backoff.ms` says otherwise: a
 * transaction's first request often meets the coordinator still writing the previous commit's markers
 * (CONCURRENT_TRANSACTIONS), and librdkafka's 100 ms default held back-to-back offsets-only transactions to ~3.5/s
 * (~25/s with 20 ms; test/handlers/kafka.test.ts).
 */
export function transactionalConfig(config: NativeConfig, transactionalId: string): NativeConfig {
  return { 'retry.backoff.ms': 20, ...config, 'transactional.id': transactionalId };
}

/** A transactional producer whose offsets go with `consumer`'s group metadata (KIP-447). */
export function librdkafkaTransactional(producer: LibrdkafkaProducer, transactionalId: string, consumer: { groupId: string; client: OffsetsConsumer }, transactionTimeoutMs: number): DriverTransactionalProducer {
  const write = writerOf(producer);
  return {
    transactionalId,
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    async begin(): Promise<DriverTransaction> {
      await producer.transaction();
      return {
        write,
        async sendOffsets({ topics, consumerGroupId }) {
          // KIP-447: the offsets go with the consumer's group metadata (generation, member id), so a consumer that
          // lost its partitions in a rebalance cannot commit them any more.
          if (consumerGroupId !== undefined && consumerGroupId !== consumer.groupId) {
            throw new LightError('ERR12010', { groupId: consumerGroupId, serviceGroupId: consumer.groupId });
          }
          // The native client reads the group metadata of a consumer that never connected from a handle it does
          // not have, and the process dies (SIGSEGV): refuse instead.
          if (!nativeOf(consumer.client)?.isConnected()) throw new LightError('ERR12018', { serviceGroupId: consumer.groupId });
          await producer.sendOffsets({ consumer: consumer.client, topics });
        },
        async commit() {
          // A commit cut short by a coordinator or leader change may be called again (librdkafka's contract).
          const deadline = Date.now() + transactionTimeoutMs;
          for (;;) {
            try {
              return await producer.commit();
            } catch (error) {
              if (!isRetriable(error) || Date.now() > deadline) throw error;
            }
          }
        },
        abort: () => producer.abort(),
      };
    },
  };
}
