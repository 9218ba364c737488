import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { TypedMap } from './attachments.js';
import { buildChains, type HandlerOrigin } from './chain/chain-builder.js';
import { ConsumeChains } from './chain/consume-chains.js';
import type { ChainHandler, HandlerFactory, HandlerModule, HandlerServices } from './chain/handler.js';
import { NO_BUILTINS, type HandlerCatalog } from './chain/module-loader.js';
import type { ChainTable } from './chain/chain-table.js';
import { ProduceChains } from './chain/produce-chains.js';
import { ConfigLoader } from './config/loader.js';
import { LightError } from './errors/light-error.js';
import { Health, type Readiness } from './health.js';
import { HttpInterceptors } from './http/http-interceptors.js';
import { createPropagatingFetch } from './http/propagating-fetch.js';
import type { RequestContextOptions } from './http/server-context.js';
import { KAFKA_CONSUMER_SCHEMA, KAFKA_PRODUCER_SCHEMA, type KafkaConsumerYml, type KafkaProducerYml } from './kafka/client-config.js';
import { createDriverConsumer, createKafkaDriver } from './kafka/clients.js';
import { LightConsumer } from './kafka/consumer.js';
import type { DriverConsumer, KafkaClientName, KafkaDriver } from './kafka/driver.js';
import { KafkaDeadLetterWriter } from './kafka/dead-letter.js';
import { LightProducer, TransactionalProducer, type ProducePath } from './kafka/producer.js';
import { toConsumerSettings, toProducerSettings } from './kafka/properties.js';
import { RecordProcessor } from './kafka/record-processor.js';
import { Lifecycle } from './lifecycle.js';
import { CommandRequests, type CommandRequestsOptions } from './messages/command-requests.js';
import { createLogger, type Logger } from './logger.js';
import { HeaderPropagation } from './propagation.js';
import { SERVICE_SCHEMA, type ServiceYml } from './service-config.js';
import { TransactionInterceptors } from './transactions.js';
import { KafkajsStreamsClients } from './kafka/kafkajs-streams.js';
import { KafkajsTopicAdmin } from './kafka/topic-admin.js';
import { LibrdkafkaStreamsClients } from './kafka/librdkafka-streams.js';
import { LightStreams } from './streams/light-streams.js';
import { deserialize } from './kafka/serde.js';
import { KAFKA_STREAMS_SCHEMA, toStreamsSettings, type KafkaStreamsYml } from './streams/streams-config.js';

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

/** The named parts a service is made of. */
export interface ServiceParts {
  /** serviceId, logger, config loader and the services every handler factory received. */
  services: HandlerServices;
  /** The Kafka clients (kafkajs or librdkafka, service.yml transport). */
  clients: KafkaDriver;
  producer: LightProducer;
  consumer: LightConsumer;
  transactional: TransactionalProducer | undefined;
  lifecycle: Lifecycle;
  health: Health;
  /** LightStreams over the same chains (kafka-streams.yml); started with the service when its topology reads anything. */
  streams: LightStreams;
  /** The chains handler.yml resolved to. */
  table: ChainTable;
  /** Where each handler of the table came from (handler.yml entry, config file). */
  origins: ReadonlyMap<ChainHandler, HandlerOrigin>;
  /** How records enter the produce chains (for the broker-free test kit). */
  path: ProducePath;
  /** A consumer of its own group over the service's chains and failure policy (command replies). */
  consumerInGroup: (groupId: string) => LightConsumer;
  topicAdmin: KafkajsTopicAdmin;
}

/** One chain handler.yml resolved to (`LightService.describeChains`). */
export interface ChainDescription {
  direction: string;
  /** The topic, the pattern as handler.yml wrote it, or `*` for a default. */
  topic: string;
  pattern: boolean;
  isDefault: boolean;
  /** Where it is declared: `topics[2]`, `defaultHandlers.consume`. */
  source: string;
  /** The handlers' names, in order. */
  handlers: string[];
  /** Where each came from, in the same order. */
  origins: HandlerOrigin[];
}

