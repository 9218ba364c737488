import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders, type KafkaMessage } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isTransient, retryTransient } from '../../core/kafka/transient.js';

export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS;
  if (!list) throw new Error('KAFKA_BROKERS is not set: the root hook starts the broker');
  return list.split(',');
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function rawKafka(list: string[] = brokers()): Kafka {
  return new Kafka({ brokers: list, clientId: 'test-support', logLevel: logLevel.NOTHING });
}

export async function createTopics(topics: string[], partitions = 1): Promise<void> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    // A broker that started moments ago may not host a new topic yet ("does not host this topic-partition"), and a
    // busy one may time a creation out (kafkajs: "Topic creation errors", each with its own retriable error): asking
    // again creates what is missing; a topic an earlier attempt created in the end is there already.
    for (let missing = topics, deadline = Date.now() + 30_000; ; ) {
      try {
        await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: true });
        return;
      } catch (error) {
        const causes = (error as { errors?: unknown[] }).errors ?? [error];
        const retriable = causes.every((cause) => isTransient(cause) || (cause as { type?: string }).type === 'TOPIC_ALREADY_EXISTS' || (cause as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION');
        if (!retriable || Date.now() > deadline) throw error;
        await sleep(200);
        const existing = new Set(await admin.listTopics());
        missing = missing.filter((topic) => !existing.has(topic));
        if (missing.length === 0) return;
      }
    }
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
 * code under test) until `count` records arrived or `timeoutMs` passed.
 */
export async function readTopic(topic: string, options: { count: number; timeoutMs?: number; readUncommitted?: boolean }): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  await reading(topic, options.readUncommitted ?? false, records, async () => {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    while (records.length < options.count && Date.now() < deadline) await sleep(50);
  });
  return records;
}

const READ_MARKER = 'x-test-read-marker';

/**
 * Everything a topic holds now, with nothing left to chance: it appends a marker record to every partition and
 * reads until each marker arrived, so a record written before the call is never missed and no sleep decides.
 * Markers (of this and earlier calls) are left out of the result. Under read_committed a marker is seen only once
 * every transaction before it ended, so open transactions make this wait (and time out after `timeoutMs`).
 */
export async function readToEnd(topic: string, options: { timeoutMs?: number; readUncommitted?: boolean; brokers?: string } = {}): Promise<ReadRecord[]> {
  const marker = randomUUID();
  const list = options.brokers?.split(',') ?? brokers();
  const admin = rawKafka(list).admin();
  await admin.connect();
  let partitions: number[];
  try {
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    partitions = metadata!.partitions.map((partition) => partition.partitionId);
  } finally {
    await admin.disconnect();
  }
  const producer = rawKafka(list).producer({ idempotent: true });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: partitions.map((partition) => ({ partition, value: null, headers: { [READ_MARKER]: marker } })) });
  } finally {
    await producer.disconnect();
  }
  const records: ReadRecord[] = [];
  const markersSeen = new Set<number>();
  await reading(topic, options.readUncommitted ?? false, records, async () => {
    await waitFor(() => markersSeen.size === partitions.length, options.timeoutMs ?? 20_000, `the read markers of ${topic}`);
  }, (record) => {
    const seen = record.headers[READ_MARKER];
    if (seen === undefined) return true;
    if (seen.toString() === marker) markersSeen.add(record.partition);
    return false;
  }, list);
  return records;
}

async function reading(
  topic: string,
  readUncommitted: boolean,
  records: ReadRecord[],
  until: () => Promise<void>,
  keep: (record: ReadRecord) => boolean = () => true,
  list: string[] = brokers(),
): Promise<void> {
  // A short fetch wait: disconnect waits for the fetch in flight (kafkajs's default: up to 5 s per read).
  const consumer = rawKafka(list).consumer({ groupId: uniqueName('reader'), readUncommitted, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        const record = toRecord(t, partition, message);
        if (keep(record)) records.push(record);
      },
    });
    await until();
  } finally {
    await consumer.disconnect();
  }
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
  // Idempotent: a request that times out under load is sent again, and without it the broker would keep both copies
  // (a test counting its input would see records counted twice that were written twice).
  const producer = rawKafka().producer({ allowAutoTopicCreation: true, idempotent: true });
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The offsets a consumer group committed for a topic, by partition (-1 where none). */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = rawKafka().admin();
  await admin.connect();
  try {
    // A group coordinator still loading answers NOT_COORDINATOR (retriable): asked again.
    const [entry] = await retryTransient(() => admin.fetchOffsets({ groupId, topics: [topic] }), 30_000, () => undefined);
    return new Map((entry?.partitions ?? []).map((partition) => [partition.partition, Number(partition.offset)]));
  } finally {
    await admin.disconnect();
  }
}
