import { readFileSync } from 'node:fs';
import type { CompressionTypes, ConsumerConfig, KafkaConfig, ProducerConfig, SASLOptions } from 'kafkajs';
import { LightError } from '../errors/light-error.js';
import type { KafkaClientName } from './driver.js';

/**
 * The one place where Kafka's own dotted client property names (as light-4j and the Java client use them)
 * become client options: kafkajs options, and librdkafka's configuration (which uses mostly the same names).
 * Both are checked by the same rules whichever client runs. Unknown names are a startup error, so a typo never
 * silently does nothing.
 */
export type KafkaProperties = Record<string, unknown>;

/** librdkafka configuration: its own property names and values. */
export type NativeConfig = Record<string, string | number | boolean>;

export interface ProducerSettings {
  client: KafkaConfig;
  producer: ProducerConfig;
  /** Per-send options. */
  acks: number;
  timeoutMs: number | undefined;
  compression: CompressionTypes | undefined;
  /** The same properties for librdkafka (with light-kafka's defaults: idempotent, acks all). */
  librdkafka: NativeConfig;
}

export interface ConsumerSettings {
  client: KafkaConfig;
  consumer: ConsumerConfig;
  fromBeginning: boolean;
  autoCommitInterval: number | undefined;
  autoCommitThreshold: number | undefined;
  /** The same properties for librdkafka (with light-kafka's defaults: earliest, read_committed). */
  librdkafka: NativeConfig;
}

type Setter<T> = (value: unknown, target: T, reader: PropertyReader) => void;

class PropertyReader {
  constructor(
    readonly file: string,
    readonly client: KafkaClientName,
    /** Settings for kafkajs tools that serve the other transport: its own properties are left to it, not refused. */
    private readonly toolsOfOther = false,
    private key = '',
  ) {}

  get name(): string {
    return this.key;
  }

  /** A property only one client has. */
  only(client: KafkaClientName, why: string): void {
    if (this.client !== client && !this.toolsOfOther) this.fail(`is supported by the ${client} transport only (service.yml transport: ${client}): ${why}`);
  }

  at(key: string): this {
    this.key = key;
    return this;
  }

  fail(reason: string): never {
    throw new LightError('ERR13011', { file: this.file, key: this.key, reason });
  }

  text(value: unknown): string {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    return this.fail('must be a string');
  }

  int(value: unknown): number {
    const number = typeof value === 'number' ? value : Number(this.text(value));
    if (!Number.isInteger(number) || number < 0) this.fail(`must be a whole number >= 0, got ${JSON.stringify(value)}`);
    return number;
  }

  bool(value: unknown): boolean {
    if (typeof value === 'boolean') return value;
    const text = this.text(value).toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
    return this.fail(`must be true or false, got ${JSON.stringify(value)}`);
  }

  oneOf<V extends string>(value: unknown, allowed: readonly V[]): V {
    const text = this.text(value);
    if (!(allowed as readonly string[]).includes(text)) this.fail(`must be one of ${allowed.join(', ')}, got ${text}`);
    return text as V;
  }

  fileContents(value: unknown): Buffer {
    const path = this.text(value);
    try {
      return readFileSync(path);
    } catch (error) {
      return this.fail(`names ${path}, which cannot be read: ${(error as Error).message}`);
    }
  }
}

interface ClientDraft {
  client: KafkaConfig;
  securityProtocol: string;
  sasl: Partial<{ mechanism: string; username: string; password: string }>;
  ssl: { ca?: Buffer; cert?: Buffer; key?: Buffer; passphrase?: string; checkServerIdentity?: () => undefined };
}

