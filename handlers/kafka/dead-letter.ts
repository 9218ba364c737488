import type { KafkaMessage, Producer } from 'kafkajs';
import { failureStatusOf, LightError, reasonOf } from '../../core/errors/light-error.js';
import { DeadLetterHeaderNames as H, RecordHeaders } from '../../core/headers.js';

export interface DeadLetterInput {
  topic: string;
  partition: number;
  message: KafkaMessage;
  error: unknown;
  attempts: number;
  groupId: string;
}

export interface DeadLetterOptions {
  topicExt: string;
  stackTraceMaxBytes: number;
}

/** The code a failure is reported with: its own catalogue code, or ERR10010 for an error a handler threw. */
export function errorCodeOf(error: unknown): string {
  return failureStatusOf(error).code;
}

/**
 * Writes a record that could not be processed to `<topic><topicExt>`: the original key, value and headers
 * (repeated ones included), plus headers telling where it came from and why it failed.
 */
export async function writeDeadLetter(producer: Producer, input: DeadLetterInput, options: DeadLetterOptions): Promise<string> {
  const deadLetterTopic = input.topic + options.topicExt;
  const headers = RecordHeaders.from(input.message.headers);
  const stack = input.error instanceof Error && input.error.stack ? input.error.stack : '';
  headers
    .set(H.originalTopic, input.topic)
    .set(H.originalPartition, String(input.partition))
    .set(H.originalOffset, input.message.offset)
    .set(H.originalTimestamp, input.message.timestamp)
    .set(H.consumerGroup, input.groupId)
    .set(H.errorCode, errorCodeOf(input.error))
    .set(H.errorMessage, reasonOf(input.error))
    .set(H.errorStack, truncateUtf8(stack, options.stackTraceMaxBytes))
    .set(H.attempts, String(input.attempts))
    .set(H.failedAt, new Date().toISOString());
  const args = input.error instanceof LightError ? input.error.args : {};
  if (typeof args.instancePath === 'string') headers.set(H.errorPath, args.instancePath);
  if (typeof args.keyword === 'string') headers.set(H.errorKeyword, args.keyword);

  try {
    await producer.send({
      topic: deadLetterTopic,
      acks: -1,
      messages: [{ key: input.message.key, value: input.message.value, headers: headers.toKafka() }],
    });
  } catch (error) {
    throw new LightError(
      'ERR12002',
      { topic: input.topic, partition: input.partition, offset: input.message.offset, deadLetterTopic, reason: reasonOf(error) },
      { cause: error },
    );
  }
  return deadLetterTopic;
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary: drop a trailing partial sequence.
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
}
