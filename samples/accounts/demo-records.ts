/** What the demos read back from Kafka to show a request's path: every record of a topic with its headers. */
import { parseSw8 } from '../../index.js';
import { Kafka, logLevel } from 'kafkajs';
import { readTopicToEnd } from '../../scripts/read-topic.js';

export interface TopicRecord {
  topic: string;
  partition: number;
  offset: string;
  value: string;
  headers: Record<string, string>;
}

/** Every record of a topic now, headers by lower-cased name. */
export async function readTopic(brokers: string, topic: string): Promise<TopicRecord[]> {
  const kafka = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const records = await readTopicToEnd(kafka, topic, { groupPrefix: 'demo-reader', timeoutMs: 30_000 });
  return records.map(({ partition, offset, value, headers }) => ({
    topic,
    partition,
    offset,
    value: value?.toString('utf8') ?? '',
    headers: Object.fromEntries([...headers].map(([name, bytes]) => [name.toLowerCase(), bytes.toString('utf8')])),
  }));
}

/** The W3C trace id of a record (its traceparent header). */
/** The trace id a record carries: OpenTelemetry's traceparent, or SkyWalking's sw8 (DEMO_SKYWALKING=1). */
export const traceIdOf = (headers: Record<string, string>): string => headers.traceparent?.split('-')[1] ?? parseSw8(headers.sw8)?.traceId ?? '(none)';

/** A record's place, correlation id, trace id and caller: one hop as the demos print it. */
export function hopLine(record: TopicRecord, what: string): string {
  const { headers } = record;
  return `${record.topic} p${record.partition}@${record.offset}  ${what}  correlation ${headers['x-correlation-id'] ?? '(none)'}  trace ${traceIdOf(headers)}  caller ${headers.caller_id ?? '(none)'}`;
}

/** The first value `probe` finds (its failures count as not yet), polled every 200 ms. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}
