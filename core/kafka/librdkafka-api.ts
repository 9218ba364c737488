import type { ClientBatchPayload, ClientMessage } from './client-shapes.js';

/**
 * The parts of @confluentinc/kafka-javascript (KafkaJS-compatible API) light-kafka uses, declared here so that
 * the project builds and kafkajs services run where the optional native client is not installed.
 */
export interface LibrdkafkaModule {
  KafkaJS: { Kafka: new (config: object) => LibrdkafkaKafka };
  CODES: { ERRORS: { ERR__ASSIGN_PARTITIONS: number } };
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
  sendOffsets(args: { consumer: LibrdkafkaConsumerClient; topics: { topic: string; partitions: { partition: number; offset: string }[] }[] }): Promise<void>;
}

export interface LibrdkafkaConsumerClient {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: (string | RegExp)[] }): Promise<void>;
  run(config: { eachBatchAutoResolve?: boolean; partitionsConsumedConcurrently?: number; eachBatch: (payload: ClientBatchPayload) => Promise<void> }): Promise<void>;
  /** Commits the stored offsets of the assignment (no argument). */
  commitOffsets(): Promise<void>;
}