/** The parts of a service, for the broker-free test kit (light-kafka/testing); not for services themselves. */
export const SERVICE_PARTS: unique symbol = Symbol.for('light-kafka.serviceParts');

/**
 * A light-kafka service: a facade over its parts — handler services, Kafka clients (producer, consumer,
 * transactional producer), lifecycle, health.
 * create() -> register business handlers on `consumer` -> start() -> ... -> stop().
 */
export class LightService {
  /** The built-in handlers this class's create() offers to handler.yml; the package entry sets them. */
  protected static readonly handlerCatalog: HandlerCatalog = NO_BUILTINS;

  /** Request/reply channels made with commandRequests(): started with the service, stopped before its consumer. */
  private readonly requests: CommandRequests[] = [];
  private started = false;

  protected constructor(private readonly parts: ServiceParts) {}

  /**
   * Sends commands to other services and awaits their outcome: `await requests.request(topic, command, { timeoutMs })`
   * (see CommandRequests for how replies reach this instance). Call before start(); the channel starts with the service.
   */
  commandRequests(options: CommandRequestsOptions): CommandRequests {
    if (this.started) throw new LightError('ERR10012', { component: 'LightService.commandRequests (call it before start)' });
    const { services, producer, consumerInGroup, topicAdmin } = this.parts;
    const requests = new CommandRequests({ serviceId: services.serviceId, producer, createConsumer: consumerInGroup, admin: topicAdmin, logger: services.logger }, options);
    this.requests.push(requests);
    return requests;
  }

  get serviceId(): string {
    return this.parts.services.serviceId;
  }

  get logger(): Logger {
    return this.parts.services.logger;
  }

  get config(): ConfigLoader {
    return this.parts.services.config;
  }

  /** The services every handler factory received (events, metrics registry, propagating fetch, ...). */
  get services(): HandlerServices {
    return this.parts.services;
  }

  get producer(): LightProducer {
    return this.parts.producer;
  }

  get consumer(): LightConsumer {
    return this.parts.consumer;
  }

  [SERVICE_PARTS](): ServiceParts {
    return this.parts;
  }

  /** The brokers the service's clients connect to. */
  get brokers(): string[] {
    return this.parts.clients.brokers;
  }

  /**
   * What handler.yml resolved to: per declared topic (or pattern) and direction, and for the defaults, the
   * handlers in order and where the entry was declared.
   */
  describeChains(): ChainDescription[] {
    return this.parts.table.routes().map(({ route, isDefault }) => ({
      direction: route.direction,
      // A pattern as handler.yml wrote it (it is compiled anchored, as ^(?:pattern)$).
      topic: isDefault ? '*' : route.topic instanceof RegExp ? route.topic.source.replace(/^\^\(\?:([\s\S]*)\)\$$/, '$1') : route.topic,
      pattern: route.topic instanceof RegExp,
      isDefault,
      source: route.source,
      handlers: route.handlers.map((handler) => handler.name || '(anonymous)'),
      origins: route.handlers.map((handler) => this.parts.origins.get(handler)!),
    }));
  }

  /** LightStreams: build a topology with `streams.builder()` before start(); query its stores with `streams.store(name)`. */
  get streams(): LightStreams {
    return this.parts.streams;
  }

  get metricsRegistry(): Registry {
    return this.parts.services.metricsRegistry;
  }

  /** fetch for downstream HTTP calls: carries the current request context's headers and this service's caller_id. */
  get fetch(): typeof fetch {
    return this.parts.services.fetch;
  }

  /** The headers a unit of work carries on (what the HTTP server adapters take from a request). */
  get propagatedHeaders(): readonly string[] {
    return this.parts.services.propagation.names;
  }

  /**
   * The options of the HTTP server adapters (`withRequestContext(listener, service.httpContext)`, express, fastify):
   * the propagated headers and the handlers' server interceptors (the tracing handler's server span).
   */
  get httpContext(): RequestContextOptions {
    return { headers: this.parts.services.propagation.names, interceptors: this.parts.services.http };
  }

  /** The Kafka client library under the service: service.yml `transport`, `kafkajs` or `librdkafka`. */
  get transport(): KafkaClientName {
    return this.parts.clients.name;
  }