const CLIENT_PROPERTIES: Record<string, Setter<ClientDraft>> = {
  'bootstrap.servers': (value, draft, read) => {
    const brokers = read.text(value).split(',').map((broker) => broker.trim()).filter(Boolean);
    if (brokers.length === 0) read.fail('must name at least one host:port');
    draft.client.brokers = brokers;
  },
  'client.id': (value, draft, read) => (draft.client.clientId = read.text(value)),
  'request.timeout.ms': (value, draft, read) => (draft.client.requestTimeout = read.int(value)),
  'socket.connection.setup.timeout.ms': (value, draft, read) => (draft.client.connectionTimeout = read.int(value)),
  'retries': (value, draft, read) => (draft.client.retry = { ...draft.client.retry, retries: read.int(value) }),
  'retry.backoff.ms': (value, draft, read) => (draft.client.retry = { ...draft.client.retry, initialRetryTime: read.int(value) }),
  'retry.backoff.max.ms': (value, draft, read) => (draft.client.retry = { ...draft.client.retry, maxRetryTime: read.int(value) }),
  'security.protocol': (value, draft, read) =>
    (draft.securityProtocol = read.oneOf(value, ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const)),
  'sasl.mechanism': (value, draft, read) =>
    (draft.sasl.mechanism = read.oneOf(value, ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const).toLowerCase()),
  'sasl.username': (value, draft, read) => (draft.sasl.username = read.text(value)),
  'sasl.password': (value, draft, read) => (draft.sasl.password = read.text(value)),
  // The Java client's form: ...LoginModule required username="u" password="p";
  'sasl.jaas.config': (value, draft, read) => {
    const text = read.text(value);
    const username = /username\s*=\s*"([^"]*)"/.exec(text)?.[1];
    const password = /password\s*=\s*"([^"]*)"/.exec(text)?.[1];
    if (username === undefined || password === undefined) read.fail('must hold username="..." and password="..."');
    draft.sasl.username = username;
    draft.sasl.password = password;
  },
  'ssl.ca.location': (value, draft, read) => (draft.ssl.ca = read.fileContents(value)),
  'ssl.certificate.location': (value, draft, read) => (draft.ssl.cert = read.fileContents(value)),
  'ssl.key.location': (value, draft, read) => (draft.ssl.key = read.fileContents(value)),
  'ssl.key.password': (value, draft, read) => (draft.ssl.passphrase = read.text(value)),
  'ssl.endpoint.identification.algorithm': (value, draft, read) => {
    // Java's convention: an empty value turns host name verification off.
    if (read.text(value) === '') draft.ssl.checkServerIdentity = () => undefined;
  },
};

const PRODUCER_PROPERTIES: Record<string, Setter<ProducerSettings>> = {
  'acks': (value, settings, read) => {
    const text = read.text(value);
    settings.acks = text === 'all' || text === '-1' ? -1 : read.oneOf(text, ['0', '1'] as const) === '0' ? 0 : 1;
  },
  'enable.idempotence': (value, settings, read) => (settings.producer.idempotent = read.bool(value)),
  'transactional.id': (value, settings, read) => (settings.producer.transactionalId = read.text(value)),
  'transaction.timeout.ms': (value, settings, read) => (settings.producer.transactionTimeout = read.int(value)),
  'max.in.flight.requests.per.connection': (value, settings, read) => (settings.producer.maxInFlightRequests = read.int(value)),
  'allow.auto.create.topics': (value, settings, read) => (settings.producer.allowAutoTopicCreation = read.bool(value)),
  'delivery.timeout.ms': (value, settings, read) => (settings.timeoutMs = read.int(value)),
  'compression.type': (value, settings, read) => {
    const type = read.oneOf(value, ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const);
    // kafkajs ships gzip only; the other codecs need an external package registered with kafkajs.
    if (type !== 'none' && type !== 'gzip') read.only('librdkafka', 'kafkajs ships gzip only');
    settings.compression = type === 'gzip' ? (1 as CompressionTypes) : undefined;
  },
  'linger.ms': (value, _settings, read) => {
    read.int(value);
    read.only('librdkafka', 'kafkajs writes each send call at once');
  },
};

