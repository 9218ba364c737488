import { Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type KafkaConfig, type LogEntry, type Producer } from 'kafkajs';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Tracer } from 'opentracing';
import { Registry } from 'prom-client';
import { METRICS_SCHEMA, type MetricsYml } from '../handlers/metrics/metrics-config.js';
import { startHealthServer } from './health-server.js';
import { createPropagatingFetch } from './http/propagating-fetch.js';
import { KAFKA_CONSUMER_SCHEMA, KAFKA_PRODUCER_SCHEMA, type KafkaConsumerYml, type KafkaProducerYml } from '../handlers/kafka/config-schemas.js';
import { toConsumerSettings, toProducerSettings, type ProducerSettings } from '../handlers/kafka/properties.js';
import { RecordProcessor } from '../handlers/kafka/record-processor.js';
import { buildChains } from './chain/chain-builder.js';
import type { HandlerFactory, HandlerModule, HandlerServices } from './chain/handler.js';
import { ConfigLoader } from './config/loader.js';
import { ConsumeChains } from './consume-chains.js';
import { LightConsumer } from './consumer.js';
import { LightError, reasonOf } from './errors/light-error.js';
import { createLogger, type Logger } from './logger.js';
import { ProduceChains } from './produce-chains.js';
import { LightProducer, TransactionalProducer } from './producer.js';

export interface LightServiceOptions {
  /** The service's config folder (searched before the package defaults). Default: LIGHT_KAFKA_CONFIG_DIR. */
  configDir?: string;
  /** Overrides service.yml's serviceId. */
  serviceId?: string;
  logger?: Logger;
  /** Handler modules registered in code, usable in handler.yml by these names. */
  handlerModules?: Record<string, HandlerModule<any> | HandlerFactory<any>>;
  /** Extra shared services handed to every handler factory (services.extra). */
  services?: Record<string, unknown>;
  /** Environment for config placeholders; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The service's own prom-client registry; default a new one (service.metricsRegistry). */
  metricsRegistry?: Registry;
}

interface ServiceYml {
  serviceId: string;
  stopTimeoutMs: number;
}

const SERVICE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    serviceId: { type: 'string', minLength: 1, default: 'light-kafka-service' },
    stopTimeoutMs: { type: 'integer', minimum: 0, default: 30000 },
  },
} as const;

type StopHook = () => Promise<void> | void;

/**
 * A light-kafka service: its chains (composed once here), its producers and its consumer.
 * create() -> register business handlers on `consumer` -> start() -> ... -> stop().
 */
export class LightService {
  private stopHooks: StopHook[] = [];
  private stopping: Promise<void> | undefined;
  private signalsInstalled = false;
  private healthServer: Server | undefined;
  private admin: Admin | undefined;
  private readonly closeHooks: (() => Promise<void> | void)[];

  private constructor(
    readonly serviceId: string,
    readonly logger: Logger,
    readonly config: ConfigLoader,
    readonly producer: LightProducer,
    readonly consumer: LightConsumer,
    /** The services every handler factory received (events, metrics registry, propagating fetch, ...). */
    readonly services: HandlerServices,
    private readonly transactional: TransactionalProducer | undefined,
    private readonly kafkaProducers: Producer[],
    private readonly stopTimeoutMs: number,
    private readonly brokers: string[],
    private readonly metricsYml: MetricsYml,
    private readonly adminKafka: Kafka,
    closeHooks: (() => Promise<void> | void)[],
  ) {
    this.closeHooks = closeHooks;
  }

  get metricsRegistry(): Registry {
    return this.services.metricsRegistry;
  }

  /** fetch for downstream HTTP calls: carries the current request context's headers and this service's caller_id. */
  get fetch(): typeof fetch {
    return this.services.fetch;
  }

  /** The port of the built-in /metrics and health server, when metrics.yml enables it. */
  get healthPort(): number | undefined {
    return (this.healthServer?.address() as AddressInfo | null)?.port;
  }

