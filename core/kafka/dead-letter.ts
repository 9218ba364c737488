import { failureStatusOf, LightError, reasonOf } from '../errors/light-error.js';
import { DeadLetterHeaderNames as H, RecordHeaders } from '../headers.js';
import type { RawSender } from '../transport.js';

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
  constructor(
    private readonly sender: RawSender,
    private readonly options: DeadLetterOptions,
  ) {}

  async write(input: DeadLetterInput): Promise<string> {
    const { record } = input;
    const deadLetterTopic = record.topic + this.options.topicExt;
    try {
      await this.sender.send(deadLetterTopic, [{ key: record.key, value: record.value, headers: deadLetterHeaders(input, this.options) }]);
    } catch (error) {
      throw new LightError(
        'ERR12002',
        { topic: record.topic, partition: record.partition, offset: record.offset, deadLetterTopic, reason: reasonOf(error) },
        { cause: error },
      );
    }
    return deadLetterTopic;
  }
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
