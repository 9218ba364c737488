import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchScope } from '../chain/chain.js';
import type { ConsumeRoute } from '../chain/consume-chains.js';
import { LightError, reasonOf } from '../errors/light-error.js';
import { Exchange } from '../exchange.js';
import { RecordHeaders } from '../headers.js';
import type { Logger } from '../logger.js';
import { RecordContext, runWithContext } from '../request-context.js';
import { errorCodeOf, type ConsumedRecord, type DeadLetterWriter } from './dead-letter.js';
import type { DriverMessage } from './driver.js';

/** What happened to one record: processed (or dead-lettered) so its offset may be committed, or not. */
export type RecordOutcome =
  | { kind: 'processed'; attempts: number }
  | { kind: 'deadLettered'; attempts: number; deadLetterTopic: string; error: unknown }
  | { kind: 'stopped'; attempts: number; error: unknown }
  | { kind: 'interrupted' };

/** The outcome of a record that went through on its first attempt (shared: outcomes are never changed). */
export const PROCESSED_FIRST_TIME: RecordOutcome = Object.freeze({ kind: 'processed', attempts: 1 });

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
 * Runs consumed records through their chain under the consumer's failure policy: retry a retryable failure
 * with backoff, then write it to the dead-letter topic (or stop its partition with failurePolicy: stop).
 * Security and validation failures (non-retryable codes) skip the retries. Each attempt gets a fresh exchange;
 * a retried record runs as a batch of its own.
 */
export class RecordProcessor {
  constructor(private readonly parts: RecordProcessorParts) {}

  /** The exchange of one attempt at a consumed record (its headers a copy, so the original stays for a dead letter). */
  exchangeOf(topic: string, partition: number, message: DriverMessage, highWatermark?: string): Exchange {
    return this.newExchange(topic, partition, message, RecordHeaders.fromKafka(message.headers), highWatermark);
  }

  private newExchange(topic: string, partition: number, record: Omit<DriverMessage, 'headers'>, headers: RecordHeaders, highWatermark: string | undefined): Exchange {
    const exchange = new Exchange({
      direction: 'consume',
      topic,
      partition,
      offset: record.offset,
      timestamp: record.timestamp,
      key: record.key ?? null,
      rawValue: record.value,
      headers,
      highWatermark,
      consumerGroup: this.parts.groupId,
    });
    exchange.context = new RecordContext(headers, this.parts.propagatedHeaders);
    return exchange;
  }

  /** Runs one attempt inside the record's request context. Returns a promise only when some part was async. */
  runAttempt(exchange: Exchange, route: ConsumeRoute, scope: BatchScope): void | Promise<void> {
    return runWithContext(exchange.context!, () => route.chain.run(exchange, route.terminal, scope));
  }

  /** A record from its first attempt on, as a batch of its own. */
  process(record: ConsumedRecord, route: ConsumeRoute, control: ProcessingControl, highWatermark?: string): Promise<RecordOutcome> {
    return this.attempt(record, route, control, highWatermark, 1);
  }

  /** A record whose first attempt (in its batch) failed with `error`: retried alone per the policy. */
  async recover(record: ConsumedRecord, error: unknown, route: ConsumeRoute, control: ProcessingControl, highWatermark?: string): Promise<RecordOutcome> {
    const next = await this.afterFailure(record, error, 1, control);
    return next === 'retry' ? this.attempt(record, route, control, highWatermark, 2) : next;
  }

  private async attempt(record: ConsumedRecord, route: ConsumeRoute, control: ProcessingControl, highWatermark: string | undefined, first: number): Promise<RecordOutcome> {
    for (let attempts = first; ; attempts++) {
      const exchange = this.toExchange(record, highWatermark);
      const batch = [exchange];
      let scope: BatchScope | undefined;
      let failure: { error: unknown } | undefined;
      try {
        scope = await route.chain.beginBatch(batch);
        await this.runAttempt(exchange, route, scope);
      } catch (error) {
        failure = { error };
      }
      // The batch of one ends (audit lines written) before any backoff or dead letter.
      if (scope) await this.endBatch(route, batch, scope);
      if (!failure) return attempts === 1 ? PROCESSED_FIRST_TIME : { kind: 'processed', attempts };
      const next = await this.afterFailure(record, failure.error, attempts, control);
      if (next !== 'retry') return next;
    }
  }

  /** Runs the chain's endBatch; a failure there is logged, the records stay done. */
  async endBatch(route: ConsumeRoute, exchanges: readonly Exchange[], scope: BatchScope): Promise<void> {
    try {
      await route.chain.endBatch(exchanges, scope);
    } catch (error) {
      this.parts.logger.error('a handler failed at the end of a batch', { topic: exchanges[0]?.topic, records: exchanges.length, error: reasonOf(error) });
    }
  }

  /** After a failed attempt: 'retry' (after the backoff), or the final outcome. */
  private async afterFailure(record: ConsumedRecord, error: unknown, attempts: number, control: ProcessingControl): Promise<RecordOutcome | 'retry'> {
    const { policy, logger } = this.parts;
    const retryable = !(error instanceof LightError) || error.retryable;
    if (!retryable || attempts > policy.maxRetries) return this.giveUp(record, error, attempts);
    if (!control.isRunning()) return { kind: 'interrupted' };
    logger.warn('record failed, retrying', { record: nameOf(record), attempt: attempts, code: errorCodeOf(error), error: reasonOf(error) });
    await this.backoff(attempts, control);
    return control.isRunning() ? 'retry' : { kind: 'interrupted' };
  }

  private async giveUp(record: ConsumedRecord, error: unknown, attempts: number): Promise<RecordOutcome> {
    const { policy, logger } = this.parts;
    const name = nameOf(record);
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
    return this.newExchange(record.topic, record.partition, record, record.headers.clone(), highWatermark);
  }
}

/** The record as consumed (headers read afresh from the client's message), for retries and dead letters. */
export function consumedRecord(topic: string, partition: number, message: DriverMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key ?? null,
    value: message.value,
    headers: RecordHeaders.fromKafka(message.headers),
  };
}

function nameOf(record: ConsumedRecord): string {
  return `${record.topic}-${record.partition}@${record.offset}`;
}
