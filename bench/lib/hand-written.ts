/**
 * The full chain's concerns written by hand around raw kafkajs (issue 29, item 5): what a team would write without
 * light-kafka. Per record: a correlation id, a jaeger-client span, JWT verification with jose behind a small cache
 * keyed by the token, JSON Schema validation with an ajv-compiled validator, a prom-client histogram observation and
 * an audit JSON line appended to a file stream. Same token, key, schema, issuer and audience as the full chain's
 * config (bench/lib/fixtures.ts), same topics and records as the rows it is compared with.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { importJWK, jwtVerify, type JWTPayload } from 'jose';
import type { Kafka, KafkaMessage, Producer } from 'kafkajs';
import { FORMAT_TEXT_MAP, Tags, type Span, type Tracer } from 'opentracing';
import { Histogram, Registry } from 'prom-client';
import { DEFAULT_TAG_NAMES } from '../../handlers/tracing/config.js';
import { ORDER_SCHEMA } from './fixtures.js';
import type { Workload } from './workloads.js';

const require = createRequire(import.meta.url);
const SERVICE_ID = 'bench-service';
const CACHE_SIZE = 10_000;

/** Everything the hand-written loop sets up once: the tracer, the key, the validator, the histogram, the audit file. */
export interface HandWritten {
  tracer: Tracer;
  verify(token: string): Promise<JWTPayload>;
  validate: ValidateFunction;
  duration: Histogram<'topic' | 'direction' | 'client_id' | 'status'>;
  audit: WriteStream;
  /** The bootstrap broker, the spans' peer (as the tracing handler tags it). */
  broker: string;
  close(): Promise<void>;
}

/** The tracing handler's default tag names, so both write the same spans. */
const TAG = DEFAULT_TAG_NAMES;

/**
 * `configDir` is a full-chain config folder of bench/lib/fixtures.ts: its public key (bench.jwk) checks the token and
 * its audit.log directory takes the audit file. `sampled`: jaeger's const sampler at 1 (every span sent to the UDP
 * sink at `tracerPort`) or 0.
 */
export async function handWritten(configDir: string, tracerPort: number, sampled: boolean, broker: string): Promise<HandWritten> {
  const { initTracer } = require('jaeger-client') as typeof import('jaeger-client');
  const jaeger = initTracer(
    { serviceName: SERVICE_ID, sampler: { type: 'const', param: sampled ? 1 : 0 }, reporter: { agentHost: '127.0.0.1', agentPort: tracerPort, flushIntervalMs: 500 } },
    { logger: { info: () => undefined, error: () => undefined } },
  );
  const key = await importJWK(JSON.parse(readFileSync(join(configDir, 'bench.jwk'), 'utf8')), 'RS256');

  // Verified tokens, kept until they expire (a bounded map: the oldest entry goes first).
  const cache = new Map<string, { payload: JWTPayload; until: number }>();
  async function verify(token: string): Promise<JWTPayload> {
    const hit = cache.get(token);
    if (hit && Date.now() / 1000 < hit.until) return hit.payload;
    const { payload } = await jwtVerify(token, key, { algorithms: ['RS256'], issuer: 'urn:bench', audience: 'urn:bench', clockTolerance: 60 });
    cache.set(token, { payload, until: payload.exp ?? Number.POSITIVE_INFINITY });
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return payload;
  }

  const validate = new Ajv2020({ strict: false }).compile(ORDER_SCHEMA);
  const registry = new Registry();
  const duration = new Histogram({
    name: 'records_duration_seconds',
    help: 'Time to handle a record',
    labelNames: ['topic', 'direction', 'client_id', 'status'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });
  const audit = createWriteStream(join(configDir, 'hand-written-audit.log'), { flags: 'a' });
  return {
    tracer: jaeger as unknown as Tracer,
    verify,
    validate,
    duration,
    audit,
    broker,
    close: async () => {
      await new Promise<void>((resolve) => audit.end(() => resolve()));
      await new Promise<void>((resolve) => (jaeger as unknown as { close(callback: () => void): void }).close(() => resolve()));
    },
  };
}

/** Appends one audit line; waits only when the stream's buffer is full. */
async function auditLine(hw: HandWritten, line: Record<string, unknown>): Promise<void> {
  if (!hw.audit.write(JSON.stringify(line) + '\n')) await once(hw.audit, 'drain');
}

function text(value: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value[0]! : value).toString();
}

/** The tags a record span of the tracing handler starts with (before its kind and, on consume, its group). */
function recordTags(hw: HandWritten, topic: string, operation: string, correlationId: string, key: string | undefined): Record<string, string> {
  const tags: Record<string, string> = { [TAG.system]: 'kafka', [TAG.destination]: topic, [TAG.operation]: operation, [TAG.peer]: hw.broker, [TAG.correlationId]: correlationId };
  if (key !== undefined) tags[TAG.key] = key;
  return tags;
}

