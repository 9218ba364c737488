import { LightError } from '../errors/light-error.js';
import type { KafkaClientName } from '../kafka/driver.js';

/** kafka-streams.yml: Kafka Streams' own property names under `properties`, plus light-kafka's keys. */
export interface KafkaStreamsYml {
  properties: Record<string, unknown>;
  /** Where a store keeps its data: `persistent` (lmdb files under state.dir) or `memory` (restored from the changelog at each start). */
  storeType: 'persistent' | 'memory';
  /** A task logs its restoration progress every this many changelog records. */
  restoreLogEveryRecords: number;
  /** The longest a batch of changelog records may take to come while a store restores. */
  restoreTimeoutMs: number;
}

/** The settings LightStreams runs with, read from kafka-streams.yml `properties`. */
export interface StreamsSettings {
  applicationId: string;
  processingGuarantee: 'exactly_once' | 'at_least_once';
  stateDir: string;
  commitIntervalMs: number;
  /** host:port of this instance's query endpoint (application.server), if it serves queries. */
  applicationServer: string | undefined;
  /** num.standby.replicas: warm copies of each stateful task's stores kept on other instances. */
  numStandbyReplicas: number;
  storeType: 'persistent' | 'memory';
  restoreLogEveryRecords: number;
  restoreTimeoutMs: number;
  /** The other properties for the consumer (shared ones and `consumer.`-prefixed ones, prefix removed). */
  consumerProperties: Record<string, unknown>;
  /** The same for the producers (`producer.`-prefixed). */
  producerProperties: Record<string, unknown>;
}

export const KAFKA_STREAMS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    properties: { type: 'object', default: {} },
    storeType: { enum: ['persistent', 'memory'], default: 'persistent' },
    restoreLogEveryRecords: { type: 'integer', minimum: 1, default: 10000 },
    restoreTimeoutMs: { type: 'integer', minimum: 1000, default: 60000 },
  },
} as const;

/** Kafka Streams' properties that LightStreams reads itself; the rest go to the Kafka clients. */
const STREAMS_KEYS = new Set(['application.id', 'processing.guarantee', 'state.dir', 'commit.interval.ms', 'application.server', 'num.standby.replicas']);

/** The exactly-once transaction timeout when none is set, per transport (see toStreamsSettings). */
const TRANSACTION_TIMEOUT_MS: Record<KafkaClientName, number> = { kafkajs: 10_000, librdkafka: 30_000 };

