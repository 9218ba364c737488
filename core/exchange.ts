import { RecordHeaders, type HeaderValue } from './headers.js';

export type Direction = 'produce' | 'consume';

/** What a service hands to LightProducer.send for one record. */
export interface OutgoingRecord {
  key?: string | Buffer | null;
  value: unknown;
  headers?: RecordHeaders | Record<string, HeaderValue | HeaderValue[] | undefined>;
  partition?: number;
  timestamp?: string;
}

/** Where the record ended up, filled by the producer transport once the broker acknowledged it. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset?: string;
  baseOffset?: string;
}

/**
 * The per-record context that travels through a chain. Handlers read and change it and leave what later
 * handlers need in `attachments` (verified claims, span, audit info, timings).
 */
export class Exchange {
  readonly direction: Direction;
  readonly topic: string;
  partition: number | undefined;
  offset: string | undefined;
  timestamp: string | undefined;
  key: string | Buffer | null;
  /** The record's bytes as read from, or written to, Kafka (null for a tombstone). */
  rawValue: Buffer | null;
  /** The decoded value the service works with. */
  value: unknown;
  readonly headers: RecordHeaders;
  readonly attachments = new Map<string | symbol, unknown>();
  /** Consume: the partition's high watermark when the record was fetched (for consumer lag). */
  highWatermark: string | undefined;
  /** Filled on the produce path by the transport. */
  metadata: RecordMetadata | undefined;
  /** When the chain started, for timings (ms since epoch). */
  readonly startedAt = Date.now();

  constructor(init: {
    direction: Direction;
    topic: string;
    partition?: number;
    offset?: string;
    timestamp?: string;
    key?: string | Buffer | null;
    rawValue?: Buffer | null;
    value?: unknown;
    headers?: RecordHeaders;
    highWatermark?: string;
  }) {
    this.direction = init.direction;
    this.topic = init.topic;
    this.partition = init.partition;
    this.offset = init.offset;
    this.timestamp = init.timestamp;
    this.key = init.key ?? null;
    this.rawValue = init.rawValue ?? null;
    this.value = init.value;
    this.headers = init.headers ?? new RecordHeaders();
    this.highWatermark = init.highWatermark;
  }

  /** The key as text (null when the record has no key). */
  get keyString(): string | null {
    if (this.key === null) return null;
    return typeof this.key === 'string' ? this.key : this.key.toString('utf8');
  }

  /** A short name of the record for logs and errors: topic-partition@offset, or the topic alone before sending. */
  describe(): string {
    if (this.partition === undefined) return this.topic;
    return `${this.topic}-${this.partition}@${this.offset ?? '?'}`;
  }
}
