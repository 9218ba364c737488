import type { BatchWriter, RawSender } from '../transport.js';

/**
 * The Kafka client library under a service, chosen in service.yml `transport`: kafkajs (pure JavaScript) or
 * librdkafka (@confluentinc/kafka-javascript, native). Everything above this file — LightProducer, transactions,
 * LightConsumer, dead letters, health — talks to these interfaces only, so both behave the same.
 */
export type KafkaClientName = 'kafkajs' | 'librdkafka';

export const KAFKA_CLIENT_NAMES: readonly KafkaClientName[] = ['kafkajs', 'librdkafka'];

/** Consumed offsets to commit inside a transaction: the offset of the next record to read, per partition. */
export interface TopicOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

/** One Kafka transaction of a transactional producer. */
export interface DriverTransaction {
  readonly write: BatchWriter;
  /**
   * Commits consumed offsets with the transaction. Without `consumerGroupId` they are the service consumer's, with
   * its group metadata where the client supports it (KIP-447: a zombie of an older generation is fenced).
   */
  sendOffsets(offsets: { topics: TopicOffsets[]; consumerGroupId?: string }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface DriverProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** Writes the call's records; resolves once every one is acknowledged, throws when any was not. */
  readonly write: BatchWriter;
}

export interface DriverTransactionalProducer {
  readonly transactionalId: string;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  begin(): Promise<DriverTransaction>;
}

/** A consumed record as the consumer hands it on: bytes, headers, where it was read. */
export interface DriverMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  offset: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** The records of one partition handed to LightConsumer at once, and what it may do with them. */
export interface DriverBatch {
  topic: string;
  partition: number;
  /** The partition's end offset when the batch was read ('-1001' when unknown). */
  highWatermark: string;
  messages: DriverMessage[];
  /** Marks an offset processed: it is committed (on the client's interval and when the consumer stops). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(): Promise<void>;
  isRunning(): boolean;
  /** True once the partition was revoked or seeked under the batch: stop processing it. */
  isStale(): boolean;
  /**
   * True when the client wants the batch back: start no further record of it (the ones not started come again in
   * a later batch). Unlike isRunning, it does not cut short a record being retried. librdkafka serves a rebalance
   * only between batches, so its batches are handed back after a while; kafkajs never asks.
   */
  handBack(): boolean;
  /** Stops fetching this partition; unprocessed records of the batch are read again when it resumes. */
  pause(): void;
}

export interface DriverConsumerEvents {
  /** The consumer joined its group (and received an assignment, possibly empty). */
  groupJoin(payload: unknown): void;
  /** The consumer left its group: it stopped, crashed, or lost its assignment in a rebalance. */
  groupLeave(): void;
  /** The client gave up on the consumer; `restart` tells whether it starts it again. */
  crash(payload: { error: unknown; restart: boolean }): void;
}

export interface DriverConsumer {
  readonly groupId: string;
  connect(): Promise<void>;
  /** Subscribes; a topic that does not exist (yet) rejects with an error for which `isMissingTopic` is true. */
  subscribe(topics: (string | RegExp)[]): Promise<void>;
  run(options: { partitionsConsumedConcurrently: number; eachBatch: (batch: DriverBatch) => Promise<void> }): Promise<void>;
  /** Waits for the batches in flight, commits resolved offsets, leaves the group. */
  disconnect(): Promise<void>;
  /** Ends automatic restarts after a crash: a stopped consumer stays stopped. */
  stopRestarts(): void;
  on<E extends keyof DriverConsumerEvents>(event: E, listener: DriverConsumerEvents[E]): void;
  isMissingTopic(error: unknown): boolean;
}

/** The clients of one service: a plain producer, an optional transactional one, the consumer, a broker probe. */
export interface KafkaDriver {
  readonly name: KafkaClientName;
  readonly brokers: string[];
  readonly producer: DriverProducer;
  readonly transactional: DriverTransactionalProducer | undefined;
  readonly consumer: DriverConsumer;
  /** Sends past every chain, acks from all in-sync replicas (dead letters, audit records). */
  readonly rawSender: RawSender;
  connectProducers(): Promise<void>;
  /** Disconnects the producers and the broker probe (the consumer stops on its own). */
  disconnect(): Promise<void>;
  /** True when the cluster answers a metadata request within `timeoutMs`. */
  brokerAnswers(timeoutMs: number): Promise<boolean>;
}
