/**
 * The public transport contract: what a produce transport and a consume transport receive and must do.
 *
 * Produce transport — a handler module with `transport: 'produce'` (or `true`), the last handler of every produce
 * chain. It receives the exchange after every other handler ran (key and value as the service or a serde handler
 * left them, headers final) and turns the record into a TransportMessage (bytes and headers). The current send call
 * (`exchange.attachments.get(SEND_CALL)`) writes every record of one LightProducer / LightTransaction call in one
 * batch, and none of them if any record of the call failed its chain (the call's own Kafka writer is used unless
 * `writer` is given).
 *   - A phased transport (the built-in one) calls `call.enqueue(exchange, message, writer?)` in `before`; the call
 *     sets `exchange.metadata` when it writes, and the handlers' afters see the outcome.
 *   - An around transport never calls `next`: it awaits `call.add(exchange, topic, message, writer?)` (or writes
 *     the record itself), sets `exchange.metadata` (partition -1 when unknown), and throws a LightError (ERR12000
 *     for a write that failed) instead of resolving when the record was not written.
 *
 * Consume transport — a handler module with `transport: 'consume'`, the first handler of every consume chain
 * (added in front of a consume chain that does not name one). It receives the exchange as read from Kafka
 * (`key` and `rawValue` as bytes, headers, partition, offset) and must decode the key and arrange the value's
 * decoding (`exchange.decodeValueWith`) per its configured formats: in `before` (phased), or before `next()`.
 */
import { typedKey } from './attachments.js';
import type { Exchange, RecordMetadata } from './exchange.js';
import type { RecordHeaders } from './headers.js';
import type { SendCall } from './send-call.js';

/** A record as a produce transport hands it on: bytes and headers, nothing specific to one Kafka client. */
export interface TransportMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
  partition?: number;
  timestamp?: string;
}

/** Where the records of one topic-partition of a batch landed: the offset of the first of them. */
export interface PartitionAck {
  topic: string;
  partition: number;
  baseOffset: string | undefined;
}

/** Writes one send call's records (grouped by topic) in one request; resolves once the broker acknowledged them. */
export type BatchWriter = (batches: { topic: string; messages: TransportMessage[] }[]) => Promise<PartitionAck[]>;

/** A record written past every chain (audit records, dead letters). */
export interface RawRecord {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: RecordHeaders;
}

/** Sends records straight to Kafka, past every chain, with acks from all in-sync replicas. */
export interface RawSender {
  send(topic: string, records: RawRecord[]): Promise<void>;
}

/** Attachment under which LightProducer and LightTransaction hand each record's send call to the produce transport. */
export const SEND_CALL = typedKey<SendCall>('light-kafka.sendCall');

export type { SendCall };
export type { Exchange, RecordMetadata };
