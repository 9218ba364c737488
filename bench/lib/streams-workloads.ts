import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import { JoinWindows, LightService, TimeWindows, windowedKeyString } from '../../index.js';

/**
 * The streams rows: count records by key (100 B records, 64 keys) and write each new count to an output topic,
 * through LightStreams (exactly_once and at_least_once, commit.interval.ms 100) and through a raw kafkajs
 * consume-transform-produce loop doing the same work: a count per key in memory, per fetched batch one
 * transaction with the outputs, one changelog record per changed key and the input offsets.
 */

export function streamsConfigDir(brokers: string, applicationId: string, guarantee: 'exactly_once' | 'at_least_once', stateDir: string, commitIntervalMs = 100): string {
  const dir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-streams-'));
  const files: Record<string, string> = {
    'service.yml': 'serviceId: bench-streams\ntransport: kafkajs\n',
    'kafka-producer.yml': `properties:\n  bootstrap.servers: ${brokers}\n`,
    'kafka-consumer.yml': `properties:\n  bootstrap.servers: ${brokers}\n  group.id: bench-streams-unused\n`,
    'kafka-streams.yml': `properties:\n  bootstrap.servers: ${brokers}\n  application.id: ${applicationId}\n  processing.guarantee: ${guarantee}\n  state.dir: ${stateDir}\n  commit.interval.ms: ${commitIntervalMs}\n  consumer.max.partition.fetch.bytes: 4194304\n`,
    'handler.yml': 'handlers: [kafka/producer@producer]\ndefaultHandlers:\n  produce: [producer]\n  consume: []\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A topology of a streams row; `build` returns how many inputs it has done (read from a committed store, or counted). */
export interface StreamsWorkload {
  name: string;
  build(service: LightService, input: string, output: string, onFirst: () => void): () => number;
}

/** Count by key: a key-value store, each new count to the output; done = the committed counts. */
export const COUNT_BY_KEY: StreamsWorkload = {
  name: 'count by key',
  build(service, input, output, onFirst) {
    service.streams.builder().stream<string, unknown>(input).peek(onFirst).groupByKey().count({ store: 'counts' }).toStream().to(output);
    return () => service.streams.store<number>('counts').all().reduce((sum, { value }) => sum + value, 0);
  },
};

/** A tumbling-window count (1 s windows, a minute of grace): a window store, each update to the output; done = the committed counts. */
export const WINDOWED_COUNT: StreamsWorkload = {
  name: 'tumbling-window count (1 s windows, 60 s grace)',
  build(service, input, output, onFirst) {
    service.streams
      .builder()
      .stream<string, unknown>(input)
      .peek(onFirst)
      .groupByKey()
      .windowedBy(TimeWindows.ofSizeAndGrace(1000, 60_000))
      .count({ store: 'counts' })
      .toStream()
      .selectKey(windowedKeyString)
      .to(output);
    return () => service.streams.store<{ value: number }>('counts').all().reduce((sum, { value }) => sum + value.value, 0);
  },
};

/**
 * A stream-stream join (1 s window) of the input with a mapped copy of itself: with distinct keys, one result per
 * input, both sides buffered in window stores; done = the join results processed (committed at the stop).
 */
export const STREAM_JOIN: StreamsWorkload = {
  name: 'stream-stream join (1 s window), distinct keys',
  build(service, input, output, onFirst) {
    let joined = 0;
    const stream = service.streams.builder().stream<string, unknown>(input).peek(onFirst);
    const copy = stream.mapValues((value) => value);
    stream
      .join(copy, (value) => value, JoinWindows.ofTimeDifferenceWithNoGrace(1000), { name: 'bench-join' })
      .peek(() => void (joined += 1))
      .to(output);
    return () => joined;
  },
};

/** Seconds from the first record processed to the moment every input is counted in the committed store. */
export async function streamsLight(
  brokers: string,
  guarantee: 'exactly_once' | 'at_least_once',
  input: string,
  output: string,
  count: number,
  workload: StreamsWorkload = COUNT_BY_KEY,
): Promise<{ seconds: number; stateDir: string; applicationId: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'light-kafka-bench-state-'));
  const applicationId = `bench-streams-${randomUUID().slice(0, 8)}`;
  const service = await LightService.create({ configDir: streamsConfigDir(brokers, applicationId, guarantee, stateDir) });
  let first = 0n;
  const done = workload.build(service, input, output, () => {
    if (first === 0n) first = process.hrtime.bigint();
  });
  await service.start();
  await waitUntil(
    () => done() >= count,
    300_000,
    `${count} records counted`,
  );
  const seconds = Number(process.hrtime.bigint() - first) / 1e9;
  await service.stop();
  return { seconds, stateDir, applicationId };
}