  static async create(options: LightServiceOptions = {}): Promise<LightService> {
    const config = new ConfigLoader({ ...(options.configDir ? { configDir: options.configDir } : {}), ...(options.env ? { env: options.env } : {}) });
    const serviceYml = config.load<ServiceYml>('service', { schema: SERVICE_SCHEMA }).config;
    const serviceId = options.serviceId ?? serviceYml.serviceId;
    const logger = (options.logger ?? createLogger()).child({ serviceId });
    const producerYml = config.load<KafkaProducerYml>('kafka-producer', { schema: KAFKA_PRODUCER_SCHEMA });
    const consumerYml = config.load<KafkaConsumerYml>('kafka-consumer', { schema: KAFKA_CONSUMER_SCHEMA });
    const metricsYml = config.load<MetricsYml>('metrics', { schema: METRICS_SCHEMA }).config;
    const producerSettings = toProducerSettings(producerYml.config.properties, producerYml.file ?? 'kafka-producer.yml');
    const consumerSettings = toConsumerSettings(consumerYml.config.properties, consumerYml.file ?? 'kafka-consumer.yml');

    const { transactionalId, ...plainProducerConfig } = producerSettings.producer;
    const producerKafka = new Kafka(withLogging(producerSettings.client, logger, 'producer'));
    const plain = producerKafka.producer({ ...plainProducerConfig, createPartitioner: Partitioners.DefaultPartitioner });
    const closeHooks: (() => Promise<void> | void)[] = [];
    const services: HandlerServices = {
      serviceId,
      logger,
      config,
      shared: new Map(),
      extra: options.services ?? {},
      events: new EventEmitter(),
      metricsRegistry: options.metricsRegistry ?? new Registry(),
      rawProducer: { send: async (topic, messages) => void (await plain.send({ topic, messages, acks: -1 })) },
      fetch: createPropagatingFetch({ callerId: serviceId }),
      addCloseHook: (hook) => void closeHooks.push(hook),
    };
    const { table, file } = await buildChains(config, services, new Map(Object.entries(options.handlerModules ?? {})));
    logger.debug('chains built', { file });

    const produceChains = new ProduceChains(table);
    const sendOptions = sendOptionsOf(producerSettings);
    const kafkaProducers = [plain];
    let transactional: TransactionalProducer | undefined;
    if (transactionalId) {
      const txProducer = producerKafka.producer({
        ...plainProducerConfig,
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      kafkaProducers.push(txProducer);
      transactional = new TransactionalProducer(txProducer, produceChains, transactionalId, sendOptions, () => services.shared.get('tracer') as Tracer | undefined);
    }

    const consumerKafka = new Kafka(withLogging(consumerSettings.client, logger, 'consumer'));
    const processor = new RecordProcessor(consumerYml.config, plain, consumerSettings.consumer.groupId, logger);
    const consumer = new LightConsumer(
      consumerKafka.consumer(consumerSettings.consumer),
      new ConsumeChains(table),
      processor,
      consumerSettings,
      consumerYml.config.partitionsConsumedConcurrently,
      logger,
      consumerYml.config.subscribeTimeoutMs,
    );
    for (const event of ['record', 'groupJoin', 'crash', 'partitionStopped']) {
      consumer.on(event, (payload: unknown) => services.events.emit(event, payload));
    }
    const adminKafka = new Kafka({
      ...withLogging(producerSettings.client, logger, 'admin'),
      retry: { retries: 0 },
      connectionTimeout: Math.min(metricsYml.brokerCheckTimeoutMs, 3000),
      requestTimeout: metricsYml.brokerCheckTimeoutMs,
    });
    return new LightService(
      serviceId,
      logger,
      config,
      new LightProducer(plain, produceChains, { acks: producerSettings.acks, ...sendOptions }),
      consumer,
      services,
      transactional,
      kafkaProducers,
      serviceYml.stopTimeoutMs,
      [...new Set([...(producerSettings.client.brokers as string[]), ...(consumerSettings.client.brokers as string[])])],
      metricsYml,
      adminKafka,
      closeHooks,
    );
  }

  /** The transactional producer; kafka-producer.yml must set properties.transactional.id. */
  get transactionalProducer(): TransactionalProducer {
    if (!this.transactional) throw new LightError('ERR12006');
    return this.transactional;
  }

  /** Connects the producers, then joins the consumer group for every topic with a business handler. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.kafkaProducers.map((producer) => producer.connect()));
      await this.consumer.start();
    } catch (error) {
      await this.disconnectAll();
      throw LightError.wrap(error, 'ERR12004', { brokers: this.brokers.join(',') });
    }
    const server = this.metricsYml.server;
    if (server.enabled) {
      this.healthServer = await startHealthServer(this.services.metricsRegistry, this, server.host, server.port);
      this.logger.info('metrics and health server listening', { url: `http://${server.host}:${this.healthPort}` });
    }
    this.logger.info('service started', { consumerGroup: this.consumer.groupId });
  }

  /**
   * Ready when the consumer is in its group (if it consumes anything) and the broker answers a metadata request
   * within metrics.yml brokerCheckTimeoutMs. Used by /health/readiness.
   */
  async readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const consumer = !this.consumer.isSubscribed || this.consumer.hasJoinedGroup;
    const broker = await this.brokerAnswers();
    return { ready: consumer && broker && !this.stopping, checks: { consumer, broker, stopping: this.stopping !== undefined } };
  }

  private async brokerAnswers(): Promise<boolean> {
    try {
      if (!this.admin) {
        this.admin = this.adminKafka.admin();
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

  /** Runs before the consumer stops (e.g. close an HTTP server so no new work comes in). */
  onStop(hook: StopHook): this {
    this.stopHooks.push(hook);
    return this;
  }

  /**
   * Graceful stop: stop hooks, then the consumer (records in flight finish and their offsets are committed,
   * the group is left), then the producers (sends under way finish). Bounded by service.yml stopTimeoutMs.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopGracefully();
    return this.stopping;
  }

  /** Stops gracefully on SIGTERM or SIGINT, then lets the process exit. */
  installSignalHandlers(): this {
    if (this.signalsInstalled) return this;
    this.signalsInstalled = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      this.logger.info('signal received, stopping', { signal });
      this.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    return this;
  }

  private async stopGracefully(): Promise<void> {
    const graceful = (async () => {
      for (const hook of this.stopHooks) await hook();
      this.producer.markStopping();
      await this.consumer.stop();
      await this.transactional?.markStopping();
      return false;
    })().catch((error: unknown) => {
      this.logger.error('graceful stop failed; disconnecting now', { error: reasonOf(error) });
      return false;
    });
    const timedOut = await Promise.race([graceful, sleep(this.stopTimeoutMs, true, { ref: false })]);
    if (timedOut) this.logger.error('graceful stop timed out; disconnecting now', { stopTimeoutMs: this.stopTimeoutMs });
    await this.disconnectAll();
    for (const hook of this.closeHooks) {
      await Promise.resolve()
        .then(hook)
        .catch((error: unknown) => this.logger.error('close hook failed', { error: reasonOf(error) }));
    }
    this.logger.info('service stopped');
  }

  private async disconnectAll(): Promise<void> {
    const server = this.healthServer;
    this.healthServer = undefined;
    await Promise.allSettled([
      this.consumer.stop(),
      ...this.kafkaProducers.map((producer) => producer.disconnect()),
      this.admin?.disconnect(),
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : undefined,
    ]);
  }
}

function sendOptionsOf(settings: ProducerSettings): { timeout?: number; compression?: number } {
  return {
    ...(settings.timeoutMs !== undefined ? { timeout: settings.timeoutMs } : {}),
    ...(settings.compression !== undefined ? { compression: settings.compression } : {}),
  };
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
