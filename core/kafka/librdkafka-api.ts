import type { ClientBatchPayload, ClientMessage } from './client-shapes.js';

/**
 * The parts of @confluentinc/kafka-javascript (KafkaJS-compatible API) light-kafka uses, declared here so that
 * the project builds and kafkajs services run where the optional native client is not installed.
 */
export interface LibrdkafkaModule {
  KafkaJS: { Kafka: new (config: object) => LibrdkafkaKafka };
  /** The native (node-rdkafka) consumer. */
  KafkaConsumer: new (config: object) => NativeConsumer;
  CODES: { ERRORS: { ERR__ASSIGN_PARTITIONS: number; ERR__REVOKE_PARTITIONS: number } };
  librdkafkaVersion: string;
}

export interface LibrdkafkaKafka {
  producer(config: object): LibrdkafkaProducer;
  consumer(config: object): LibrdkafkaConsumerClient;
}

/** What the compatible API's logger option must provide. */
export interface LibrdkafkaLogger {
  info(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  debug(message: string, extra?: object): void;
  namespace(): LibrdkafkaLogger;
  setLogLevel(level: number): void;
}

export interface LibrdkafkaRecordMetadata {
  topicName: string;
  partition: number;
  baseOffset?: string;
}

export interface LibrdkafkaProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: { key?: string | Buffer | null; value: Buffer | string | null; headers?: Record<string, string | Buffer> }[] }): Promise<LibrdkafkaRecordMetadata[]>;
  sendBatch(batch: { topicMessages: { topic: string; messages: ClientMessage[] }[] }): Promise<LibrdkafkaRecordMetadata[]>;
  /** Starts a transaction; the producer itself is the transaction. */
  transaction(): Promise<LibrdkafkaProducer>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  sendOffsets(args: { consumer: OffsetsConsumer; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<void>;
}

/** A consumer whose group metadata a transactional producer sends its offsets with (KIP-447): the native client under it. */
export interface OffsetsConsumer {
  _getInternalClient(): unknown;
}

export interface LibrdkafkaConsumerClient extends OffsetsConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: (string | RegExp)[] }): Promise<void>;
  run(config: { eachBatchAutoResolve?: boolean; partitionsConsumedConcurrently?: number; eachBatch: (payload: ClientBatchPayload) => Promise<void> }): Promise<void>;
  /** Commits the stored offsets of the assignment (no argument). */
  commitOffsets(): Promise<void>;
}

/** A partition, with an offset where one is meant (the native API's TopicPartitionOffset). */
export interface NativePartition {
  topic: string;
  partition: number;
  offset?: number;
  leaderEpoch?: number;
}

/** A record as the native API's consume hands it over. */
export interface NativeMessage {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch?: number;
  key?: Buffer | string | null;
  value: Buffer | null;
  timestamp?: number;
  headers?: Record<string, Buffer | string>[];
}

export interface NativeMetadata {
  brokers: unknown[];
  topics: { name: string; partitions: unknown[] }[];
}

/** The error the native API passes to callbacks (librdkafka's code; isFatal for an unrecoverable consumer). */
export interface NativeError extends Error {
  code: number;
  isFatal?: boolean;
}

/** The parts of the native KafkaConsumer (node-rdkafka API) the LightConsumer driver uses. */
export interface NativeConsumer {
  connect(options: { timeout?: number }, callback: (error: NativeError | null) => void): void;
  disconnect(callback: (error: NativeError | null) => void): void;
  isConnected(): boolean;
  getMetadata(options: { topic?: string; allTopics: boolean; timeout: number }, callback: (error: unknown, metadata?: NativeMetadata) => void): void;
  subscribe(topics: (string | RegExp)[]): void;
  setDefaultConsumeTimeout(timeoutMs: number): void;
  setDefaultIsTimeoutOnlyForFirstMessage(onlyFirst: boolean): void;
  consume(count: number, callback: (error: NativeError | null, messages: NativeMessage[]) => void): void;
  /** Offsets to commit: the offset of the next record to read. */
  offsetsStore(partitions: NativePartition[]): void;
  commitCb(partitions: NativePartition[] | null, callback: (error: NativeError | null) => void): void;
  seek(partition: NativePartition, timeoutMs: number, callback: (error: NativeError | null) => void): void;
  pause(partitions: NativePartition[]): void;
  assign(partitions: NativePartition[]): void;
  unassign(): void;
  incrementalAssign(partitions: NativePartition[]): void;
  incrementalUnassign(partitions: NativePartition[]): void;
  assignmentLost(): boolean;
  rebalanceProtocol(): 'EAGER' | 'COOPERATIVE' | 'NONE';
  getWatermarkOffsets(topic: string, partition: number): { highOffset: number; lowOffset: number };
  on(event: 'event.error', listener: (error: NativeError) => void): void;
}