/** `defaultApplicationId`: the serviceId, used when properties.application.id is not set. */
export function toStreamsSettings(yml: KafkaStreamsYml, file: string, defaultApplicationId: string, transport: KafkaClientName = 'kafkajs'): StreamsSettings {
  const { properties } = yml;
  // The serviceId may hold characters a topic name cannot: the default keeps only the ones it can.
  const applicationId = properties['application.id'] ?? defaultApplicationId.replace(/[^A-Za-z0-9._-]/g, '-');
  if (typeof applicationId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(applicationId)) {
    throw new LightError('ERR13001', { file, key: 'properties.application.id', reason: 'must be set to a name of letters, digits, ".", "_" or "-" (it names the consumer group, the transactional ids and the internal topics)' });
  }
  const guarantee = properties['processing.guarantee'] ?? 'exactly_once';
  if (guarantee !== 'exactly_once' && guarantee !== 'exactly_once_v2' && guarantee !== 'at_least_once') {
    throw new LightError('ERR13001', { file, key: 'properties.processing.guarantee', reason: `must be exactly_once or at_least_once, not ${String(guarantee)}` });
  }
  const processingGuarantee = guarantee === 'at_least_once' ? 'at_least_once' : 'exactly_once';
  const stateDir = properties['state.dir'] ?? 'kafka-streams-state';
  if (typeof stateDir !== 'string' || stateDir === '') throw new LightError('ERR13001', { file, key: 'properties.state.dir', reason: 'must be a folder path' });
  // Kafka Streams' defaults: 100 ms under exactly-once, 30 s under at-least-once.
  const interval = properties['commit.interval.ms'] ?? (processingGuarantee === 'exactly_once' ? 100 : 30000);
  const commitIntervalMs = Number(interval);
  if (!Number.isInteger(commitIntervalMs) || commitIntervalMs < 1) {
    throw new LightError('ERR13001', { file, key: 'properties.commit.interval.ms', reason: `must be a whole number of milliseconds >= 1, not ${String(interval)}` });
  }
  const server = properties['application.server'];
  if (server !== undefined && (typeof server !== 'string' || !/^[^:\s]+:\d{1,5}$/.test(server))) {
    throw new LightError('ERR13001', { file, key: 'properties.application.server', reason: `must be host:port (where this instance answers queries), not ${String(server)}` });
  }
  const replicas = properties['num.standby.replicas'] ?? 0;
  // A number, or a string of digits (a placeholder's value): not `true`, not ''.
  const numStandbyReplicas = typeof replicas === 'number' ? replicas : typeof replicas === 'string' && /^\s*\d+\s*$/.test(replicas) ? Number(replicas) : Number.NaN;
  if (!Number.isInteger(numStandbyReplicas) || numStandbyReplicas < 0) {
    throw new LightError('ERR13001', { file, key: 'properties.num.standby.replicas', reason: `must be a whole number >= 0 (standby replicas per stateful task), not ${String(replicas)}` });
  }
  const consumerProperties: Record<string, unknown> = {};
  const producerProperties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (STREAMS_KEYS.has(key)) continue;
    if (key.startsWith('consumer.')) consumerProperties[key.slice('consumer.'.length)] = value;
    else if (key.startsWith('producer.')) producerProperties[key.slice('producer.'.length)] = value;
    else {
      consumerProperties[key] = value;
      producerProperties[key] = value;
    }
  }
  checkGroupProtocol(consumerProperties, numStandbyReplicas, file);
  // A crashed instance's open transaction (its transactional.id is not reused until it restarts) holds read_committed
  // readers of its output partitions for this long, not the clients' 60 s. Kafka Streams' exactly-once default is
  // 10 s; librdkafka caps its request timeout (socket.timeout.ms) at the transaction timeout, and 10 s request
  // timeouts failed transactions on a loaded cluster, so it gets 30 s.
  if (processingGuarantee === 'exactly_once' && producerProperties['transaction.timeout.ms'] === undefined) producerProperties['transaction.timeout.ms'] = TRANSACTION_TIMEOUT_MS[transport];
  return {
    applicationId,
    processingGuarantee,
    stateDir,
    commitIntervalMs,
    applicationServer: server as string | undefined,
    numStandbyReplicas,
    storeType: yml.storeType,
    restoreLogEveryRecords: yml.restoreLogEveryRecords,
    restoreTimeoutMs: yml.restoreTimeoutMs,
    consumerProperties,
    producerProperties,
  };
}

/**
 * The consumer group protocol (KIP-848, librdkafka only: the transport refuses it on kafkajs) assigns on the broker:
 * its range assignor keeps partition N of every source topic together (a task), the uniform one does not; and the
 * standby replicas' placement is predicted from the classic protocol's group description, which it does not fill.
 */
function checkGroupProtocol(consumerProperties: Record<string, unknown>, numStandbyReplicas: number, file: string): void {
  if (String(consumerProperties['group.protocol'] ?? 'classic').toLowerCase() !== 'consumer') return;
  const assignor = consumerProperties['group.remote.assignor'];
  if (assignor !== undefined && assignor !== 'range') {
    throw new LightError('ERR13001', { file, key: 'properties.group.remote.assignor', reason: `must be range with group.protocol consumer (a task is partition N of every source topic; range keeps them on one member), not ${String(assignor)}` });
  }
  if (numStandbyReplicas > 0) {
    throw new LightError('ERR13001', { file, key: 'properties.num.standby.replicas', reason: 'must be 0 with group.protocol consumer: standby replicas are placed from the classic protocol\'s group description (use group.protocol classic for standbys)' });
  }
}