  /** The port of the built-in /metrics and health server, when metrics.yml enables it. */
  get healthPort(): number | undefined {
    return this.parts.health.port;
  }

  /** The transactional producer; kafka-producer.yml must set properties.transactional.id. */
  get transactionalProducer(): TransactionalProducer {
    if (!this.parts.transactional) throw new LightError('ERR12006');
    return this.parts.transactional;
  }

  static async create(options: LightServiceOptions = {}): Promise<LightService> {
    const config = new ConfigLoader({ ...(options.configDir ? { configDir: options.configDir } : {}), ...(options.env ? { env: options.env } : {}) });
    const serviceYml = config.load<ServiceYml>('service', { schema: SERVICE_SCHEMA }).config;
    const serviceId = options.serviceId ?? serviceYml.serviceId;
    const logger = (options.logger ?? createLogger()).child({ serviceId });
    const producerYml = config.load<KafkaProducerYml>('kafka-producer', { schema: KAFKA_PRODUCER_SCHEMA });
    const consumerYml = config.load<KafkaConsumerYml>('kafka-consumer', { schema: KAFKA_CONSUMER_SCHEMA });
    const client = serviceYml.transport;
    const consumerSettings = toConsumerSettings(consumerYml.config.properties, consumerYml.file ?? 'kafka-consumer.yml', client);
    const producerSettings = toProducerSettings(producerYml.config.properties, producerYml.file ?? 'kafka-producer.yml', client);
    const clients = createKafkaDriver(client, producerSettings, consumerSettings, logger);

    const lifecycle = new Lifecycle(serviceYml.stopTimeoutMs, logger);
    // Dead-letter topics are created like their source (partitions, max.message.bytes) on first use.
    const topicAdmin = new KafkajsTopicAdmin(producerSettings.client, logger);
    lifecycle.onClose(() => topicAdmin.disconnect());
    // The consumer it probes is made once the chains exist.
    const probed: { consumer?: LightConsumer; streams?: LightStreams } = {};
    const health = new Health((timeoutMs) => readinessOf(probed, clients, lifecycle, timeoutMs));
    const propagation = new HeaderPropagation(serviceYml.propagatedHeaders);
    const http = new HttpInterceptors();
    const services: HandlerServices = {
      serviceId,
      logger,
      config,
      shared: new TypedMap(),
      extra: options.services ?? {},
      events: new EventEmitter(),
      metricsRegistry: options.metricsRegistry ?? new Registry(),
      rawProducer: clients.rawSender,
      fetch: createPropagatingFetch({ callerId: serviceId, interceptors: http }),
      http,
      brokers: clients.brokers,
      propagation,
      health,
      transactions: new TransactionInterceptors(),
      addCloseHook: (hook) => lifecycle.onClose(hook),
    };
    const catalog = (this as typeof LightService).handlerCatalog;
    const { table, origins, file } = await buildChains(config, services, catalog, new Map(Object.entries(options.handlerModules ?? {})));
    propagation.freeze();
    logger.debug('chains built', { file });

    const path: ProducePath = { chains: new ProduceChains(table), extraHeaders: propagation.extras };
    const processorParts = { clients, consumerYml: consumerYml.config, topicAdmin, propagatedHeaders: propagation.names, logger };
    const processor = recordProcessorFor(consumerSettings.consumer.groupId, processorParts);
    const consumerOver = (driverConsumer: DriverConsumer, recordProcessor: RecordProcessor): LightConsumer =>
      new LightConsumer({
        consumer: driverConsumer,
        chains: new ConsumeChains(table),
        processor: recordProcessor,
        partitionsConsumedConcurrently: consumerYml.config.partitionsConsumedConcurrently,
        ordering: consumerYml.config.ordering,
        maxConcurrency: consumerYml.config.maxConcurrency,
        subscribeTimeoutMs: consumerYml.config.subscribeTimeoutMs,
        logger,
      });
    const consumer = consumerOver(clients.consumer, processor);
    const consumerInGroup = (groupId: string): LightConsumer =>
      consumerOver(
        createDriverConsumer(client, consumerSettings, groupId, logger),
        recordProcessorFor(groupId, processorParts),
      );
    probed.consumer = consumer;
    for (const event of ['groupJoin', 'crash', 'partitionStopped', 'deadLettered']) {
      consumer.on(event, (payload: unknown) => services.events.emit(event, payload));
    }
    // 'record' comes once per record: forwarded only while the service's events have a listener for it.
    const forwardRecord = (payload: unknown): boolean => services.events.emit('record', payload);
    services.events.on('newListener', (event) => {
      if (event === 'record' && services.events.listenerCount('record') === 0) consumer.on('record', forwardRecord);
    });
    services.events.on('removeListener', (event) => {
      if (event === 'record' && services.events.listenerCount('record') === 0) consumer.off('record', forwardRecord);
    });
    const transactional = clients.transactional
      ? new TransactionalProducer({ producer: clients.transactional, path, interceptors: services.transactions })
      : undefined;
    const producer = new LightProducer(clients.producer, path);
    const streams = createStreams(config, serviceId, { table, path, consumerYml: consumerYml.config, clients, propagatedHeaders: propagation.names, services, topicAdmin });
    probed.streams = streams;
    return new this({ services, clients, producer, consumer, transactional, lifecycle, health, streams, table, origins, path, consumerInGroup, topicAdmin });
  }

