import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

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
  session.timeout.ms: 10000
  heartbeat.interval.ms: 1000
maxRetries: ${maxRetries}
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
