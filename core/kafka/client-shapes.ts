import type { IHeaders } from 'kafkajs';
import type { TransportMessage } from '../transport.js';
import type { DriverBatch } from './driver.js';

/**
 * Shapes kafkajs and @confluentinc/kafka-javascript's KafkaJS-compatible API share: both drivers convert through
 * these, so the two transports write and hand over records identically.
 */

/** A record as both clients' sendBatch takes it. */
export interface ClientMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  partition?: number;
  timestamp?: string;
}

/** A send call's batches as both clients' sendBatch takes them. */
export function toTopicMessages(batches: { topic: string; messages: TransportMessage[] }[]): { topic: string; messages: ClientMessage[] }[] {
  return batches.map(({ topic, messages }) => ({
    topic,
    messages: messages.map((message) => ({
      key: message.key,
      value: message.value,
      headers: message.headers.toKafka(),
      ...(message.partition !== undefined ? { partition: message.partition } : {}),
      ...(message.timestamp !== undefined ? { timestamp: message.timestamp } : {}),
    })),
  }));
}

/** The eachBatch payload both clients pass (the parts LightConsumer uses). */
export interface ClientBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: unknown[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  pause(): unknown;
}

export function toDriverBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale, pause }: ClientBatchPayload): DriverBatch {
  return {
    topic: batch.topic,
    partition: batch.partition,
    highWatermark: batch.highWatermark,
    messages: batch.messages as DriverBatch['messages'],
    resolveOffset,
    heartbeat,
    commitOffsetsIfNecessary: () => commitOffsetsIfNecessary(),
    isRunning,
    isStale,
    handBack: () => false,
    pause: () => void pause(),
  };
}
