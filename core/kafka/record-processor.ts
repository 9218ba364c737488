import { setTimeout as sleep } from 'node:timers/promises';
import { Attachment } from '../attachments.js';
import type { Handler } from '../chain/handler.js';
import { LightError, reasonOf } from '../errors/light-error.js';
import { Exchange } from '../exchange.js';
import type { Logger } from '../logger.js';
import { contextFromRecord, runWithContext } from '../request-context.js';
import { errorCodeOf, type ConsumedRecord, type DeadLetterWriter } from './dead-letter.js';

/** What happened to one record: processed (or dead-lettered) so its offset may be committed, or not. */
export type RecordOutcome =
  | { kind: 'processed'; attempts: number }
  | { kind: 'deadLettered'; attempts: number; deadLetterTopic: string; error: unknown }
  | { kind: 'stopped'; attempts: number; error: unknown }
  | { kind: 'interrupted' };

/** The failure policy of kafka-consumer.yml. */
export interface FailurePolicy {
  failurePolicy: 'deadLetter' | 'stop';
  deadLetterEnabled: boolean;
  maxRetries: number;
  retryDelayMs: number;
  retryBackoffMultiplier: number;
  maxRetryDelayMs: number;
}

/** How the consumer loop lets the processor know it is still wanted, and keeps the group session alive. */
export interface ProcessingControl {
  isRunning(): boolean;
  heartbeat(): Promise<void>;
}

export interface RecordProcessorParts {
  policy: FailurePolicy;
  deadLetters: DeadLetterWriter;
  groupId: string;
  /** The headers a record's request context takes (the service's propagated headers). */
  propagatedHeaders: readonly string[];
  logger: Logger;
  /** Waits between attempts; default a timer (tests pass their own to see the backoff). */
  sleep?: (ms: number) => Promise<unknown>;
}

/**
 * Runs one consumed record through its chain under the consumer's failure policy: retry a retryable failure
 * with backoff, then write it to the dead-letter topic (or stop its partition with failurePolicy: stop).
 * Security and validation failures (non-retryable codes) skip the retries. Each attempt gets a fresh exchange.
 */
export class RecordProcessor {
  constructor(private readonly parts: RecordProcessorParts) {}

  async process(record: ConsumedRecord, chain: Handler, control: ProcessingControl, highWatermark?: string): Promise<RecordOutcome> {
    const { policy, logger } = this.parts;
    let attempts = 0;
    for (;;) {
      attempts += 1;
      const exchange = this.toExchange(record, highWatermark);
      try {
        await runWithContext(contextFromRecord(exchange.headers, this.parts.propagatedHeaders), () => chain(exchange, endOfChain));
        return { kind: 'processed', attempts };
      } catch (error) {
        const retryable = !(error instanceof LightError) || error.retryable;
        if (retryable && attempts <= policy.maxRetries) {
          if (!control.isRunning()) return { kind: 'interrupted' };
          logger.warn('record failed, retrying', { record: exchange.describe(), attempt: attempts, code: errorCodeOf(error), error: reasonOf(error) });
          await this.backoff(attempts, control);
          if (!control.isRunning()) return { kind: 'interrupted' };
          continue;
        }
        return this.giveUp(record, error, attempts);
      }
    }
  }

  private async giveUp(record: ConsumedRecord, error: unknown, attempts: number): Promise<RecordOutcome> {
    const { policy, logger } = this.parts;
    const name = `${record.topic}-${record.partition}@${record.offset}`;
    if (policy.failurePolicy === 'stop' || !policy.deadLetterEnabled) {
      logger.error('record failed, stopping its partition', { record: name, code: errorCodeOf(error), error });
      return { kind: 'stopped', attempts, error };
    }
    // If this write fails, the error propagates: the offset stays uncommitted and the record comes again.
    const deadLetterTopic = await this.parts.deadLetters.write({ record, error, attempts, groupId: this.parts.groupId });
    logger.warn('record sent to the dead-letter topic', { record: name, deadLetterTopic, code: errorCodeOf(error), error: reasonOf(error), attempts });
    return { kind: 'deadLettered', attempts, deadLetterTopic, error };
  }

  /** Waits retryDelayMs * multiplier^(attempt-1), capped, in slices so the group heartbeat and a stop are not held up. */
  private async backoff(attempt: number, control: ProcessingControl): Promise<void> {
    const { retryDelayMs, retryBackoffMultiplier, maxRetryDelayMs } = this.parts.policy;
    let remaining = Math.min(retryDelayMs * retryBackoffMultiplier ** (attempt - 1), maxRetryDelayMs);
    while (remaining > 0 && control.isRunning()) {
      const slice = Math.min(remaining, 1000);
      await (this.parts.sleep ?? sleep)(slice);
      remaining -= slice;
      await control.heartbeat();
    }
  }

  private toExchange(record: ConsumedRecord, highWatermark: string | undefined): Exchange {
    const exchange = new Exchange({
      direction: 'consume',
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      key: record.key,
      rawValue: record.value,
      headers: record.headers.clone(),
      ...(highWatermark !== undefined ? { highWatermark } : {}),
    });
    exchange.attachments.set(Attachment.consumerGroup, this.parts.groupId);
    return exchange;
  }
}

async function endOfChain(): Promise<void> {}
