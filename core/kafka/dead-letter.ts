import { failureStatusOf, LightError, reasonOf } from '../errors/light-error.js';
import { DeadLetterHeaderNames as H, RecordHeaders } from '../headers.js';
import type { Logger } from '../logger.js';
import type { RawSender } from '../transport.js';
import type { TopicAdmin } from './topic-admin.js';

/** The record as it was consumed, to be written unchanged to the dead-letter topic. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeaders;
}

export interface DeadLetterInput {
  record: ConsumedRecord;
  error: unknown;
  attempts: number;
  groupId: string;
}

export interface DeadLetterOptions {
  topicExt: string;
  stackTraceMaxBytes: number;
}

/** Header values above this size are replaced by a marker in the copy written when a record does not fit. */
const HEADER_KEPT_BYTES = 1024;

/** Writes a failed record somewhere it is kept; resolves with the dead-letter topic's name. */
export interface DeadLetterWriter {
  write(input: DeadLetterInput): Promise<string>;
}

/** The code a failure is reported with: its own catalogue code, or ERR10010 for an error a handler threw. */
export function errorCodeOf(error: unknown): string {
  return failureStatusOf(error).code;
}

/**
 * Writes a record that could not be processed to `<topic><topicExt>`: the original key, value and headers
 * (repeated ones included), plus headers telling where it came from and why it failed.
 */
export class KafkaDeadLetterWriter implements DeadLetterWriter {
  /** Dead-letter topics made sure of (created with their source's limits unless they existed). */
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly sender: RawSender,
    private readonly options: DeadLetterOptions,
    private readonly admin?: TopicAdmin,
    private readonly logger?: Logger,
  ) {}

  async write(input: DeadLetterInput): Promise<string> {
    const { record } = input;
    const deadLetterTopic = record.topic + this.options.topicExt;
    await this.ensure(deadLetterTopic, record.topic);
    const headers = deadLetterHeaders(input, this.options);
    try {
      await this.sender.send(deadLetterTopic, [{ key: record.key, value: record.value, headers }]);
    } catch (error) {
      if (!isTooLarge(error)) throw writeFailed(record, deadLetterTopic, error);
      // The dead-letter topic cannot take the record: a copy that fits keeps the partition going, and points at
      // the original, which its topic still holds.
      try {
        await this.sender.send(deadLetterTopic, [fittingCopy(record, headers, deadLetterTopic)]);
      } catch (copyError) {
        throw writeFailed(record, deadLetterTopic, copyError);
      }
      this.logger?.warn('record too large for its dead-letter topic: wrote a copy without its value', { deadLetterTopic, record: `${record.topic}-${record.partition}@${record.offset}`, bytes: record.value?.length ?? 0 });
    }
    return deadLetterTopic;
  }

  /** Creates the dead-letter topic like its source on first use; a failure is logged and the write goes on. */
  private async ensure(deadLetterTopic: string, source: string): Promise<void> {
    if (!this.admin) return;
    let ensured = this.ensured.get(deadLetterTopic);
    if (!ensured) {
      ensured = this.admin.ensureTopicLike(deadLetterTopic, source).catch((error: unknown) => {
        this.ensured.delete(deadLetterTopic);
        this.logger?.warn('dead-letter topic could not be made like its source; writing anyway', { deadLetterTopic, source, error: reasonOf(error) });
      });
      this.ensured.set(deadLetterTopic, ensured);
    }
    await ensured;
  }
}

function writeFailed(record: ConsumedRecord, deadLetterTopic: string, error: unknown): LightError {
  return new LightError('ERR12002', { topic: record.topic, partition: record.partition, offset: record.offset, deadLetterTopic, reason: reasonOf(error) }, { cause: error });
}

/** A broker's or client's "record too large" (kafkajs MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE, librdkafka's size errors). */
function isTooLarge(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const { type, message, code } = current as { type?: string; message?: string; code?: number };
    if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE' || code === 10 || code === -186) return true;
    if (typeof message === 'string' && /too large|MSG_SIZE_TOO_LARGE/i.test(message)) return true;
  }
  return false;
}

/** The record without its value and with large header values replaced by markers; the x-dlq-* headers say where the original is. */
function fittingCopy(record: ConsumedRecord, headers: RecordHeaders, deadLetterTopic: string): { key: Buffer | null; value: Buffer; headers: RecordHeaders } {
  const where = `${record.topic}-${record.partition}@${record.offset}`;
  const copy = new RecordHeaders();
  for (const [name, value] of headers) copy.add(name, value.length > HEADER_KEPT_BYTES ? `(${value.length} bytes omitted: see ${where})` : value);
  copy.set(H.truncated, 'true');
  const key = record.key && record.key.length > HEADER_KEPT_BYTES ? Buffer.from(`(${record.key.length} bytes omitted)`) : record.key;
  return { key, value: Buffer.from(`light-kafka: the value (${record.value?.length ?? 0} bytes) does not fit in ${deadLetterTopic}; the original record is ${where}`), headers: copy };
}

/** The original headers plus the x-dlq-* headers that say where the record came from and why it failed. */
export function deadLetterHeaders(input: DeadLetterInput, options: DeadLetterOptions): RecordHeaders {
  const { record, error } = input;
  const headers = record.headers.clone();
  const stack = error instanceof Error && error.stack ? error.stack : '';
  headers
    .set(H.originalTopic, record.topic)
    .set(H.originalPartition, String(record.partition))
    .set(H.originalOffset, record.offset)
    .set(H.originalTimestamp, record.timestamp)
    .set(H.consumerGroup, input.groupId)
    .set(H.errorCode, errorCodeOf(error))
    .set(H.errorMessage, reasonOf(error))
    .set(H.errorStack, truncateUtf8(stack, options.stackTraceMaxBytes))
    .set(H.attempts, String(input.attempts))
    .set(H.failedAt, new Date().toISOString());
  const args = error instanceof LightError ? error.args : {};
  if (typeof args.instancePath === 'string') headers.set(H.errorPath, args.instancePath);
  if (typeof args.keyword === 'string') headers.set(H.errorKeyword, args.keyword);
  return headers;
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary: drop a trailing partial sequence.
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}
