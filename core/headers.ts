import type { IHeaders } from 'kafkajs';

/** Header names shared with light-4j / light-kafka Java services: written exactly so, read case-insensitively. */
export const HeaderNames = {
  authorization: 'Authorization',
  scopeToken: 'X-Scope-Token',
  correlationId: 'X-Correlation-Id',
  traceabilityId: 'X-Traceability-Id',
  callerId: 'caller_id',
  jaegerTrace: 'uber-trace-id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** SkyWalking's cross-process context (its Java agent on light-4j services writes the same). */
  skywalking: 'sw8',
} as const;

/**
 * The headers of a unit of work that travel on to whatever it produces or calls. caller_id is not among them:
 * each hop writes its own serviceId there.
 */
export const PROPAGATED_HEADERS: readonly string[] = [
  HeaderNames.authorization,
  HeaderNames.scopeToken,
  HeaderNames.correlationId,
  HeaderNames.traceabilityId,
  HeaderNames.jaegerTrace,
  HeaderNames.traceparent,
  HeaderNames.tracestate,
  HeaderNames.skywalking,
];

/** Headers the dead-letter writer adds to the original record's headers. */
export const DeadLetterHeaderNames = {
  originalTopic: 'x-dlq-original-topic',
  originalPartition: 'x-dlq-original-partition',
  originalOffset: 'x-dlq-original-offset',
  originalTimestamp: 'x-dlq-original-timestamp',
  consumerGroup: 'x-dlq-consumer-group',
  errorCode: 'x-dlq-error-code',
  errorMessage: 'x-dlq-error-message',
  errorStack: 'x-dlq-error-stack',
  /** Validation failures: where in the record, and which schema keyword failed. */
  errorPath: 'x-dlq-error-path',
  errorKeyword: 'x-dlq-error-keyword',
  attempts: 'x-dlq-attempts',
  failedAt: 'x-dlq-failed-at',
  /** On a copy written because the record did not fit in its dead-letter topic: its value was left out. */
  truncated: 'x-dlq-truncated',
  /** On a record the CLI's `dlq replay` wrote back: the dead letter it came from (`<dlq topic>-<partition>@<offset>`). */
  replayedFrom: 'x-dlq-replayed-from',
} as const;

export type HeaderValue = Buffer | string;

/** Headers as Kafka clients hand them: one key per name, an array where a name repeats. */
type KafkaHeaders = IHeaders | Record<string, HeaderValue | HeaderValue[] | undefined>;

interface HeaderEntry {
  name: string;
  /** The name lower-cased once, for case-insensitive lookups. */
  lower: string;
  value: Buffer;
}

/**
 * Kafka record headers: ordered, multi-valued byte arrays. Lookup ignores case; values stay Buffers so
 * binary headers survive; repeated names are never flattened to one value.
 */
export class RecordHeaders implements Iterable<[string, Buffer]> {
  private store: HeaderEntry[] = [];
  /** Headers as a Kafka client handed them, turned into entries on first use (most records never need it). */
  private unread: KafkaHeaders | undefined;

  /** The headers of a consumed record, read only when something asks for them. */
  static fromKafka(input: KafkaHeaders | undefined): RecordHeaders {
    const headers = new RecordHeaders();
    headers.unread = input;
    return headers;
  }

  private get entries(): HeaderEntry[] {
    const unread = this.unread;
    if (unread !== undefined) {
      this.unread = undefined;
      this.store = entriesOf(unread);
    }
    return this.store;
  }

  static from(input?: IHeaders | RecordHeaders | Record<string, HeaderValue | HeaderValue[] | undefined>): RecordHeaders {
    if (input instanceof RecordHeaders) return input.clone();
    const headers = new RecordHeaders();
    if (!input) return headers;
    for (const [name, value] of Object.entries(input)) {
      if (value === undefined || value === null) continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.add(name, item);
    }
    return headers;
  }

  clone(): RecordHeaders {
    const copy = new RecordHeaders();
    if (this.unread !== undefined) copy.unread = this.unread;
    else copy.store = this.store.slice();
    return copy;
  }

