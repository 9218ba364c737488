import { Attachment, TypedMap } from './attachments.js';
import { RecordHeaders, type HeaderValue } from './headers.js';
import { identityFromHeaders, type Identity } from './identity.js';
import type { RequestContext } from './request-context.js';

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

/** Turns a consumed record's bytes into the value the service works with (the consume transport's format). */
export type ValueDecoder = (raw: Buffer | null) => unknown;

/**
 * The per-record context that travels through a chain. Handlers read and change it and leave what later
 * handlers need in `attachments` (verified claims, span, identity, timings), under typed keys.
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
  readonly headers: RecordHeaders;
  /** Consume: the consumer group the record is processed in. */
  readonly consumerGroup: string | undefined;
  /**
   * Consume: the record's request context (its propagated headers), current while its chain runs. A batch
   * business handler runs outside any one record's context: `runWithContext(exchange.context, ...)` works on
   * behalf of one record (what it produces carries that record's token, ids and trace).
   */
  context: RequestContext | undefined;
  /** Consume: the partition's high watermark when the record was fetched (for consumer lag). */
  highWatermark: string | undefined;
  /** Filled on the produce path by the transport. */
  metadata: RecordMetadata | undefined;
  private currentValue: unknown;
  private pendingDecoder: ValueDecoder | undefined;
  private attachmentMap: TypedMap | undefined;

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
    consumerGroup?: string;
  }) {
    this.direction = init.direction;
    this.topic = init.topic;
    this.partition = init.partition;
    this.offset = init.offset;
    this.timestamp = init.timestamp;
    this.key = init.key ?? null;
    this.rawValue = init.rawValue ?? null;
    this.currentValue = init.value;
    this.headers = init.headers ?? new RecordHeaders();
    this.highWatermark = init.highWatermark;
    this.consumerGroup = init.consumerGroup;
    this.context = undefined;
  }

  /** What handlers leave for later handlers, under typed keys (made on first use). */
  get attachments(): TypedMap {
    return (this.attachmentMap ??= new TypedMap());
  }

  /**
   * The decoded value the service works with. On consume, the transport decodes `rawValue` when the value is
   * first read, so a handler that decodes the bytes itself (Avro) sets it first and the format never applies.
   * A value that cannot be decoded throws its LightError (ERR11004, ERR11005) on every read.
   */
  get value(): unknown {
    const decoder = this.pendingDecoder;
    if (decoder) {
      this.currentValue = decoder(this.rawValue);
      this.pendingDecoder = undefined;
    }
    return this.currentValue;
  }

  set value(value: unknown) {
    this.pendingDecoder = undefined;
    this.currentValue = value;
  }

  /** Consume transport: the value is `decoder(rawValue)`, computed on first read. */
  decodeValueWith(decoder: ValueDecoder): void {
    this.pendingDecoder = decoder;
  }

  /** The correlation id, traceability id and caller: as the correlation handler resolved them, else from the default headers. */
  get identity(): Identity {
    return this.attachmentMap?.get(Attachment.identity) ?? identityFromHeaders(this.headers);
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
