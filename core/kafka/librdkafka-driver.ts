import { createRequire } from 'node:module';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { Logger } from '../logger.js';
import type { BatchWriter, RawSender } from '../transport.js';
import type { DriverBatch, DriverConsumer, DriverConsumerEvents, DriverProducer, DriverTransaction, DriverTransactionalProducer, KafkaDriver } from './driver.js';
import { toDriverBatch, toTopicMessages } from './client-shapes.js';
import type { LibrdkafkaConsumerClient, LibrdkafkaKafka, LibrdkafkaLogger, LibrdkafkaModule, LibrdkafkaProducer } from './librdkafka-api.js';
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
 * The librdkafka clients of one service, through the KafkaJS-compatible API of @confluentinc/kafka-javascript:
 * librdkafka does the batching, retries and idempotence (up to 5 requests in flight per partition, sequence
 * numbers kept across leader changes). Properties come from properties.ts in librdkafka's own names.
 */
export class LibrdkafkaDriver implements KafkaDriver {
  readonly name = 'librdkafka';
  readonly brokers: string[];
  readonly producer: DriverProducer;
  readonly transactional: DriverTransactionalProducer | undefined;
  readonly consumer: LibrdkafkaConsumer;
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
    this.consumer = new LibrdkafkaConsumer(client, kafka, consumerSettings, logger);
    if (transactionalId !== undefined) {
      const producer = producerOf({ ...plainConfig, 'transactional.id': String(transactionalId) });
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

interface NativeMetadata {
  brokers: unknown[];
  topics: { name: string; partitions: unknown[] }[];
}

/** The node-rdkafka client under a compatible-API client (a metadata request is not in the compatible API). */
interface NativeClient {
  getMetadata(options: { topic?: string; allTopics: boolean; timeout: number }, callback: (error: unknown, metadata?: NativeMetadata) => void): void;
}

function nativeOf(client: LibrdkafkaProducer | LibrdkafkaConsumerClient): NativeClient | null {
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

/** A transactional producer whose offsets go with `consumer`'s group metadata (KIP-447). */
export function librdkafkaTransactional(producer: LibrdkafkaProducer, transactionalId: string, consumer: { groupId: string; client: LibrdkafkaConsumerClient }, transactionTimeoutMs: number): DriverTransactionalProducer {
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

/** How long a consumer works on one batch before handing it back, so a rebalance waits at most about this long. */
const BATCH_SLICE_MS = 1000;

/**
 * The time slice of one batch of the compatible API (which serves a rebalance only between batches): it starts with
 * the first record resolved, so the batch's setup never eats it whole and each batch makes progress; `over()` once
 * BATCH_SLICE_MS passed since. The LightConsumer and LightStreams consumers hand their batch back then.
 */
export function batchSlice(resolveOffset: (offset: string) => void): { resolveOffset(offset: string): void; over(): boolean } {
  let startedAt: number | undefined;
  return {
    resolveOffset: (offset) => {
      startedAt ??= Date.now();
      resolveOffset(offset);
    },
    over: () => startedAt !== undefined && Date.now() - startedAt >= BATCH_SLICE_MS,
  };
}

/**
 * The compatible API's consumer: it stores the offsets LightConsumer resolves and librdkafka commits them on its
 * interval and when the consumer leaves; unprocessed records of a batch are fetched again (it seeks back).
 */
export class LibrdkafkaConsumer implements DriverConsumer {
  readonly groupId: string;
  readonly client: LibrdkafkaConsumerClient;
  private readonly listeners: { [E in keyof DriverConsumerEvents]: DriverConsumerEvents[E][] } = { groupJoin: [], groupLeave: [], crash: [] };
  /** Set by disconnect: the batch in hand stops after the record in progress (the compatible API never says so). */
  private stopping = false;
  /** The batches being processed, for disconnect to wait for. */
  private readonly inHand = new Set<Promise<void>>();

  constructor(client: LibrdkafkaModule, kafka: LibrdkafkaKafka, settings: ConsumerSettings, private readonly logger: Logger) {
    this.groupId = settings.consumer.groupId;
    const { ERR__ASSIGN_PARTITIONS } = client.CODES.ERRORS;
    const onRebalance = (error: { code: number }, assignment: unknown): void => {
      if (error.code === ERR__ASSIGN_PARTITIONS) for (const listener of this.listeners.groupJoin) listener({ assignment });
      else for (const listener of this.listeners.groupLeave) listener();
    };
    this.client = kafka.consumer({
      kafkaJS: { groupId: this.groupId, logger: loggerFor(logger, 'consumer'), autoCommit: true },
      ...settings.librdkafka,
      'enable.auto.commit': true,
      rebalance_cb: onRebalance,
    });
  }

  connect(): Promise<void> {
    this.stopping = false;
    return this.client.connect();
  }

  /**
   * librdkafka joins the group only once a subscribed topic is in its metadata, which it refreshes every 5 minutes
   * (topic.metadata.refresh.interval.ms), and its consumer does not ask the broker to create one. So each named
   * topic is first asked for by name — a broker that creates topics on first use creates it — and a topic with no
   * partitions yet is reported missing, for LightConsumer to ask again until subscribeTimeoutMs, as with kafkajs.
   */
  async subscribe(topics: (string | RegExp)[]): Promise<void> {
    const native = nativeOf(this.client);
    for (const topic of topics) {
      if (typeof topic !== 'string' || !native) continue;
      const metadata = await new Promise<NativeMetadata>((resolve, reject) =>
        native.getMetadata({ topic, allTopics: false, timeout: 5000 }, (error, result) => (error || !result ? reject(error) : resolve(result))),
      );
      const partitions = metadata.topics.find((entry) => entry.name === topic)?.partitions.length ?? 0;
      if (partitions === 0) throw Object.assign(new Error(`topic ${topic} has no partitions (yet)`), { missingTopic: true });
    }
    await this.client.subscribe({ topics });
  }

  isMissingTopic(error: unknown): boolean {
    return (error as { missingTopic?: boolean }).missingTopic === true;
  }

  /**
   * A batch here is everything fetched for the partition (js.consumer.max.batch.size -1), and the compatible API
   * serves a rebalance, or lets the consumer leave, only between batches; meanwhile librdkafka commits nothing
   * (the group is rebalancing), and the member may be dropped, its stored offsets never committed: measured, a
   * group resized under load re-delivered 1,199-4,264 of 6,000 records. So a batch is handed back BATCH_SLICE_MS
   * after its first record was done (so at least one record per batch: always progress), and at once when the
   * consumer stops: the API seeks back to the first record not resolved, and the revoke that follows commits the
   * stored offsets while the member is still in its generation. A handleBatch batch resolves its records only at
   * its end, so it is not cut.
   */
  run(options: { partitionsConsumedConcurrently: number; eachBatch: (batch: DriverBatch) => Promise<void> }): Promise<void> {
    return this.client.run({
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      eachBatch: async (payload) => {
        const batch = toDriverBatch(payload);
        const slice = batchSlice(batch.resolveOffset);
        const running = options.eachBatch({
          ...batch,
          resolveOffset: slice.resolveOffset,
          isRunning: () => !this.stopping && payload.isRunning(),
          handBack: () => this.stopping || slice.over(),
        });
        this.inHand.add(running);
        try {
          await running;
        } finally {
          this.inHand.delete(running);
        }
      },
    });
  }

  /**
   * Lets the batches in hand end, commits what they stored while this member still owns its partitions, then
   * leaves: librdkafka's own commit on close can reach the coordinator after its LeaveGroup and be refused
   * (Unknown member), and the next owner would process those records again.
   */
  async disconnect(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.inHand]);
    await this.client.commitOffsets().catch((error: unknown) => this.logger.warn('committing the processed offsets before leaving failed; the next owner of the partitions may process them again', { error: reasonOf(error) }));
    await this.client.disconnect();
    for (const listener of this.listeners.groupLeave) listener();
  }

  /** The compatible API restarts its consume loop itself and never reports a crash: nothing to switch off. */
  stopRestarts(): void {}

  on<E extends keyof DriverConsumerEvents>(event: E, listener: DriverConsumerEvents[E]): void {
    this.listeners[event].push(listener);
  }
}
