import { randomUUID } from 'node:crypto';
import { reasonOf } from '../../core/errors/light-error.js';
import type { LibrdkafkaKafka, LibrdkafkaModule, LibrdkafkaProducer, NativeMessage } from '../../core/kafka/librdkafka-api.js';
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

/** The client's two APIs: the KafkaJS-compatible one (producers) and the native one (the consumer). */
export type RawRdkafka = LibrdkafkaKafka & { readonly module: LibrdkafkaModule };

/**
 * Raw @confluentinc/kafka-javascript (librdkafka) doing the same work as the raw kafkajs rows, through the APIs and
 * settings light-kafka's librdkafka transport uses: producers on the KafkaJS-compatible API (idempotent, acks all,
 * linger.ms 0), the consumer on the native API (batched consume calls, offsets stored and committed on the interval).
 */
export function rawRdkafka(module: LibrdkafkaModule): RawRdkafka {
  return Object.assign(new module.KafkaJS.Kafka({}), { module });
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

/** Records per native consume call (light-kafka's native consumer asks for as many by default). */
const CONSUME_BATCH = 2000;

/**
 * Seconds from the first to the last of `count` records, read from the beginning in a fresh group (join excluded):
 * the native consumer's consume(n) calls, each record parsed and its offset + 1 stored per call for librdkafka's
 * interval commit, as light-kafka's native consumer does.
 */
export async function consumeRd(kafka: RawRdkafka, brokers: string, topic: string, count: number): Promise<number> {
  const consumer = new kafka.module.KafkaConsumer({
    'bootstrap.servers': brokers,
    'group.id': `bench-rd-${randomUUID()}`,
    'auto.offset.reset': 'earliest',
    'enable.auto.commit': true,
    'enable.auto.offset.store': false,
    'partition.assignment.strategy': 'cooperative-sticky',
    'max.partition.fetch.bytes': 4 * 1024 * 1024,
  });
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 30_000 }, (error) => (error ? reject(error) : resolve())));
  consumer.setDefaultIsTimeoutOnlyForFirstMessage(true);
  consumer.setDefaultConsumeTimeout(200);
  consumer.subscribe([topic]);
  let seen = 0;
  let first = 0n;
  const deadline = Date.now() + 120_000;
  while (seen < count) {
    if (Date.now() > deadline) throw new Error('bench: raw librdkafka consumer timed out');
    const messages = await new Promise<NativeMessage[]>((resolve, reject) => consumer.consume(CONSUME_BATCH, (error, batch) => (error ? reject(error) : resolve(batch))));
    if (messages.length === 0) continue;
    if (seen === 0) first = process.hrtime.bigint();
    const last = new Map<number, number>();
    for (const message of messages) {
      JSON.parse(message.value!.toString('utf8'));
      last.set(message.partition, message.offset + 1);
    }
    consumer.offsetsStore([...last].map(([partition, offset]) => ({ topic, partition, offset })));
    seen += messages.length;
  }
  const elapsed = Number(process.hrtime.bigint() - first) / 1e9;
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  return elapsed;
}