/** What a consumed record goes through, the business handler (counting) in the middle. */
async function handleConsumed(hw: HandWritten, groupId: string, topic: string, partition: number, message: KafkaMessage, business: () => void): Promise<void> {
  const started = performance.now();
  const headers = message.headers ?? {};
  const correlationId = text(headers['X-Correlation-Id']) ?? randomUUID();
  const traceHeader = text(headers['uber-trace-id']);
  const parent = traceHeader ? hw.tracer.extract(FORMAT_TEXT_MAP, { 'uber-trace-id': traceHeader }) : null;
  const span: Span = hw.tracer.startSpan(`${topic} process`, {
    ...(parent ? { childOf: parent } : {}),
    tags: { ...recordTags(hw, topic, 'process', correlationId, message.key?.toString()), [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_CONSUMER, [TAG.consumerGroup]: groupId },
  });
  let clientId: string | undefined;
  let status = 200;
  try {
    const authorization = text(headers.Authorization);
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (!token) throw Object.assign(new Error('no token'), { status: 401 });
    const claims = await hw.verify(token).catch((error: unknown) => {
      throw Object.assign(new Error(String(error)), { status: 401 });
    });
    clientId = claims.client_id as string | undefined;
    const value: unknown = JSON.parse(message.value!.toString('utf8'));
    if (!hw.validate(value)) throw Object.assign(new Error(hw.validate.errors?.[0]?.message ?? 'invalid'), { status: 400 });
    business();
  } catch (error) {
    status = (error as { status?: number }).status ?? 500;
    span.setTag(Tags.ERROR, true);
  }
  const seconds = (performance.now() - started) / 1000;
  hw.duration.observe({ topic, direction: 'consume', client_id: clientId ?? '', status: String(status) }, seconds);
  span.setTag(TAG.partition, partition).setTag(TAG.offset, message.offset).setTag(TAG.statusCode, status).finish();
  await auditLine(hw, {
    'X-Correlation-Id': correlationId,
    client_id: clientId,
    serviceId: SERVICE_ID,
    direction: 'consume',
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString(),
    statusCode: status,
    processingTime: Math.round(seconds * 1e6) / 1000,
    timestamp: new Date().toISOString(),
  });
}

/**
 * Seconds from the first to the last of `count` records, read from the beginning in a fresh group (join time
 * excluded), as consumeRaw; each record through the hand-written concerns, set up afresh for each run (as the full
 * chain's service is: the first record verifies the token, the rest hit the cache).
 */
export async function consumeHandWritten(kafka: Kafka, topic: string, count: number, setup: () => Promise<HandWritten>): Promise<number> {
  const hw = await setup();
  const groupId = `bench-hand-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let first = 0n;
  let last = 0n;
  const countOne = (): void => {
    seen += 1;
    if (seen === count) last = process.hrtime.bigint();
  };
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
      for (const message of batch.messages) {
        if (!isRunning()) break;
        if (first === 0n) first = process.hrtime.bigint();
        await handleConsumed(hw, groupId, batch.topic, batch.partition, message, countOne);
        resolveOffset(message.offset);
      }
      await heartbeat();
    },
  });
  const deadline = Date.now() + 120_000;
  while (seen < count) {
    if (Date.now() > deadline) throw new Error('bench: hand-written consume timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await consumer.disconnect();
  await hw.close();
  return Number(last - first) / 1e9;
}

/**
 * Seconds to send `count` records in awaited calls of `batchSize`, as produceRaw, each record through the
 * hand-written concerns first (correlation and caller ids, a producer span injected into the headers, validation,
 * serialization) and after its call (the histogram, the span's end, the audit line).
 */
export async function produceHandWritten(producer: Producer, hw: HandWritten, workload: Workload, values: object[], headers: Record<string, string>): Promise<number> {
  const { topic } = workload;
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < workload.count; offset += workload.batchSize) {
    const end = Math.min(offset + workload.batchSize, workload.count);
    const messages = [];
    const pending: { span: Span; correlationId: string; key: string; startedMs: number }[] = [];
    for (let i = offset; i < end; i++) {
      const startedMs = performance.now();
      const key = `k${i % 64}`;
      const value = values[i % values.length]!;
      const correlationId = randomUUID();
      const span = hw.tracer.startSpan(`${topic} send`, {
        tags: { ...recordTags(hw, topic, 'publish', correlationId, key), [Tags.SPAN_KIND]: Tags.SPAN_KIND_MESSAGING_PRODUCER },
      });
      const carrier: Record<string, string> = {};
      hw.tracer.inject(span.context(), FORMAT_TEXT_MAP, carrier);
      if (!hw.validate(value)) throw new Error(`invalid record: ${hw.validate.errors?.[0]?.message ?? 'invalid'}`);
      messages.push({ key, value: JSON.stringify(value), headers: { ...headers, 'X-Correlation-Id': correlationId, caller_id: SERVICE_ID, ...carrier } });
      pending.push({ span, correlationId, key, startedMs });
    }
    await producer.send({ topic, acks: -1, messages });
    for (const { span, correlationId, key, startedMs } of pending) {
      const seconds = (performance.now() - startedMs) / 1000;
      hw.duration.observe({ topic, direction: 'produce', client_id: '', status: '200' }, seconds);
      span.setTag(TAG.statusCode, 200).finish();
      await auditLine(hw, {
        'X-Correlation-Id': correlationId,
        caller_id: SERVICE_ID,
        serviceId: SERVICE_ID,
        direction: 'produce',
        topic,
        key,
        statusCode: 200,
        processingTime: Math.round(seconds * 1e6) / 1000,
        timestamp: new Date().toISOString(),
      });
    }
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}
