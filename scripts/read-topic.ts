import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';
import { RecordHeaders } from '../core/headers.js';

/** A record as read back by the tools. */
export interface ReadRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
}

/**
 * Every record a topic holds now (read_committed), in partition and offset order: read with a group of its own
 * from the beginning to each partition's end offset, counting the offsets the client skips (commit markers).
 * Used by the CLI and the demo; fails when the end is not reached within `timeoutMs`.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, options: { groupPrefix: string; timeoutMs: number }): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; high: string; low: string }[] = [];
  try {
    if ((await admin.listTopics()).includes(topic)) ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Map(ends.filter(({ high, low }) => high !== low).map(({ partition, high }) => [partition, BigInt(high)]));
  const records: ReadRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `${options.groupPrefix}-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`reading ${topic} to its end took more than ${options.timeoutMs} ms`)), options.timeoutMs);
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            records.push({ partition: batch.partition, offset: message.offset, key: message.key, value: message.value, headers: RecordHeaders.fromKafka(message.headers as IHeaders) });
          }
          if (BigInt(batch.lastOffset()) + 1n >= (remaining.get(batch.partition) ?? 0n)) remaining.delete(batch.partition);
          if (remaining.size === 0) {
            clearTimeout(timer);
            done();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