const CONSUMER_PROPERTIES: Record<string, Setter<ConsumerSettings>> = {
  'group.id': (value, settings, read) => (settings.consumer.groupId = read.text(value)),
  'auto.offset.reset': (value, settings, read) =>
    (settings.fromBeginning = read.oneOf(value, ['earliest', 'latest'] as const) === 'earliest'),
  'isolation.level': (value, settings, read) =>
    (settings.consumer.readUncommitted = read.oneOf(value, ['read_committed', 'read_uncommitted'] as const) === 'read_uncommitted'),
  'session.timeout.ms': (value, settings, read) => (settings.consumer.sessionTimeout = read.int(value)),
  'heartbeat.interval.ms': (value, settings, read) => (settings.consumer.heartbeatInterval = read.int(value)),
  'rebalance.timeout.ms': (value, settings, read) => (settings.consumer.rebalanceTimeout = read.int(value)),
  'fetch.min.bytes': (value, settings, read) => (settings.consumer.minBytes = read.int(value)),
  'fetch.max.bytes': (value, settings, read) => (settings.consumer.maxBytes = read.int(value)),
  'max.partition.fetch.bytes': (value, settings, read) => (settings.consumer.maxBytesPerPartition = read.int(value)),
  'fetch.max.wait.ms': (value, settings, read) => (settings.consumer.maxWaitTimeInMs = read.int(value)),
  'allow.auto.create.topics': (value, settings, read) => (settings.consumer.allowAutoTopicCreation = read.bool(value)),
  'auto.commit.interval.ms': (value, settings, read) => (settings.autoCommitInterval = read.int(value)),
  'enable.auto.commit': (value, _settings, read) => {
    // Offsets are committed by light-kafka after each record's chain; a Kafka auto-commit would lose records.
    if (read.bool(value)) read.fail('cannot be true: light-kafka commits each offset after the record was processed');
  },
  'max.poll.records': (value, _settings, read) => {
    if (read.int(value) === 0) read.fail('must be at least 1');
    read.only('librdkafka', 'kafkajs hands over the records of each fetch response');
  },
  'partition.assignment.strategy': (value, _settings, read) => {
    assignors(value, read);
    read.only('librdkafka', 'kafkajs assigns with its own round-robin assigner');
  },
  'group.protocol': (value, _settings, read) => {
    if (read.oneOf(value, ['classic', 'consumer'] as const) === 'consumer') {
      read.only('librdkafka', 'kafkajs speaks the classic group protocol only; the consumer protocol (KIP-848) needs transport: librdkafka and a Kafka 4 broker');
    }
  },
  'group.remote.assignor': (value, _settings, read) => {
    read.oneOf(value, ['uniform', 'range'] as const);
    read.only('librdkafka', 'the broker-side assignor of the consumer group protocol (KIP-848)');
  },
};

/** The Java client's assignor classes in librdkafka's names (librdkafka has no eager sticky assignor). */
const ASSIGNORS: Record<string, string> = {
  'range': 'range',
  'roundrobin': 'roundrobin',
  'cooperative-sticky': 'cooperative-sticky',
  'org.apache.kafka.clients.consumer.RangeAssignor': 'range',
  'org.apache.kafka.clients.consumer.RoundRobinAssignor': 'roundrobin',
  'org.apache.kafka.clients.consumer.CooperativeStickyAssignor': 'cooperative-sticky',
};

/** A comma-separated list of assignors in librdkafka's names; cooperative and eager ones cannot be mixed. */
function assignors(value: unknown, read: PropertyReader): string {
  const names = read.text(value).split(',').map((name) => name.trim()).filter(Boolean);
  const native = names.map((name) => ASSIGNORS[name] ?? read.fail(`names ${name}; known: ${Object.keys(ASSIGNORS).join(', ')}`));
  if (native.length === 0) read.fail('must name an assignor');
  if (native.includes('cooperative-sticky') && native.length > 1) read.fail('cannot mix cooperative-sticky with eager assignors (librdkafka refuses it)');
  return native.join(',');
}

/** The consumer group protocol (KIP-848) leaves these to the broker; librdkafka refuses the consumer otherwise. */
const SET_BY_THE_BROKER = ['partition.assignment.strategy', 'session.timeout.ms', 'heartbeat.interval.ms'];

function checkGroupProtocol(properties: KafkaProperties, read: PropertyReader): void {
  const consumerProtocol = properties['group.protocol'] === 'consumer';
  for (const key of SET_BY_THE_BROKER) {
    if (consumerProtocol && key in properties) {
      read.at(key).fail('cannot be set with group.protocol: consumer (KIP-848): the broker assigns partitions and sets session and heartbeat timing (its group.consumer.* settings); group.remote.assignor picks its assignor');
    }
  }
  if (!consumerProtocol && 'group.remote.assignor' in properties) read.at('group.remote.assignor').fail('needs group.protocol: consumer');
}

type Role = 'producer' | 'consumer';
type NativeSetter = (value: unknown, native: NativeConfig, read: PropertyReader, role: Role) => void;

const sameText: NativeSetter = (value, native, read) => (native[read.name] = read.text(value));
const sameInt: NativeSetter = (value, native, read) => (native[read.name] = read.int(value));
const sameBool: NativeSetter = (value, native, read) => (native[read.name] = read.bool(value));
const renamedInt = (name: string): NativeSetter => (value, native, read) => (native[name] = read.int(value));

/**
 * The same properties in librdkafka's terms. Values were already checked by the tables above; most names are
 * librdkafka's own, a few are renamed (CONFIGURATION.md of librdkafka 2.x).
 */
