import type { SourceNode, StreamRecord } from './topology.js';
import { isValidTimestamp } from './windows.js';

/**
 * Where a source record's timestamp comes from (Kafka Streams' TimestampExtractor): `record.timestamp` is the Kafka
 * record's own (the default); `partitionTime` is the task's stream time so far (-1 before its first record). The
 * answer becomes the record's timestamp downstream: the windows it falls in, stream time, and the timestamp of what
 * it causes. An answer that is not a valid timestamp (negative, fractional, not a number, past MAX_TIMESTAMP) skips
 * the record (counted as `invalid-timestamp`); an extractor that throws fails the record (retried, then
 * dead-lettered, as any failure of the topology).
 */
export type TimestampExtractor<K = unknown, V = unknown> = (record: { key: K; value: V; timestamp: number }, partitionTime: number) => number;

/** A record's own timestamp (ms), NaN when it has none that reads as a whole number. */
function ownTimestamp(record: StreamRecord<unknown, unknown>): number {
  return /^-?\d+$/.test(record.timestamp) ? Number(record.timestamp) : Number.NaN;
}

/** The timestamp `source` gives a record (its extractor's, or its own), or undefined when it is not a valid one. */
export function extractTimestamp(source: SourceNode, record: StreamRecord<unknown, unknown>, partitionTime: number): number | undefined {
  const own = ownTimestamp(record);
  const time = source.timestampExtractor ? source.timestampExtractor({ key: record.key, value: record.value, timestamp: own }, partitionTime) : own;
  return isValidTimestamp(time) ? time : undefined;
}
