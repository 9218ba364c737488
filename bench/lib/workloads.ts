import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { LightService } from '../../index.js';
import type { OutgoingRecord } from '../../core/exchange.js';
import { percentile } from './stats.js';

export interface Workload {
  topic: string;
  count: number;
  size: number;
  /** Records per send call: large for batched sends, 1 for single awaited sends. */
  batchSize: number;
}

export function rawKafka(brokers: string): Kafka {
  return new Kafka({ brokers: brokers.split(','), clientId: 'bench-raw', logLevel: logLevel.NOTHING });
}

/** The same producer settings light-kafka uses by default: idempotent, acks all, one request in flight. */
export async function rawProducer(kafka: Kafka, transactionalId?: string): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // light-kafka's transactional producer starts its backoff at 20 ms (core/kafka/kafkajs-driver.ts): the same here.
    ...(transactionalId ? { transactionalId, retry: { initialRetryTime: 20, retries: 9 } } : {}),
  });
  await producer.connect();
  return producer;
}

export function lightService(configDir: string, extraEnv: Record<string, string> = {}): Promise<LightService> {
  return LightService.create({
    configDir,
    env: { ...process.env, BENCH_GROUPID: `bench-${randomUUID()}`, BENCH_TRANSACTIONALID: `bench-tx-${randomUUID()}`, ...extraEnv },
  });
}

/** Seconds to send `count` records in calls of `batchSize`, each awaited before the next. */
export async function produceRaw(producer: Producer, workload: Workload, values: Buffer[], headers: Record<string, string> = {}): Promise<number> {
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < workload.count; offset += workload.batchSize) {
    const messages = [];
    for (let i = offset; i < Math.min(offset + workload.batchSize, workload.count); i++) messages.push({ key: `k${i % 64}`, value: values[i % values.length]!, headers });
    await producer.send({ topic: workload.topic, acks: -1, messages });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function produceLight(service: LightService, workload: Workload, values: object[], headers: Record<string, string> = {}): Promise<number> {
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < workload.count; offset += workload.batchSize) {
    const records: OutgoingRecord[] = [];
    for (let i = offset; i < Math.min(offset + workload.batchSize, workload.count); i++) records.push({ key: `k${i % 64}`, value: values[i % values.length], headers });
    await service.producer.send(workload.topic, records);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Seconds from the first to the last of `count` records, read from the beginning in a fresh group (join time excluded). */
export async function consumeRaw(kafka: Kafka, topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID()}`, maxBytesPerPartition: 4 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let first = 0n;
  let last = 0n;
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
      for (const message of batch.messages) {
        if (!isRunning()) break;
        if (seen === 0) first = process.hrtime.bigint();
        JSON.parse(message.value!.toString('utf8'));
        resolveOffset(message.offset);
        seen += 1;
        if (seen === count) last = process.hrtime.bigint();
      }
      await heartbeat();
    },
  });
  await waitUntil(() => seen >= count, 120_000);
  await consumer.disconnect();
  return Number(last - first) / 1e9;
}

/** `work` is the business handler's own work per record (none by default). */
export async function consumeLight(configDir: string, topic: string, count: number, work?: () => Promise<void>): Promise<number> {
  const service = await lightService(configDir);
  let seen = 0;
  let first = 0n;
  let last = 0n;
  const countOne = (): void => {
    seen += 1;
    if (seen === count) last = process.hrtime.bigint();
  };
  // Synchronous when the handler has no work of its own, as the raw side's loop is: no promise per record.
  service.consumer.handle(
    topic,
    work
      ? async () => {
          if (seen === 0 && first === 0n) first = process.hrtime.bigint();
          await work();
          countOne();
        }
      : () => {
          if (seen === 0 && first === 0n) first = process.hrtime.bigint();
          countOne();
        },
  );
  await service.start();
  await waitUntil(() => seen >= count, 120_000);
  await service.stop();
  return Number(last - first) / 1e9;
}

/** A raw client's transactional producer: kafkajs's, or librdkafka's KafkaJS-compatible one. */
interface RawTransactionalProducer {
  transaction(): Promise<{ send(record: { topic: string; messages: { key: string; value: Buffer }[] }): Promise<unknown>; commit(): Promise<unknown> }>;
}

/** Seconds for `transactions` transactions of `perTransaction` records each, straight through a raw client. */
export async function transactionsRaw(producer: RawTransactionalProducer, topic: string, transactions: number, perTransaction: number, value: Buffer): Promise<number> {
  const started = process.hrtime.bigint();
  for (let t = 0; t < transactions; t++) {
    const tx = await producer.transaction();
    await tx.send({ topic, messages: Array.from({ length: perTransaction }, (_, i) => ({ key: `k${i % 64}`, value })) });
    await tx.commit();
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function transactionsLight(service: LightService, topic: string, transactions: number, perTransaction: number, value: object, headers: Record<string, string> = {}): Promise<number> {
  const started = process.hrtime.bigint();
  for (let t = 0; t < transactions; t++) {
    await service.transactionalProducer.transaction(async (tx) => {
      await tx.send(topic, Array.from({ length: perTransaction }, (_, i) => ({ key: `k${i % 64}`, value, headers })));
    });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  records: number;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * Produce-to-consume latency at a fixed rate: `rate` records per second for `seconds`, each carrying its send
 * time; the consumer is in its group before the first record is sent.
 */
export async function latency(
  mode: { kind: 'raw'; kafka: Kafka; producer: Producer } | { kind: 'light'; configDir: string; headers: Record<string, string> },
  topic: string,
  rate: number,
  seconds: number,
  pad: string,
): Promise<LatencyResult> {
  const latencies: number[] = [];
  const total = rate * seconds;
  const record = (n: number): { id: string; n: number; pad: string; sentAt: number } => ({ id: `l${n}`, n, pad, sentAt: nowMs() });
  let stop: () => Promise<void>;
  let send: (n: number) => Promise<unknown>;
  if (mode.kind === 'raw') {
    const consumer = mode.kafka.consumer({ groupId: `bench-lat-${randomUUID()}` });
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({ eachMessage: async ({ message }) => void latencies.push(nowMs() - JSON.parse(message.value!.toString()).sentAt) });
    await waitUntil(() => joined, 60_000);
    await sleep(1000);
    send = (n) => mode.producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify(record(n)) }] });
    stop = () => consumer.disconnect();
  } else {
    const service = await lightService(mode.configDir);
    let joined = false;
    service.consumer.on('groupJoin', () => (joined = true));
    service.consumer.handle(topic, (exchange) => void latencies.push(nowMs() - (exchange.value as { sentAt: number }).sentAt));
    await service.start();
    await waitUntil(() => joined, 60_000);
    await sleep(1000);
    send = (n) => service.producer.send(topic, { value: record(n), headers: mode.headers });
    stop = () => service.stop();
  }
  const started = nowMs();
  const sends: Promise<unknown>[] = [];
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - nowMs();
    if (wait > 1) await sleep(wait);
    sends.push(send(n));
  }
  await Promise.all(sends);
  await waitUntil(() => latencies.length >= total, 30_000);
  await stop();
  const sorted = latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), records: sorted.length };
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out after ${timeoutMs} ms`);
    await sleep(5);
  }
}
