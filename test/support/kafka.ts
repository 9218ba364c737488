import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders, type KafkaMessage } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';

export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS;
  if (!list) throw new Error('KAFKA_BROKERS is not set: the root hook starts the broker');
  return list.split(',');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function rawKafka(): Kafka {
  return new Kafka({ brokers: brokers(), clientId: 'test-support', logLevel: logLevel.NOTHING });
}

export async function createTopics(topics: string[], partitions = 1): Promise<void> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export interface ReadRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: IHeaders;
}

/**
 * Reads a topic from the beginning with a plain kafkajs consumer in a fresh group (independent of the
 * code under test) until `count` records arrived or `timeoutMs` passed; waits `settleMs` more for extras.
 */
export async function readTopic(
  topic: string,
  options: { count: number; timeoutMs?: number; settleMs?: number; readUncommitted?: boolean },
): Promise<ReadRecord[]> {
  const consumer = rawKafka().consumer({ groupId: uniqueName('reader'), readUncommitted: options.readUncommitted ?? false });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        records.push(toRecord(t, partition, message));
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    while (records.length < options.count && Date.now() < deadline) await sleep(100);
    if (options.settleMs) await sleep(options.settleMs);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

function toRecord(topic: string, partition: number, message: KafkaMessage): ReadRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    value: message.value?.toString('utf8') ?? null,
    headers: message.headers ?? {},
  };
}

/** A header value from a raw kafkajs record, as strings (an array where the header repeats). */
export function headerText(headers: IHeaders, name: string): string | string[] | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((item) => item.toString());
  return value.toString();
}

/** Sends raw records with a plain kafkajs producer (for input the framework did not write). */
export async function produceRaw(topic: string, messages: { key?: string; value: string | Buffer | null; headers?: IHeaders }[]): Promise<void> {
  const producer = rawKafka().producer({ allowAutoTopicCreation: true });
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