/**
 * Seconds to restore the store of a finished run from its changelog (the local state deleted), from start() to
 * every key readable, and the number of changelog records read.
 */
export async function streamsRestore(brokers: string, run: { stateDir: string; applicationId: string }, input: string, keys: number): Promise<{ seconds: number; records: number }> {
  rmSync(run.stateDir, { recursive: true, force: true });
  mkdirSync(run.stateDir, { recursive: true });
  const service = await LightService.create({ configDir: streamsConfigDir(brokers, run.applicationId, 'exactly_once', run.stateDir) });
  // The same application: its input is all committed, so the restore is the only work.
  service.streams.builder().stream<string, unknown>(input).groupByKey().count({ store: 'counts' });
  const started = process.hrtime.bigint();
  await service.start();
  const store = service.streams.store('counts');
  await waitUntil(() => store.approximateCount() >= keys, 300_000, 'the store restored');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const metric = await service.metricsRegistry.getSingleMetric('light_kafka_streams_restored_records_total')?.get();
  await service.stop();
  return { seconds, records: (metric?.values ?? []).reduce((sum, { value }) => sum + value, 0) };
}

/** The raw kafkajs loop doing LightStreams' exactly_once work. */
export async function streamsRaw(kafka: Kafka, input: string, output: string, changelog: string, count: number): Promise<number> {
  const groupId = `bench-raw-streams-${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, maxBytesPerPartition: 4 * 1024 * 1024, readUncommitted: false });
  const producers = new Map<number, Awaited<ReturnType<typeof transactional>>>();
  const transactional = async (partition: number) => {
    const producer = kafka.producer({ transactionalId: `${groupId}-${partition}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { initialRetryTime: 20, retries: 9 } });
    await producer.connect();
    return producer;
  };
  const counts = new Map<string, number>();
  let seen = 0;
  let first = 0n;
  let last = 0n;
  await consumer.connect();
  await consumer.subscribe({ topic: input, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      if (batch.messages.length === 0) return;
      if (first === 0n) first = process.hrtime.bigint();
      let producer = producers.get(batch.partition);
      if (!producer) producers.set(batch.partition, (producer = await transactional(batch.partition)));
      const outputs = [];
      const changed = new Map<string, number>();
      for (const message of batch.messages) {
        const key = message.key!.toString('utf8');
        JSON.parse(message.value!.toString('utf8'));
        const value = (counts.get(key) ?? 0) + 1;
        counts.set(key, value);
        changed.set(key, value);
        outputs.push({ key, value: JSON.stringify(value) });
      }
      const transaction = await producer.transaction();
      await transaction.sendBatch({
        acks: -1,
        topicMessages: [
          { topic: output, messages: outputs },
          { topic: changelog, messages: [...changed].map(([key, value]) => ({ key, value: JSON.stringify(value), partition: batch.partition })) },
        ],
      });
      const next = (BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n).toString();
      await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: batch.partition, offset: next }] }] });
      await transaction.commit();
      for (const message of batch.messages) resolveOffset(message.offset);
      seen += batch.messages.length;
      if (seen >= count && last === 0n) last = process.hrtime.bigint();
      await heartbeat();
    },
  });
  await waitUntil(() => last !== 0n, 300_000, `${count} records through the raw loop`);
  await consumer.disconnect();
  await Promise.all([...producers.values()].map((producer) => producer.disconnect()));
  return Number(last - first) / 1e9;
}

/** `count` records with distinct keys (for a changelog with one record per key). */
export async function fillDistinctKeys(producer: Producer, topic: string, count: number, value: Buffer): Promise<void> {
  for (let offset = 0; offset < count; offset += 1000) {
    const messages = Array.from({ length: Math.min(1000, count - offset) }, (_, i) => ({ key: `key-${offset + i}`, value }));
    await producer.send({ topic, acks: -1, messages });
  }
}
