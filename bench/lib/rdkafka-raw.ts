import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { reasonOf } from '../../core/errors/light-error.js';
import type { LibrdkafkaKafka, LibrdkafkaModule, LibrdkafkaProducer } from '../../core/kafka/librdkafka-api.js';
import { loadLibrdkafkaClient } from '../../core/kafka/librdkafka-driver.js';
import type { Workload } from './workloads.js';

/**
 * The optional librdkafka client (@confluentinc/kafka-javascript, absent after a plain `npm ci`): loaded when the
 * bench starts, or the one-line reason its rows are skipped.
 */
export type LibrdkafkaClient = { module: LibrdkafkaModule; skipped?: undefined } | { module?: undefined; skipped: string };

export function librdkafkaClient(specifier?: string): LibrdkafkaClient {
  try {
    return { module: loadLibrdkafkaClient(specifier) };
  } catch (error) {
    // ERR12009; its cause is require's error, whose first line says what is missing.
    const cause = reasonOf((error as Error).cause ?? error).split('\n')[0];
    return { skipped: `librdkafka rows skipped: @confluentinc/kafka-javascript cannot be loaded (${cause}); to run them: CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript` };
  }
}

/** Whether a bench row (its label) needs the librdkafka client. */
export function isLibrdkafkaRow(label: string): boolean {
  return label.includes('librdkafka');
}

/**
 * Raw @confluentinc/kafka-javascript (librdkafka) doing the same work as the raw kafkajs rows, through the same
 * KafkaJS-compatible API and settings light-kafka's librdkafka transport uses: idempotent, acks all, linger.ms 0,
 * whole fetched batches handed to the consumer.
 */
export function rawRdkafka(module: LibrdkafkaModule): LibrdkafkaKafka {
  return new module.KafkaJS.Kafka({});
}

const quiet = { kafkaJS: { logLevel: 0 } } as const;

export async function rdProducer(kafka: LibrdkafkaKafka, brokers: string, transactionalId?: string): Promise<LibrdkafkaProducer> {
  const producer = kafka.producer({
    ...quiet,
    'bootstrap.servers': brokers,
    'enable.idempotence': true,
    acks: -1,
    'linger.ms': 0,
    ...(transactionalId ? { 'transactional.id': transactionalId } : {}),
  });
  await producer.connect();
  return producer;
}

export async function produceRd(producer: LibrdkafkaProducer, workload: Workload, values: Buffer[], headers: Record<string, string> = {}): Promise<number> {
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < workload.count; offset += workload.batchSize) {
    const messages = [];
    for (let i = offset; i < Math.min(offset + workload.batchSize, workload.count); i++) messages.push({ key: `k${i % 64}`, value: values[i % values.length]!, headers });
    await producer.send({ topic: workload.topic, messages });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Seconds from the first to the last of `count` records, read from the beginning in a fresh group (join excluded). */
export async function consumeRd(kafka: LibrdkafkaKafka, brokers: string, topic: string, count: number): Promise<number> {
  const consumer = kafka.consumer({
    kafkaJS: { groupId: `bench-rd-${randomUUID()}`, fromBeginning: true, logLevel: 0 },
    'bootstrap.servers': brokers,
    'max.partition.fetch.bytes': 4 * 1024 * 1024,
    'js.consumer.max.batch.size': -1,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  let seen = 0;
  let first = 0n;
  let last = 0n;
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning }) => {
      for (const message of batch.messages as { offset: string; value: Buffer | null }[]) {
        if (!isRunning()) break;
        if (seen === 0) first = process.hrtime.bigint();
        JSON.parse(message.value!.toString('utf8'));
        resolveOffset(message.offset);
        seen += 1;
        if (seen === count) last = process.hrtime.bigint();
      }
    },
  });
  const deadline = Date.now() + 120_000;
  while (seen < count) {
    if (Date.now() > deadline) throw new Error('bench: raw librdkafka consumer timed out');
    await sleep(5);
  }
  await consumer.disconnect();
  return Number(last - first) / 1e9;
}
