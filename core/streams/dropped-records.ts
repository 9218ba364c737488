import type { Counter, Registry } from 'prom-client';
import { registeredCounter } from '../registered-metric.js';

/**
 * Why a topology dropped a record (or, for `expired-window`, one window update of it), as Kafka Streams' dropped-records
 * sensor counts them:
 * - `invalid-timestamp`: the source's timestamp (its extractor's answer) is negative, fractional, not a number or past
 *   MAX_TIMESTAMP: the record is skipped before the topology (Kafka Streams' LogAndSkipOnInvalidTimestamp);
 * - `expired-window`: a window the record belongs to has closed (stream time >= window end + grace), or a stream-stream
 *   join's window store no longer keeps records that old (Kafka Streams' expired-window-record-drop);
 * - `null-key`: an aggregation or a join cannot key a record without a key (a global table join: its key selector
 *   gave none);
 * - `null-value`: a sliding-window aggregation or a join skips records without a value (as Kafka Streams does).
 */
export type DropReason = 'invalid-timestamp' | 'expired-window' | 'null-key' | 'null-value';

/** The records a task dropped on purpose: `light_kafka_streams_dropped_records_total{serviceId, reason, store}`. */
export type DroppedRecordsCounter = Counter<'serviceId' | 'reason' | 'store'>;

/** Registers (or finds) the dropped-records counter in a registry. */
export function droppedRecordsCounter(registry: Registry): DroppedRecordsCounter {
  return registeredCounter(registry, {
    name: 'light_kafka_streams_dropped_records_total',
    help: 'Records a LightStreams topology dropped on purpose, by reason (invalid-timestamp, expired-window, null-key, null-value) and store (empty when no store is involved)',
    labelNames: ['serviceId', 'reason', 'store'],
  });
}
