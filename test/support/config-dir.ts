import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { groupTimingLines, testGroupProtocol, type GroupProtocol } from './group-protocol.js';

/** A temporary service config folder holding the given files (name -> text). */
export function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'light-kafka-test-'));
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

/** kafka-consumer.yml for a test: a fresh group, fast retries, plus any extra top-level lines. */
export function consumerYml(groupId: string, extra = '', maxRetries = 2): string {
  return `properties:
  bootstrap.servers: \${kafka.brokers}
  group.id: ${groupId}
  auto.offset.reset: earliest
${groupTimingLines(10000, 1000)}maxRetries: ${maxRetries}
retryDelayMs: 20
${extra}`;
}

export function producerYml(extra = ''): string {
  return `properties:
  bootstrap.servers: \${kafka.brokers}
${extra}`;
}

/** service.yml for a test: its id and the Kafka client the run selects (SERVICE_TRANSPORT, default kafkajs). */
export function serviceYml(serviceId: string, extra = ''): string {
  return `serviceId: ${serviceId}\ntransport: \${service.transport:kafkajs}\n${extra}`;
}

/**
 * The config folder of a LightStreams service for a test: exactly_once, commit.interval.ms 100, the streams
 * consumer's session timeout and heartbeat (default 10 s and 1 s), correlation on every hop; `streamsExtra`: more
 * lines under kafka-streams.yml's `properties:` (two spaces in).
 */
export function streamsServiceConfig(
  serviceId: string,
  applicationId: string,
  stateDir: string,
  options: {
    sessionTimeoutMs?: number;
    heartbeatMs?: number;
    streamsExtra?: string;
    consumerMaxRetries?: number;
    groupProtocol?: GroupProtocol;
    commitIntervalMs?: number;
    stopTimeoutMs?: number;
    /** More kafka-consumer.yml lines (failurePolicy, ...: the streams take the consumer's record handling). */
    consumerExtra?: string;
  } = {},
): string {
  const { sessionTimeoutMs = 10_000, heartbeatMs = 1000, streamsExtra = '', consumerMaxRetries = 1, groupProtocol = testGroupProtocol(), commitIntervalMs = 100, stopTimeoutMs = 20_000, consumerExtra = '' } = options;
  const timing = groupTimingLines(sessionTimeoutMs, heartbeatMs, 'consumer.', groupProtocol);
  return configDir({
    'service.yml': serviceYml(serviceId, `stopTimeoutMs: ${stopTimeoutMs}\n`),
    'kafka-consumer.yml': consumerYml(`${serviceId}-unused-${Math.random().toString(36).slice(2, 10)}`, consumerExtra, consumerMaxRetries),
    'kafka-producer.yml': producerYml(),
    'kafka-streams.yml': `properties:
  bootstrap.servers: \${kafka.brokers}
  application.id: ${applicationId}
  processing.guarantee: exactly_once
  state.dir: ${stateDir}
  commit.interval.ms: ${commitIntervalMs}
${streamsExtra}${timing}`,
    'handler.yml': `handlers: [correlation, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, producer]
  consume: [correlation]
`,
  });
}