  /** Connects the producers, then joins the consumer group for every topic with a business handler. */
  async start(): Promise<void> {
    const { clients, consumer, health, services } = this.parts;
    try {
      await clients.connectProducers();
      this.started = true;
      await consumer.start();
      if (this.parts.streams.hasTopology) await this.parts.streams.start();
      for (const requests of this.requests) await requests.start();
    } catch (error) {
      await this.disconnectAll();
      throw LightError.wrap(error, 'ERR12004', { brokers: clients.brokers.join(',') });
    }
    await health.start();
    if (health.url) services.logger.info('metrics and health server listening', { url: health.url });
    services.logger.info('service started', { consumerGroup: consumer.groupId });
  }

  /**
   * Ready when the consumer is in its group (if it consumes anything) and the broker answers a metadata request
   * within metrics.yml brokerCheckTimeoutMs. Used by /health/readiness.
   */
  readiness(): Promise<Readiness> {
    return this.parts.health.readiness();
  }

  /** Runs before the consumer stops (e.g. close an HTTP server so no new work comes in). */
  onStop(hook: () => Promise<void> | void): this {
    this.parts.lifecycle.onStop(hook);
    return this;
  }

  /**
   * Graceful stop: stop hooks, then the consumer (records in flight finish and their offsets are committed,
   * the group is left), then the producers (sends under way finish). Bounded by service.yml stopTimeoutMs.
   */
  stop(): Promise<void> {
    const { producer, consumer, transactional, lifecycle } = this.parts;
    return lifecycle.stop({
      drain: async () => {
        await Promise.allSettled(this.requests.map((requests) => requests.stop()));
        producer.markStopping();
        await this.parts.streams.stop();
        await consumer.stop();
        await transactional?.markStopping();
      },
      disconnect: () => this.disconnectAll(),
    });
  }

  /** Stops gracefully on SIGTERM or SIGINT, then lets the process exit. */
  installSignalHandlers(): this {
    this.parts.lifecycle.installSignalHandlers(() => this.stop());
    return this;
  }

  private async disconnectAll(): Promise<void> {
    const { consumer, clients, health, streams } = this.parts;
    await Promise.allSettled([...this.requests.map((requests) => requests.stop()), streams.stop(), consumer.stop(), clients.disconnect(), health.stop()]);
  }
}

/**
 * The consume side's failure policy for one consumer group (the service's consumer, a reply reader, LightStreams):
 * kafka-consumer.yml's retries, and dead letters written as every consumer of the service writes them.
 */
function recordProcessorFor(groupId: string, parts: { clients: KafkaDriver; consumerYml: KafkaConsumerYml; topicAdmin: KafkajsTopicAdmin; propagatedHeaders: readonly string[]; logger: Logger }): RecordProcessor {
  const { clients, consumerYml, topicAdmin, propagatedHeaders, logger } = parts;
  return new RecordProcessor({ policy: consumerYml, deadLetters: deadLetterWriter(clients, consumerYml, topicAdmin, logger), groupId, propagatedHeaders, logger });
}