  /**
   * A new RecordHeaders with the first value of each of `names` found here, written under the name as given, in the
   * order of `names` (what `set` of each found name on empty headers gives, without its repeated lookups).
   */
  pick(names: readonly string[]): RecordHeaders {
    const picked = new RecordHeaders();
    const entries = this.entries;
    const out = picked.store;
    for (const name of names) {
      const lower = name.toLowerCase();
      const found = firstOf(entries, lower);
      if (found === undefined) continue;
      // Names that differ only in case: the later replaces the earlier, as set does.
      const earlier = firstOf(out, lower);
      if (earlier !== undefined) out.splice(out.indexOf(earlier), 1);
      out.push({ name, lower, value: found.value });
    }
    return picked;
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * The values of the headers whose lower-cased name passes `test`, as UTF-8 text by lower-cased name (a later
   * value of a repeated name replaces an earlier one); undefined when no header passes.
   */
  textsWhere(test: (lowerName: string) => boolean): Record<string, string> | undefined {
    let texts: Record<string, string> | undefined;
    for (const entry of this.entries) if (test(entry.lower)) (texts ??= {})[entry.lower] = entry.value.toString('utf8');
    return texts;
  }

  /** Removes every header whose lower-cased name passes `test`. */
  deleteWhere(test: (lowerName: string) => boolean): boolean {
    const entries = this.entries;
    const kept = entries.filter((entry) => !test(entry.lower));
    if (kept.length === entries.length) return false;
    this.store = kept;
    return true;
  }

  /** Appends one more value under `name` (repeated headers are allowed). */
  add(name: string, value: HeaderValue): this {
    if (this.unread !== undefined) void this.entries;
    this.store.push({ name, lower: name.toLowerCase(), value: toBuffer(value) });
    return this;
  }

  /** Replaces every value of `name` (any case) by one value written under the exact `name` given. */
  set(name: string, value: HeaderValue): this {
    this.delete(name);
    return this.add(name, value);
  }

  delete(name: string): boolean {
    const lower = name.toLowerCase();
    let removed = false;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      if (this.entries[i]!.lower === lower) {
        this.entries.splice(i, 1);
        removed = true;
      }
    }
    return removed;
  }

  has(name: string): boolean {
    return firstOf(this.entries, name.toLowerCase()) !== undefined;
  }

  /** The first value of `name` as raw bytes. */
  getBuffer(name: string): Buffer | undefined {
    return firstOf(this.entries, name.toLowerCase())?.value;
  }

  /** The first value of `name` decoded as UTF-8. */
  get(name: string): string | undefined {
    return this.getBuffer(name)?.toString('utf8');
  }

  /** Every value of `name`, in record order, as raw bytes. */
  getAllBuffers(name: string): Buffer[] {
    const lower = name.toLowerCase();
    return this.entries.filter((entry) => entry.lower === lower).map((entry) => entry.value);
  }

  getAll(name: string): string[] {
    return this.getAllBuffers(name).map((value) => value.toString('utf8'));
  }

  names(): string[] {
    return [...new Set(this.entries.map((entry) => entry.name))];
  }

  [Symbol.iterator](): Iterator<[string, Buffer]> {
    return this.entries.map((entry): [string, Buffer] => [entry.name, entry.value])[Symbol.iterator]();
  }

  /** The kafkajs form: one key per exact name, an array where a name repeats. */
  toKafka(): IHeaders {
    const out: Record<string, Buffer | Buffer[]> = {};
    for (const { name, value } of this.entries) {
      const existing = out[name];
      if (existing === undefined) out[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else out[name] = [existing, value];
    }
    return out;
  }

  /** A readable form for logs: strings, with arrays where a name repeats. */
  toJSON(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const { name, value } of this.entries) {
      const text = value.toString('utf8');
      const existing = out[name];
      if (existing === undefined) out[name] = text;
      else if (Array.isArray(existing)) existing.push(text);
      else out[name] = [existing, text];
    }
    return out;
  }
}

/** The entries of headers as a Kafka client hands them, in an array made at its size (not grown header by header). */
function entriesOf(headers: KafkaHeaders): HeaderEntry[] {
  let count = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && value !== null) count += Array.isArray(value) ? value.length : 1;
  }
  const entries = new Array<HeaderEntry>(count);
  let i = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || value === null) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const item of value) entries[i++] = { name, lower, value: toBuffer(item) };
    else entries[i++] = { name, lower, value: toBuffer(value) };
  }
  return entries;
}

function firstOf(entries: readonly HeaderEntry[], lower: string): HeaderEntry | undefined {
  for (const entry of entries) if (entry.lower === lower) return entry;
  return undefined;
}

function toBuffer(value: HeaderValue): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw new TypeError(`header value must be a string or a Buffer, got ${typeof value}`);
}