const NATIVE_PROPERTIES: Record<string, NativeSetter> = {
  'bootstrap.servers': (value, native, read) =>
    (native['bootstrap.servers'] = read.text(value).split(',').map((broker) => broker.trim()).filter(Boolean).join(',')),
  'client.id': sameText,
  // The Java client's request.timeout.ms is the producer's ack timeout and, for a consumer, the socket timeout.
  'request.timeout.ms': (value, native, read, role) => (native[role === 'producer' ? 'request.timeout.ms' : 'socket.timeout.ms'] = read.int(value)),
  'socket.connection.setup.timeout.ms': sameInt,
  'retries': (value, native, read, role) => {
    if (role === 'producer') native.retries = read.int(value);
  },
  'retry.backoff.ms': sameInt,
  'retry.backoff.max.ms': sameInt,
  'security.protocol': (value, native, read) => (native['security.protocol'] = read.text(value).toLowerCase()),
  'sasl.mechanism': sameText,
  'sasl.username': sameText,
  'sasl.password': sameText,
  'sasl.jaas.config': (value, native, read) => {
    const text = read.text(value);
    native['sasl.username'] = /username\s*=\s*"([^"]*)"/.exec(text)?.[1] ?? '';
    native['sasl.password'] = /password\s*=\s*"([^"]*)"/.exec(text)?.[1] ?? '';
  },
  'ssl.ca.location': sameText,
  'ssl.certificate.location': sameText,
  'ssl.key.location': sameText,
  'ssl.key.password': sameText,
  'ssl.endpoint.identification.algorithm': (value, native, read) =>
    (native['ssl.endpoint.identification.algorithm'] = read.text(value) === '' ? 'none' : read.text(value).toLowerCase()),
  'acks': (value, native, read) => (native.acks = read.text(value) === 'all' ? -1 : Number(read.text(value))),
  'enable.idempotence': sameBool,
  'transactional.id': sameText,
  'transaction.timeout.ms': sameInt,
  'max.in.flight.requests.per.connection': sameInt,
  'allow.auto.create.topics': sameBool,
  'delivery.timeout.ms': sameInt,
  'compression.type': sameText,
  'linger.ms': sameInt,
  'group.id': sameText,
  'auto.offset.reset': sameText,
  'isolation.level': sameText,
  'session.timeout.ms': sameInt,
  'heartbeat.interval.ms': sameInt,
  // librdkafka bounds a rebalance by the poll interval, as the Java client does.
  'rebalance.timeout.ms': renamedInt('max.poll.interval.ms'),
  'fetch.min.bytes': sameInt,
  'fetch.max.bytes': sameInt,
  'max.partition.fetch.bytes': sameInt,
  'fetch.max.wait.ms': renamedInt('fetch.wait.max.ms'),
  'auto.commit.interval.ms': sameInt,
  // Always false (checked above); the librdkafka driver commits the offsets light-kafka resolved.
  'enable.auto.commit': () => undefined,
  // The KafkaJS-compatible API of @confluentinc/kafka-javascript batches consumed records client-side; the native
  // consumer asks for this many records per consume call.
  'max.poll.records': renamedInt('js.consumer.max.batch.size'),
  'partition.assignment.strategy': (value, native, read) => (native['partition.assignment.strategy'] = assignors(value, read)),
  'group.protocol': sameText,
  'group.remote.assignor': sameText,
};

function toNative(properties: KafkaProperties, read: PropertyReader, role: Role, defaults: NativeConfig): NativeConfig {
  const native: NativeConfig = { ...defaults };
  for (const [key, value] of Object.entries(properties)) NATIVE_PROPERTIES[key]?.(value, native, read.at(key), role);
  // librdkafka refuses a transactional producer whose socket.timeout.ms (default 60 s) exceeds
  // transaction.timeout.ms + 100: a shorter transaction timeout (LightStreams' 10 s) shortens the socket's too.
  const transactionTimeout = native['transaction.timeout.ms'];
  if (role === 'producer' && typeof transactionTimeout === 'number' && native['socket.timeout.ms'] === undefined && transactionTimeout < 60000) {
    native['socket.timeout.ms'] = transactionTimeout;
  }
  return native;
}

function applyClient(properties: KafkaProperties, read: PropertyReader, unknown: Set<string>): KafkaConfig {
  const draft: ClientDraft = { client: { brokers: [] }, securityProtocol: 'PLAINTEXT', sasl: {}, ssl: {} };
  for (const [key, value] of Object.entries(properties)) {
    const setter = CLIENT_PROPERTIES[key];
    if (!setter) continue;
    unknown.delete(key);
    setter(value, draft, read.at(key));
  }
  if (draft.client.brokers.length === 0) {
    read.at('bootstrap.servers').fail('is required (host:port[,host:port])');
  }
  const client = draft.client;
  const protocol = draft.securityProtocol;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') client.ssl = Object.keys(draft.ssl).length > 0 ? draft.ssl : true;
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const { mechanism = 'plain', username, password } = draft.sasl;
    if (username === undefined || password === undefined) {
      read.at('sasl.username').fail(`and sasl.password (or sasl.jaas.config) are required with security.protocol ${protocol}`);
    }
    client.sasl = { mechanism, username, password } as SASLOptions;
  }
  return client;
}

