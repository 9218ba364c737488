import type { Ordering } from './concurrent-dispatch.js';

/** kafka-producer.yml: Kafka client `properties` plus light-kafka's own keys. */
export interface KafkaProducerYml {
  properties: Record<string, unknown>;
  keyFormat: SerdeFormat;
  valueFormat: SerdeFormat;
}

/** kafka-consumer.yml: Kafka client `properties` plus light-kafka's failure policy and decoding keys. */
export interface KafkaConsumerYml {
  properties: Record<string, unknown>;
  keyFormat: SerdeFormat;
  valueFormat: SerdeFormat;
  failurePolicy: 'deadLetter' | 'stop';
  deadLetterEnabled: boolean;
  deadLetterTopicExt: string;
  maxRetries: number;
  retryDelayMs: number;
  retryBackoffMultiplier: number;
  maxRetryDelayMs: number;
  partitionsConsumedConcurrently: number;
  ordering: Ordering;
  maxConcurrency: number;
  stackTraceMaxBytes: number;
  subscribeTimeoutMs: number;
}

export type SerdeFormat = 'json' | 'string' | 'buffer';

const format = { enum: ['json', 'string', 'buffer'] };
const properties = { type: 'object', default: {} };

export const KAFKA_PRODUCER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    properties,
    keyFormat: { ...format, default: 'string' },
    valueFormat: { ...format, default: 'json' },
  },
} as const;

export const KAFKA_CONSUMER_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    properties,
    keyFormat: { ...format, default: 'string' },
    valueFormat: { ...format, default: 'json' },
    failurePolicy: { enum: ['deadLetter', 'stop'], default: 'deadLetter' },
    deadLetterEnabled: { type: 'boolean', default: true },
    deadLetterTopicExt: { type: 'string', minLength: 1, default: '.dlq' },
    maxRetries: { type: 'integer', minimum: 0, default: 3 },
    retryDelayMs: { type: 'integer', minimum: 0, default: 200 },
    retryBackoffMultiplier: { type: 'number', minimum: 1, default: 2 },
    maxRetryDelayMs: { type: 'integer', minimum: 0, default: 10000 },
    partitionsConsumedConcurrently: { type: 'integer', minimum: 1, default: 1 },
    ordering: { enum: ['partition', 'key', 'unordered'], default: 'partition' },
    maxConcurrency: { type: 'integer', minimum: 1, default: 16 },
    stackTraceMaxBytes: { type: 'integer', minimum: 0, default: 2048 },
    subscribeTimeoutMs: { type: 'integer', minimum: 0, default: 30000 },
  },
} as const;