/** Dead letters of the consumer and of LightStreams alike: kafka-consumer.yml's topic suffix and stack limit. */
function deadLetterWriter(clients: KafkaDriver, consumerYml: KafkaConsumerYml, topicAdmin: KafkajsTopicAdmin, logger: Logger): KafkaDeadLetterWriter {
  return new KafkaDeadLetterWriter(clients.rawSender, { topicExt: consumerYml.deadLetterTopicExt, stackTraceMaxBytes: consumerYml.stackTraceMaxBytes }, topicAdmin, logger);
}

/** LightStreams of a service: kafka-streams.yml, its own clients (made at start), dead letters as the consumer's. */
function createStreams(
  config: ConfigLoader,
  serviceId: string,
  parts: { table: ChainTable; path: ProducePath; consumerYml: KafkaConsumerYml; clients: KafkaDriver; propagatedHeaders: readonly string[]; services: HandlerServices; topicAdmin: KafkajsTopicAdmin },
): LightStreams {
  const loaded = config.load<KafkaStreamsYml>('kafka-streams', { schema: KAFKA_STREAMS_SCHEMA });
  const file = loaded.file ?? 'kafka-streams.yml';
  const settings = toStreamsSettings(loaded.config, file, serviceId, parts.clients.name);
  const { logger } = parts.services;
  const processor = recordProcessorFor(settings.applicationId, { ...parts, logger });
  return new LightStreams({
    settings,
    baseDir: process.cwd(),
    // Each transport has its streams clients: kafkajs (a transactional.id per task) or librdkafka (KIP-447).
    createClients: ({ taskOf, processId, membership }) => {
      const options = {
        taskOf,
        processId,
        membership,
        applicationId: settings.applicationId,
        readCommitted: settings.processingGuarantee === 'exactly_once',
        consumerProperties: settings.consumerProperties,
        producerProperties: settings.producerProperties,
        file,
        ...(settings.applicationServer ? { applicationServer: settings.applicationServer } : {}),
      };
      const streamsLogger = logger.child({ component: 'streams' });
      return parts.clients.name === 'librdkafka' ? new LibrdkafkaStreamsClients(options, streamsLogger) : new KafkajsStreamsClients(options, streamsLogger);
    },
    table: parts.table,
    producePath: parts.path,
    processor,
    metricsRegistry: parts.services.metricsRegistry,
    serviceId,
    fetch: parts.services.fetch,
    propagatedHeaders: parts.propagatedHeaders,
    // A global table's records are decoded as the topic's consumers decode them, without the consume chain: every
    // instance reads every record at each restore, so a chain's audit, metrics or dead letters would repeat per instance.
    decodeGlobal: (topic, message) => ({
      key: deserialize(message.key, parts.consumerYml.keyFormat, topic, 'key'),
      value: deserialize(message.value, parts.consumerYml.valueFormat, topic, 'value'),
    }),
    logger: logger.child({ component: 'streams' }),
  });
}

/** Ready: the consumer in its group (when subscribed), the broker answering, not stopping, and LightStreams not failed. */
async function readinessOf(probed: { consumer?: LightConsumer; streams?: LightStreams }, clients: KafkaDriver, lifecycle: Lifecycle, timeoutMs: number): Promise<Readiness> {
  const { consumer, streams } = probed;
  const consumerReady = consumer !== undefined && (!consumer.isSubscribed || consumer.hasJoinedGroup);
  const broker = await clients.brokerAnswers(timeoutMs);
  const checks: Record<string, boolean> = { consumer: consumerReady, broker, stopping: lifecycle.isStopping };
  // Only a service with a topology has the check: false once its streams stopped on a failure (streams.failure).
  if (streams?.hasTopology) checks.streams = streams.failure === undefined;
  return { ready: consumerReady && broker && !lifecycle.isStopping && checks.streams !== false, checks };
}
