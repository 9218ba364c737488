import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/** A UDP socket that swallows what the jaeger reporter sends, so sampled tracing does real work but goes nowhere. */
export async function udpSink(): Promise<{ port: number; close(): void }> {
  const socket: Socket = createSocket('udp4');
  socket.on('message', () => undefined);
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { port: socket.address().port, close: () => socket.close() };
}

export const ORDER_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id', 'n', 'pad'],
  properties: { id: { type: 'string' }, n: { type: 'integer', minimum: 0 }, pad: { type: 'string' }, sentAt: { type: 'number' } },
};

/** A record value whose JSON is `size` bytes long. */
export function valueOfSize(n: number, size: number): { id: string; n: number; pad: string } {
  const base = { id: `order-${n}`, n, pad: '' };
  const overhead = Buffer.byteLength(JSON.stringify(base));
  return { ...base, pad: 'x'.repeat(Math.max(0, size - overhead)) };
}

export interface BenchConfigs {
  token: string;
  /** handler.yml with only the transport. */
  empty: string;
  /** correlation, tracing (sampled), security, JSON Schema, metrics, audit to a file. */
  fullSampled: string;
  /** The same with tracing sampling off. */
  fullUnsampled: string;
  /** The empty chain with records of one key in order and up to 64 keys of a partition at once. */
  keyOrdered: string;
  /** The empty and unsampled full chains on the librdkafka transport. */
  librdkafka: { empty: string; fullUnsampled: string };
  /** Rotates group ids and transactional ids per use. */
  dirs: string[];
}

const KAFKA_FILES = (brokers: string, transport = 'kafkajs'): Record<string, string> => ({
  'kafka-producer.yml': `properties:\n  bootstrap.servers: ${brokers}\n  transactional.id: \${bench.transactionalId:bench-tx}\n`,
  'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${brokers}\n  group.id: \${bench.groupId:bench}\n  auto.offset.reset: earliest\n  max.partition.fetch.bytes: 4194304\n`,
  'service.yml': `serviceId: bench-service\ntransport: ${transport}\n`,
});

function writeDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Config folders for the three chain set-ups, a signing key and one token the full chain accepts. */
export async function benchConfigs(brokers: string, tracerPort: number): Promise<BenchConfigs> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256' };
  const token = await new SignJWT({ client_id: 'bench-client', scope: 'order.w' })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
    .setIssuer('urn:bench')
    .setAudience('urn:bench')
    .setExpirationTime('2h')
    .sign(privateKey);
  const emptyOn = (transport: string): string =>
    writeDir({ ...KAFKA_FILES(brokers, transport), 'handler.yml': 'handlers: [kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer]\n  consume: []\n' });
  const full = (samplerParam: number, transport = 'kafkajs'): string => {
    const dir = writeDir({
      ...KAFKA_FILES(brokers, transport),
      'handler.yml': `handlers: [correlation, tracing, security, validation/json-schema@json, metrics, audit, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, tracing, security, json, metrics, audit, producer]
  consume: [correlation, tracing, metrics, audit, security, json]
`,
      'security.yml': 'jwt:\n  keys:\n    - kid: bench\n      file: bench.jwk\n  issuer: [urn:bench]\n  audience: [urn:bench]\n',
      'bench.jwk': JSON.stringify(jwk),
      'json-schema.yml': 'topics: {}\n',
      'order.schema.json': JSON.stringify(ORDER_SCHEMA),
      'tracing.yml': `tracer: jaeger\nsampler:\n  type: const\n  param: ${samplerParam}\nreporter:\n  agentHost: 127.0.0.1\n  agentPort: ${tracerPort}\n  flushIntervalMs: 500\n`,
      'metrics.yml': 'enabled: true\n',
    });
    writeFileSync(join(dir, 'audit.yml'), `auditFile: ${join(dir, 'audit.log')}\n`);
    return dir;
  };
  const empty = emptyOn('kafkajs');
  const fullSampled = full(1);
  const fullUnsampled = full(0);
  const librdkafka = { empty: emptyOn('librdkafka'), fullUnsampled: full(0, 'librdkafka') };
  const keyOrdered = emptyOn('kafkajs');
  writeFileSync(join(keyOrdered, 'kafka-consumer.yml'), `${KAFKA_FILES(brokers)['kafka-consumer.yml']}ordering: key\nmaxConcurrency: 64\n`);
  return {
    token,
    empty,
    fullSampled,
    fullUnsampled,
    keyOrdered,
    librdkafka,
    dirs: [empty, fullSampled, fullUnsampled, keyOrdered, librdkafka.empty, librdkafka.fullUnsampled],
  };
}

/** json-schema.yml naming the topics the full chain validates (topics are made per run). */
export function validateTopics(configDir: string, topics: string[]): void {
  const lines = topics.map((topic) => `  ${topic}:\n    value: order.schema.json\n`).join('');
  writeFileSync(join(configDir, 'json-schema.yml'), `topics:\n${lines}`);
}