function reportUnknown(unknown: Set<string>, file: string, supported: string[]): void {
  const [first] = unknown;
  if (first === undefined) return;
  throw new LightError('ERR13011', { file, key: first, reason: `is not supported; supported properties: ${supported.sort().join(', ')}` });
}

/**
 * `toolsOfOther`: the settings are for kafkajs clients that serve the librdkafka transport (LightStreams' topic
 * administration and restores): librdkafka-only properties are accepted there and take effect on librdkafka.
 */
export function toProducerSettings(properties: KafkaProperties, file: string, client: KafkaClientName = 'kafkajs', toolsOfOther = false): ProducerSettings {
  const unknown = new Set(Object.keys(properties));
  const read = new PropertyReader(file, client, toolsOfOther);
  const settings: ProducerSettings = {
    client: applyClient(properties, read, unknown),
    producer: { idempotent: true },
    acks: -1,
    timeoutMs: undefined,
    compression: undefined,
    librdkafka: {},
  };
  for (const [key, value] of Object.entries(properties)) {
    const setter = PRODUCER_PROPERTIES[key];
    if (!setter) continue;
    unknown.delete(key);
    setter(value, settings, read.at(key));
  }
  reportUnknown(unknown, file, [...Object.keys(CLIENT_PROPERTIES), ...Object.keys(PRODUCER_PROPERTIES)]);
  if (settings.producer.idempotent) {
    // kafkajs keeps an idempotent producer's sequence numbers correct only with one request in flight
    // (librdkafka keeps them with up to 5).
    if (client === 'kafkajs') settings.producer.maxInFlightRequests ??= 1;
    if (settings.acks !== -1) read.at('acks').fail('must be all when enable.idempotence is true');
  }
  // Every send call is awaited and queues all its records at once: waiting for more (librdkafka's linger.ms 5)
  // only adds latency (measured: single awaited sends 141/s with 5, 3,261/s with 0; batches of 500 faster too).
  // No client-side cap below the broker's (kafkajs has none): a topic that takes 8 MiB records gets them, dead letters too.
  settings.librdkafka = toNative(properties, read, 'producer', { 'enable.idempotence': true, acks: -1, 'linger.ms': 0, 'message.max.bytes': 104857600 });
  return settings;
}

export function toConsumerSettings(properties: KafkaProperties, file: string, client: KafkaClientName = 'kafkajs', toolsOfOther = false): ConsumerSettings {
  const unknown = new Set(Object.keys(properties));
  const read = new PropertyReader(file, client, toolsOfOther);
  const settings: ConsumerSettings = {
    client: applyClient(properties, read, unknown),
    consumer: { groupId: '', readUncommitted: false },
    fromBeginning: true,
    // Kafka's default: processed offsets are committed every 5 s, inside a long batch too (and at each batch's end).
    autoCommitInterval: 5000,
    autoCommitThreshold: undefined,
    librdkafka: {},
  };
  for (const [key, value] of Object.entries(properties)) {
    const setter = CONSUMER_PROPERTIES[key];
    if (!setter) continue;
    unknown.delete(key);
    setter(value, settings, read.at(key));
  }
  reportUnknown(unknown, file, [...Object.keys(CLIENT_PROPERTIES), ...Object.keys(CONSUMER_PROPERTIES)]);
  if (!settings.consumer.groupId) read.at('group.id').fail('is required');
  checkGroupProtocol(properties, read);
  // Kafka's default fetch.max.wait.ms (500; librdkafka's too), not kafkajs's 5000: a stop and a rebalance wait for the
  // fetch in flight, so kafkajs's default made every consumer stop take up to 5 s.
  settings.consumer.maxWaitTimeInMs ??= 500;
  // The compatible API hands over 32 records per batch by default; -1 hands over what it fetched for the partition
  // (measured: 68k records/s with 32, 72k with 2000, 1.2M with -1, raw client). Records are still processed and
  // committed one by one.
  settings.librdkafka = toNative(properties, read, 'consumer', {
    'auto.offset.reset': 'earliest',
    'isolation.level': 'read_committed',
    'js.consumer.max.batch.size': -1,
  });
  return settings;
}
